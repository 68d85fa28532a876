//! The thumbnail guest's decoders: JPEG (libjpeg-turbo, with jpeg-decoder for what it cannot
//! read), PNG, GIF and WebP. Each is given a memory budget derived from [`Limits::max_pixels`]
//! and checks its own header against the probe's before any pixel buffer is allocated (see
//! [`crate::decode`]). Errors carry the decoder's own message. Decoders that hit their memory
//! budget report `Malformed`: the probe has already accepted the claimed size, so a decoder
//! needing more than that size warrants means the file's contents contradict its header.
//!
//! Only pixels are read. Metadata chunks the decoders can skip (PNG text and iCCP) are
//! skipped, so they cost neither time nor memory.

use std::io::Cursor;
use std::num::NonZeroU64;

use media_probe::{JpegProcess, Limits, MediaError};

use crate::guard::{budget, check_size};
use crate::jpeg::scaled;
use crate::raster::{cmyk_to_rgb, gray_to_rgb, Layout, Raster};

/// Widest pixel any decoder writes into a buffer we size: RGBA, and CMYK for JPEG.
const MAX_DECODED_BYTES_PER_PIXEL: u64 = 4;

/// Widest PNG pixel (16-bit RGBA). The png crate's budget covers its own row and chunk
/// buffers, never more than one copy of the image at its widest representation.
const PNG_MAX_BYTES_PER_PIXEL: u64 = 8;

/// JPEG DCT scaling factors jpeg-decoder offers, as eighths of the full size: 1/8, 2/8, 4/8.
/// 8/8 (full size) is the fallback. (libjpeg-turbo, the main JPEG decoder, offers every
/// eighth.)
const JPEG_DECODER_SCALES_EIGHTHS: [u32; 3] = [1, 2, 4];

pub(crate) fn decode_jpeg(
    data: &[u8],
    process: Option<JpegProcess>,
    source: (u32, u32),
    needed: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    let process =
        process.ok_or_else(|| MediaError::malformed("jpeg: probe found no frame header"))?;
    // Arithmetic coding is refused as before (jpeg-decoder never read it): libjpeg-turbo can
    // decode it, but fills a truncated arithmetic scan with zeros without a warning, so a cut
    // file would render instead of failing (see `jpeg`). Such files are rare outside archives.
    if process.arithmetic {
        return Err(MediaError::unsupported(
            "jpeg: arithmetic entropy coding is not supported",
        ));
    }
    // libjpeg-turbo (built for 8-bit samples) reads every baseline, extended and progressive
    // 8-bit Huffman-coded JPEG: nearly every photo. What it cannot read (12-bit samples,
    // lossless, hierarchical) goes to jpeg-decoder, which decodes lossless and names what it
    // does not support (12-bit DCT, hierarchical). The choice is made from the frame header
    // before libjpeg sees the file: in the guest, a libjpeg error ends the instance, so there
    // is no retrying with the other decoder afterwards.
    if process.precision == 8 && !process.lossless && !process.hierarchical {
        crate::jpeg::decode(data, source, needed, limits)
    } else {
        decode_jpeg_fallback(data, source, needed, limits)
    }
}

