//! AVIF decoding: heifer's HEIF container reader for the item structure (AVIF is HEIF with AV1
//! pictures), rav1d (the Rust port of dav1d, BSD-2-Clause, built without assembly) for each
//! AV1 picture, and heifer's YCbCr conversion and image transforms for the rest, so AVIF and
//! HEIC files go through the same conversion, grid assembly, `clap`, `irot` and `imir` code.
//!
//! What is decoded: the primary item, a single `av01` picture or a `grid` of them, 8, 10 or
//! 12 bits, 4:0:0 to 4:4:4, with an alpha plane (an auxiliary `av01` item or grid). Colours:
//! `nclx` Display P3 and BT.2020 primaries with an SDR transfer are converted to sRGB; an ICC
//! profile, or an HDR transfer (PQ, HLG), is not: those samples are read as sRGB (README
//! "HEIC and AVIF").
//!
//! Limits: the probe has checked every coded picture's `ispe` and the grid's inputs; rav1d
//! refuses a frame larger than its item's `ispe` with its padding (`frame_size_limit`), and
//! derived images nest at most one deep.
//! rav1d runs single-threaded (one task thread, one frame in flight): a guest has one thread,
//! and natively the benchmark compares like with like.

use std::ffi::c_int;
use std::ptr::NonNull;

use heifer::color::{frame_to_rgba_sized, ColorParams};
use heifer::heifer_hevc_dec::recon::Frame;
use heifer::heifer_isobmff::boxes::{ColorInfo, Property};
use heifer::heifer_isobmff::{HeifFile, ItemId};
use heifer::Image;
use media_probe::{Limits, MediaError, HEIF_ALPHA_URNS};
use rav1d::include::dav1d::data::Dav1dData;
use rav1d::include::dav1d::dav1d::{Dav1dContext, Dav1dSettings};
use rav1d::include::dav1d::picture::Dav1dPicture;
use rav1d::src::lib as dav1d;

use crate::guard::{check_size, padded};
use crate::raster::{Layout, Raster};

pub(crate) fn decode(
    data: &[u8],
    source: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    let file = HeifFile::parse(data).map_err(container)?;
    let primary = file.primary_id;
    let mut image = decode_item(&file, primary, limits)?;
    let alpha = file
        .referencing_items(primary, b"auxl")
        .into_iter()
        .find(|&aux| is_alpha(&file, aux));
    if let Some(aux) = alpha {
        let plane = decode_item(&file, aux, limits)?;
        attach_alpha(&mut image, &plane)?;
    }
    if let Some((primaries, transfer)) = primaries_of(&file, primary) {
        to_srgb(&mut image, primaries, transfer);
    }
    let image = transform(&file, primary, image)?;
    check_size("avif", (image.width, image.height), source)?;
    Raster::new(image.width, image.height, Layout::Rgba, image.data)
}

/// An item's pixels before its transforms: one AV1 picture, or a grid of them.
fn decode_item(file: &HeifFile<'_>, id: ItemId, limits: &Limits) -> Result<Image<u8>, MediaError> {
    let item = file.item(id).map_err(container)?;
    match &item.item_type.0 {
        b"av01" => decode_av01(file, id, limits),
        // A grid's tiles are AV1 pictures (the probe checked): no deeper nesting.
        b"grid" => decode_grid(file, id, limits),
        other => Err(MediaError::unsupported(format!(
            "avif: image item of type {}",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn decode_grid(file: &HeifFile<'_>, id: ItemId, limits: &Limits) -> Result<Image<u8>, MediaError> {
    let grid = file.grid(id).map_err(container)?;
    let tiles = file.referenced_items(id, b"dimg");
    let columns = u32::from(grid.columns);
    if columns == 0 || tiles.len() != usize::from(grid.rows) * usize::from(grid.columns) {
        return Err(MediaError::malformed(
            "avif: grid tile count does not match its rows and columns",
        ));
    }
    // The canvas is the size the grid's `ispe` declares (what the probe checked), or nothing
    // is allocated.
    let declared = file.image_size(id).map_err(container)?;
    if declared != Some((grid.output_width, grid.output_height)) {
        return Err(MediaError::malformed(format!(
            "avif: the grid's data says {}x{}, its ispe {declared:?}",
            grid.output_width, grid.output_height
        )));
    }
    // Opaque: `draw` blends each tile by its own alpha and leaves the canvas's in place.
    let mut canvas =
        Image::filled_samples(grid.output_width, grid.output_height, 8, [0, 0, 0, 255]);
    let mut tile_size = None;
    for (i, &tile) in tiles.iter().enumerate() {
        if tile == id {
            return Err(MediaError::malformed("avif: a grid lists itself as a tile"));
        }
        let image = decode_av01(file, tile, limits)?;
        // Every tile has the first one's size (ISO/IEC 23008-12), which places them all.
        let (tw, th) = *tile_size.get_or_insert((image.width, image.height));
        if (image.width, image.height) != (tw, th) {
            return Err(MediaError::malformed("avif: grid tiles differ in size"));
        }
        let i = i as u32;
        let x = i64::from(i % columns) * i64::from(tw);
        let y = i64::from(i / columns) * i64::from(th);
        canvas.draw(&image, x, y);
    }
    Ok(canvas)
}

/// Decodes the AV1 picture of an `av01` item, converted to RGBA with the colour description of
/// its `colr` (`nclx`) property, else of its sequence header.
fn decode_av01(file: &HeifFile<'_>, id: ItemId, limits: &Limits) -> Result<Image<u8>, MediaError> {
    // `ispe` is the picture's size (the probe checked it); the coded frame may be larger by
    // its padding, and no more: a frame claiming more is refused by rav1d before it decodes.
    let (width, height) = file
        .image_size(id)
        .map_err(container)?
        .ok_or_else(|| MediaError::malformed(format!("avif: picture {id} has no ispe")))?;
    let frame_limit = padded(width, height).min(limits.max_pixels);
    let payload = file.item_data(id).map_err(container)?;
    let (frame, stream) = Decoder::open(frame_limit)?.picture(&payload)?;
    let params = file
        .item_properties(id)
        .map_err(container)?
        .find_map(|p| match p {
            Property::Color(ColorInfo::Nclx {
                matrix, full_range, ..
            }) => Some(ColorParams {
                matrix: *matrix,
                full_range: *full_range,
            }),
            _ => None,
        })
        .unwrap_or(stream);
    if width > frame.widths[0] || height > frame.heights[0] {
        return Err(MediaError::malformed(format!(
            "avif: ispe says {width}x{height}, the AV1 frame is {}x{}",
            frame.widths[0], frame.heights[0]
        )));
    }
    Ok(frame_to_rgba_sized(&frame, params, width, height))
}

/// The `nclx` primaries and transfer of an item, or of a grid's first tile.
fn primaries_of(file: &HeifFile<'_>, id: ItemId) -> Option<(u16, u16)> {
    let nclx = |item: ItemId| {
        file.item_properties(item).ok()?.find_map(|p| match p {
            Property::Color(ColorInfo::Nclx {
                primaries,
                transfer,
                ..
            }) => Some((*primaries, *transfer)),
            _ => None,
        })
    };
    nclx(id).or_else(|| nclx(*file.referenced_items(id, b"dimg").first()?))
}

/// Linear-light Display P3 (D65) to linear sRGB, rows of the 3×3 matrix.
const P3_TO_SRGB: [[f32; 3]; 3] = [
    [1.224_94, -0.224_94, 0.0],
    [-0.042_057, 1.042_057, 0.0],
    [-0.019_638, -0.078_636, 1.098_274],
];
/// Linear-light BT.2020 to linear sRGB (BT.709 primaries, both D65).
const BT2020_TO_SRGB: [[f32; 3]; 3] = [
    [1.660_491, -0.587_641, -0.072_850],
    [-0.124_55, 1.132_9, -0.008_349],
    [-0.018_151, -0.100_579, 1.118_73],
];
/// Steps of the table that re-encodes linear light: fine enough that neighbouring 8-bit
/// outputs never share an entry in the dark end, where the sRGB curve is steepest.
const ENCODE_STEPS: usize = 4096;

/// Converts 8-bit samples in H.273 `primaries` to sRGB: Display P3 (12) and BT.2020 (9) when
/// their transfer is SDR (sRGB, BT.709, BT.2020 or unspecified); anything else is left as it
/// is. Out-of-gamut colours are clipped, as a colour-managed viewer without gamut mapping does.
fn to_srgb(image: &mut Image<u8>, primaries: u16, transfer: u16) {
    let matrix = match primaries {
        12 => P3_TO_SRGB,
        9 => BT2020_TO_SRGB,
        _ => return,
    };
    // 1 BT.709, 2 unspecified, 6 BT.601, 13 sRGB, 14/15 BT.2020: all near the sRGB curve for
    // display. PQ (16) and HLG (18) are HDR, not converted here.
    if !matches!(transfer, 1 | 2 | 6 | 13 | 14 | 15) {
        return;
    }
    let decode: Vec<f32> = (0..=255u8)
        .map(|v| {
            let v = f32::from(v) / 255.0;
            if v <= 0.040_45 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect();
    let encode: Vec<u8> = (0..ENCODE_STEPS)
        .map(|i| {
            let l = i as f32 / (ENCODE_STEPS - 1) as f32;
            let v = if l <= 0.003_130_8 {
                l * 12.92
            } else {
                1.055 * l.powf(1.0 / 2.4) - 0.055
            };
            (v * 255.0).round().clamp(0.0, 255.0) as u8
        })
        .collect();
    let scale = (ENCODE_STEPS - 1) as f32;
    for pixel in image.data.chunks_exact_mut(4) {
        let rgb = [
            decode[usize::from(pixel[0])],
            decode[usize::from(pixel[1])],
            decode[usize::from(pixel[2])],
        ];
        for (out, row) in pixel.iter_mut().zip(&matrix) {
            let l = row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2];
            *out = encode[(l.clamp(0.0, 1.0) * scale).round() as usize];
        }
    }
}

fn is_alpha(file: &HeifFile<'_>, id: ItemId) -> bool {
    file.item_properties(id).is_ok_and(|mut props| {
        props.any(
            |p| matches!(p, Property::AuxiliaryType(t) if HEIF_ALPHA_URNS.contains(&t.as_str())),
        )
    })
}

/// The alpha plane's luma (its red channel after conversion) becomes the image's alpha.
fn attach_alpha(image: &mut Image<u8>, plane: &Image<u8>) -> Result<(), MediaError> {
    if plane.width < image.width || plane.height < image.height {
        return Err(MediaError::malformed(
            "avif: alpha plane smaller than the image",
        ));
    }
    let (w, pw) = (image.width as usize, plane.width as usize);
    for (y, row) in image.data.chunks_exact_mut(w * 4).enumerate() {
        let source = plane.data.get(y * pw * 4..).unwrap_or_default();
        for (pixel, alpha) in row.chunks_exact_mut(4).zip(source.chunks_exact(4)) {
            pixel[3] = alpha[0];
        }
    }
    image.has_alpha = true;
    Ok(())
}

/// Applies the item's transformative properties in association order (`clap`, `irot`,
/// `imir`), as heifer does for HEIC.
fn transform(
    file: &HeifFile<'_>,
    id: ItemId,
    mut image: Image<u8>,
) -> Result<Image<u8>, MediaError> {
    for property in file.item_properties(id).map_err(container)? {
        image = match *property {
            Property::CleanAperture {
                width,
                height,
                horiz_offset,
                vert_offset,
            } => {
                if width.1 == 0 || height.1 == 0 || horiz_offset.1 == 0 || vert_offset.1 == 0 {
                    return Err(MediaError::malformed("avif: clap with a zero denominator"));
                }
                let fraction = |n: f64, d: u32| n / f64::from(d);
                let cw = fraction(f64::from(width.0), width.1);
                let ch = fraction(f64::from(height.0), height.1);
                let cx = fraction(f64::from(horiz_offset.0), horiz_offset.1)
                    + (f64::from(image.width) - 1.0) / 2.0;
                let cy = fraction(f64::from(vert_offset.0), vert_offset.1)
                    + (f64::from(image.height) - 1.0) / 2.0;
                let left = (cx - (cw - 1.0) / 2.0).round().max(0.0) as u32;
                let top = (cy - (ch - 1.0) / 2.0).round().max(0.0) as u32;
                image.crop(left, top, cw.round() as u32, ch.round() as u32)
            }
            Property::Rotation(0) => image,
            Property::Rotation(quarters) => image.rotate_ccw(quarters),
            Property::Mirror(top_bottom) => image.mirror(top_bottom),
            _ => image,
        };
    }
    if image.width == 0 || image.height == 0 {
        return Err(MediaError::malformed(
            "avif: clap crops the image to nothing",
        ));
    }
    Ok(image)
}

fn container(e: heifer::heifer_isobmff::Error) -> MediaError {
    MediaError::malformed(format!("avif: {e}"))
}

/// One rav1d decoder, closed when dropped.
struct Decoder(Option<Dav1dContext>);

impl Decoder {
    /// A decoder that refuses frames of more than `frame_limit` pixels.
    fn open(frame_limit: u64) -> Result<Decoder, MediaError> {
        let mut settings = std::mem::MaybeUninit::<Dav1dSettings>::uninit();
        // SAFETY: `dav1d_default_settings` writes a whole `Dav1dSettings` to the pointer, which
        // points at `settings`'s own storage; it is read only after that.
        let mut settings = unsafe {
            dav1d::dav1d_default_settings(NonNull::new_unchecked(settings.as_mut_ptr()));
            settings.assume_init()
        };
        settings.n_threads = 1;
        settings.max_frame_delay = 1;
        // An image shows its first frame; film grain is synthesised noise, not the picture.
        settings.apply_grain = 0;
        settings.frame_size_limit = u32::try_from(frame_limit).unwrap_or(u32::MAX).max(1);
        let mut context = None;
        // SAFETY: both pointers are to live locals of the right types; on success `context`
        // holds the decoder, which `Drop` closes exactly once.
        let result = unsafe {
            dav1d::dav1d_open(
                Some(NonNull::from(&mut context)),
                Some(NonNull::from(&mut settings)),
            )
        };
        check(result.0, "open")?;
        Ok(Decoder(context))
    }

    /// Decodes `payload` (the item's OBUs) into one frame, and the colour description of its
    /// sequence header.
    fn picture(&mut self, payload: &[u8]) -> Result<(Frame, ColorParams), MediaError> {
        let context = self
            .0
            .ok_or_else(|| MediaError::malformed("avif: decoder not open"))?;
        if payload.is_empty() {
            return Err(MediaError::malformed("avif: picture item has no data"));
        }
        let mut data = Dav1dData::default();
        // SAFETY: `dav1d_data_create` allocates `payload.len()` bytes owned by `data` and
        // returns their start (null on failure, checked); exactly that many bytes are copied in.
        unsafe {
            let buf = dav1d::dav1d_data_create(Some(NonNull::from(&mut data)), payload.len());
            if buf.is_null() {
                return Err(MediaError::malformed(
                    "avif: out of memory for the picture data",
                ));
            }
            std::ptr::copy_nonoverlapping(payload.as_ptr(), buf, payload.len());
        }
        let mut picture = Picture(Dav1dPicture::default());
        let outcome = (|| {
            loop {
                if data.sz > 0 {
                    // SAFETY: `context` is open and `data` is a live `Dav1dData` from
                    // `dav1d_data_create`; rav1d consumes from it and updates it in place.
                    let sent = unsafe {
                        dav1d::dav1d_send_data(Some(context), Some(NonNull::from(&mut data)))
                    };
                    if sent.0 != -libc::EAGAIN {
                        check(sent.0, "data")?;
                    }
                }
                // SAFETY: `context` is open; `picture.0` is a live `Dav1dPicture` that rav1d
                // overwrites, and `Picture`'s drop releases it.
                let got = unsafe {
                    dav1d::dav1d_get_picture(Some(context), Some(NonNull::from(&mut picture.0)))
                };
                if got.0 == 0 {
                    return Ok(());
                }
                if got.0 != -libc::EAGAIN {
                    check(got.0, "picture")?;
                }
                if data.sz == 0 {
                    return Err(MediaError::malformed(
                        "avif: the data holds no complete frame",
                    ));
                }
            }
        })();
        // SAFETY: `data` came from `dav1d_data_create`; unreferencing frees what rav1d did not
        // consume (a no-op when it consumed everything).
        unsafe { dav1d::dav1d_data_unref(Some(NonNull::from(&mut data))) };
        outcome?;
        picture.frame()
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the context came from `dav1d_open` and is closed only here.
        unsafe { dav1d::dav1d_close(Some(NonNull::from(&mut self.0))) };
    }
}

/// A decoded picture, unreferenced when dropped.
struct Picture(Dav1dPicture);

impl Picture {
    /// The planes as a heifer frame (16-bit samples), and the sequence header's colour
    /// description.
    fn frame(&self) -> Result<(Frame, ColorParams), MediaError> {
        let p = &self.0.p;
        let (width, height) = (usize::try_from(p.w), usize::try_from(p.h));
        let (Ok(width), Ok(height)) = (width, height) else {
            return Err(MediaError::malformed("avif: frame with a negative size"));
        };
        let bpc = u8::try_from(p.bpc).unwrap_or(0);
        let wide = match bpc {
            8 => false,
            10 | 12 => true,
            other => {
                return Err(MediaError::unsupported(format!(
                    "avif: {other}-bit samples"
                )))
            }
        };
        // Dav1dPixelLayout: 0 = 4:0:0, 1 = 4:2:0, 2 = 4:2:2, 3 = 4:4:4.
        let layout = u8::try_from(p.layout).unwrap_or(u8::MAX);
        let (sub_x, sub_y, planes) = match layout {
            0 => (0, 0, 1),
            1 => (1, 1, 3),
            2 => (1, 0, 3),
            3 => (0, 0, 3),
            other => {
                return Err(MediaError::unsupported(format!(
                    "avif: pixel layout {other}"
                )))
            }
        };
        let mut frame = Frame {
            widths: [0; 3],
            heights: [0; 3],
            planes: [Vec::new(), Vec::new(), Vec::new()],
            bit_depth: [bpc, bpc],
            chroma_format: layout,
            full_range: false,
            matrix_coeffs: 2,
        };
        for plane in 0..planes {
            let (w, h) = if plane == 0 {
                (width, height)
            } else {
                ((width + sub_x) >> sub_x, (height + sub_y) >> sub_y)
            };
            let stride = self.0.stride[usize::from(plane > 0)];
            let base = self.0.data[plane]
                .ok_or_else(|| MediaError::malformed("avif: frame without its planes"))?;
            let row_bytes = w * if wide { 2 } else { 1 };
            let stride = usize::try_from(stride)
                .ok()
                .filter(|&s| s >= row_bytes)
                .ok_or_else(|| MediaError::malformed("avif: frame with an unexpected stride"))?;
            let mut samples = Vec::with_capacity(w * h);
            for y in 0..h {
                // SAFETY: rav1d allocated each plane as `h` rows of `stride` bytes (checked to
                // hold `w` samples) for the picture it returned, which lives until `self` drops.
                let row = unsafe {
                    std::slice::from_raw_parts(
                        base.as_ptr().cast::<u8>().add(y * stride),
                        row_bytes,
                    )
                };
                if wide {
                    samples.extend(
                        row.chunks_exact(2)
                            .map(|s| u16::from_ne_bytes([s[0], s[1]])),
                    );
                } else {
                    samples.extend(row.iter().map(|&s| u16::from(s)));
                }
            }
            frame.widths[plane] = w as u32;
            frame.heights[plane] = h as u32;
            frame.planes[plane] = samples;
        }
        let params = match self.0.seq_hdr {
            // SAFETY: the sequence header is owned by the picture, alive until `self` drops.
            Some(header) => {
                let header = unsafe { header.as_ref() };
                ColorParams {
                    matrix: header.mtrx as u16,
                    full_range: header.color_range != 0,
                }
            }
            None => ColorParams {
                matrix: 2,
                full_range: false,
            },
        };
        frame.full_range = params.full_range;
        frame.matrix_coeffs = u8::try_from(params.matrix).unwrap_or(2);
        Ok((frame, params))
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: the picture is either default (no references: a no-op) or one rav1d returned.
        unsafe { dav1d::dav1d_picture_unref(Some(NonNull::from(&mut self.0))) };
    }
}

/// rav1d's result: 0 is success, a negative errno a failure.
fn check(result: c_int, step: &str) -> Result<(), MediaError> {
    match result {
        0.. => Ok(()),
        e if e == -libc::ENOMEM => Err(MediaError::malformed(format!(
            "avif: {step}: the frame is over the pixel limit or out of memory"
        ))),
        e if e == -libc::ENOPROTOOPT => Err(MediaError::unsupported(format!(
            "avif: {step}: unsupported AV1 feature"
        ))),
        e => Err(MediaError::malformed(format!(
            "avif: {step}: AV1 decode error {e}"
        ))),
    }
}