/// jpeg-decoder for what libjpeg-turbo cannot read; see [`decode_jpeg`].
fn decode_jpeg_fallback(
    data: &[u8],
    source: (u32, u32),
    needed: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    use jpeg_decoder::{CodingProcess, Decoder, PixelFormat};

    let mut decoder = Decoder::new(data);
    decoder.set_max_decoding_buffer_size(budget(limits, MAX_DECODED_BYTES_PER_PIXEL));
    decoder.read_info().map_err(jpeg_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| MediaError::malformed("jpeg: no frame header"))?;
    let full = (u32::from(info.width), u32::from(info.height));
    check_size("jpeg", full, source)?;

    // Lossless JPEG has no DCT to scale; its decoder ignores the request.
    if info.coding_process != CodingProcess::Lossless {
        let eighths = JPEG_DECODER_SCALES_EIGHTHS
            .into_iter()
            .find(|&s| scaled(full.0, s) >= needed.0 && scaled(full.1, s) >= needed.1);
        if let Some(eighths) = eighths {
            let request = (scaled(full.0, eighths), scaled(full.1, eighths));
            let got = decoder
                .scale(to_u16(request.0), to_u16(request.1))
                .map_err(jpeg_error)?;
            // jpeg-decoder settles on the first scale at which *either* side reaches the
            // request; for tiny or extreme aspect ratios that can leave the other side short.
            // A full decode is then the correct, if slower, answer.
            if u32::from(got.0) < needed.0 || u32::from(got.1) < needed.1 {
                decoder.scale(u16::MAX, u16::MAX).map_err(jpeg_error)?;
            }
        }
    }

    let pixels = decoder.decode().map_err(jpeg_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| MediaError::malformed("jpeg: no frame header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let (layout, data) = match info.pixel_format {
        PixelFormat::RGB24 => (Layout::Rgb, pixels),
        PixelFormat::L8 => (Layout::Rgb, gray_to_rgb(&pixels)),
        PixelFormat::L16 => {
            // jpeg-decoder writes 16-bit samples in native byte order; the high byte is the
            // 8-bit value.
            let gray: Vec<u8> = pixels
                .chunks_exact(2)
                .map(|s| (u16::from_ne_bytes([s[0], s[1]]) >> 8) as u8)
                .collect();
            (Layout::Rgb, gray_to_rgb(&gray))
        }
        // jpeg-decoder hands CMYK back as ink amounts: it undoes Adobe's inversion itself.
        PixelFormat::CMYK32 => (Layout::Rgb, cmyk_to_rgb(&pixels)),
    };
    Raster::new(width, height, layout, data)
}

fn to_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn jpeg_error(e: jpeg_decoder::Error) -> MediaError {
    match e {
        jpeg_decoder::Error::Unsupported(feature) => {
            MediaError::unsupported(format!("jpeg: unsupported feature {feature:?}"))
        }
        other => MediaError::malformed(format!("jpeg: {other}")),
    }
}

pub(crate) fn decode_png(
    data: &[u8],
    source: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    use png::{ColorType, Transformations};

    let png_limits = png::Limits {
        bytes: budget(limits, PNG_MAX_BYTES_PER_PIXEL),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(data), png_limits);
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    // 16-bit to 8, palette and low-bit grey expanded, tRNS turned into an alpha channel.
    decoder.set_transformations(Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(png_error)?;
    let header = reader.info();
    check_size("png", (header.width, header.height), source)?;

    let size = reader
        .output_buffer_size()
        .ok_or_else(|| MediaError::malformed("png: image too large for memory"))?;
    let mut buf = vec![0; size];
    // The first frame is the IDAT image (for APNG, its default image); nothing after it is read.
    let frame = reader.next_frame(&mut buf).map_err(png_error)?;
    buf.truncate(frame.buffer_size());
    let (layout, data) = match frame.color_type {
        ColorType::Rgb => (Layout::Rgb, buf),
        ColorType::Rgba => (Layout::Rgba, buf),
        ColorType::Grayscale => (Layout::Rgb, gray_to_rgb(&buf)),
        ColorType::GrayscaleAlpha => (
            Layout::Rgba,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        ColorType::Indexed => {
            return Err(MediaError::malformed("png: palette image was not expanded"))
        }
    };
    Raster::new(frame.width, frame.height, layout, data)
}

fn png_error(e: png::DecodingError) -> MediaError {
    match e {
        png::DecodingError::LimitsExceeded => MediaError::malformed(
            "png: decoder needed more memory than the declared image size allows",
        ),
        other => MediaError::malformed(format!("png: {other}")),
    }
}

pub(crate) fn decode_gif(
    data: &[u8],
    source: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let memory = NonZeroU64::new(
        limits
            .max_pixels
            .saturating_mul(MAX_DECODED_BYTES_PER_PIXEL),
    )
    .unwrap_or(NonZeroU64::MIN);
    options.set_memory_limit(gif::MemoryLimit::Bytes(memory));
    let mut decoder = options.read_info(data).map_err(gif_error)?;
    let screen = (u32::from(decoder.width()), u32::from(decoder.height()));
    check_size("gif", screen, source)?;

    let mut canvas = vec![0u8; crate::raster::byte_len(screen.0, screen.1, Layout::Rgba)?];
    // Only the first frame is ever decoded: it is what a still preview shows, and it bounds
    // the work of a thousand-frame animation to one frame.
    let frame = decoder
        .read_next_frame()
        .map_err(gif_error)?
        .ok_or_else(|| MediaError::malformed("gif: no image frame"))?;

    // Composite onto a transparent logical screen. Frames may hang off the screen's edge (the
    // format allows any position); the overhang is clipped.
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
    let (sw, sh) = (screen.0 as usize, screen.1 as usize);
    let copy_w = sw.saturating_sub(left).min(fw);
    let short = || MediaError::malformed("gif: frame data shorter than its size");
    let rows = if copy_w == 0 {
        0
    } else {
        fh.min(sh.saturating_sub(top))
    };
    for row in 0..rows {
        // Checked: the frame's claimed size is only trustworthy once its buffer is in hand.
        let src_start = row
            .checked_mul(fw)
            .and_then(|p| p.checked_mul(4))
            .ok_or_else(short)?;
        let dst_start = ((top + row) * sw + left) * 4; // inside the canvas, sized by byte_len
        let len = copy_w * 4;
        let (Some(src), Some(dst)) = (
            frame.buffer.get(src_start..src_start.saturating_add(len)),
            canvas.get_mut(dst_start..dst_start + len),
        ) else {
            return Err(short());
        };
        dst.copy_from_slice(src);
    }
    Raster::new(screen.0, screen.1, Layout::Rgba, canvas)
}

fn gif_error(e: gif::DecodingError) -> MediaError {
    MediaError::malformed(format!("gif: {e}"))
}

pub(crate) fn decode_webp(
    data: &[u8],
    source: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(data)).map_err(webp_error)?;
    decoder.set_memory_limit(budget(limits, MAX_DECODED_BYTES_PER_PIXEL));
    check_size("webp", decoder.dimensions(), source)?;
    let (width, height) = decoder.dimensions();
    let layout = if decoder.has_alpha() {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| MediaError::malformed("webp: image too large for memory"))?;
    let mut buf = vec![0; size];
    // For animations this is the first frame composited on the canvas.
    decoder.read_image(&mut buf).map_err(webp_error)?;
    Raster::new(width, height, layout, buf)
}

fn webp_error(e: image_webp::DecodingError) -> MediaError {
    match e {
        image_webp::DecodingError::UnsupportedFeature(feature) => {
            MediaError::unsupported(format!("webp: {feature}"))
        }
        image_webp::DecodingError::MemoryLimitExceeded => MediaError::malformed(
            "webp: decoder needed more memory than the declared image size allows",
        ),
        other => MediaError::malformed(format!("webp: {other}")),
    }
}
