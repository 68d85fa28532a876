//! End-to-end behaviour of `render` on inputs generated here with real encoders, from a
//! synthetic image whose four quadrants have distinct colours (so orientation and cropping
//! mistakes show up as the wrong colour in the wrong corner).

use media_probe::{Limit, Limits, MediaError};
use media_thumbnail::{decoded_size, render, Fit, Format, Rendered, Thumbnails, VariantSpec};

const RED: [u8; 3] = [230, 20, 20];
const GREEN: [u8; 3] = [20, 200, 40];
const BLUE: [u8; 3] = [20, 40, 220];
const YELLOW: [u8; 3] = [240, 230, 30];

/// Quadrants: top-left red, top-right green, bottom-left blue, bottom-right yellow.
fn quadrants(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let colour = match (x < w / 2, y < h / 2) {
                (true, true) => RED,
                (false, true) => GREEN,
                (true, false) => BLUE,
                (false, false) => YELLOW,
            };
            out.extend_from_slice(&colour);
        }
    }
    out
}

fn rgb_to_rgba(rgb: &[u8], alpha: impl Fn(usize) -> u8) -> Vec<u8> {
    rgb.chunks_exact(3)
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], alpha(i)])
        .collect()
}

fn spec(name: &str, w: u32, h: u32, fit: Fit, format: Format) -> VariantSpec {
    VariantSpec {
        name: name.to_string(),
        max_width: w,
        max_height: h,
        fit,
        format,
        quality: 85,
    }
}

// ---------------------------------------------------------------------------------------------
// Input builders

#[derive(Default)]
struct JpegOptions {
    progressive: bool,
    app_segments: Vec<(u8, Vec<u8>)>,
    icc: Option<Vec<u8>>,
    comment: Option<&'static [u8]>,
}

fn jpeg_with(
    pixels: &[u8],
    w: u32,
    h: u32,
    color: jpeg_encoder::ColorType,
    opts: JpegOptions,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 92);
    enc.set_progressive(opts.progressive);
    for (nr, data) in opts.app_segments {
        enc.add_app_segment(nr, data).unwrap();
    }
    if let Some(icc) = &opts.icc {
        enc.add_icc_profile(icc).unwrap();
    }
    enc.encode(pixels, w as u16, h as u16, color).unwrap();
    if let Some(text) = opts.comment {
        // COM segment right after SOI; jpeg-encoder has no API for it.
        let len = (text.len() + 2) as u16;
        let mut com = vec![0xFF, 0xFE];
        com.extend_from_slice(&len.to_be_bytes());
        com.extend_from_slice(text);
        out.splice(2..2, com);
    }
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    jpeg_with(
        &quadrants(w, h),
        w,
        h,
        jpeg_encoder::ColorType::Rgb,
        JpegOptions::default(),
    )
}

/// APP1 payload with a big-endian TIFF holding only IFD0's Orientation tag.
fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut e = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    e.extend_from_slice(&1u16.to_be_bytes()); // one entry
    e.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    e.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    e.extend_from_slice(&1u32.to_be_bytes()); // count
    e.extend_from_slice(&orientation.to_be_bytes());
    e.extend_from_slice(&[0, 0]); // value padding
    e.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    e
}

const XMP: &[u8] =
    b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">secret-xmp</x:xmpmeta>";
const COMMENT: &[u8] = b"secret-comment-from-the-uploader";

fn png_encode(
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    setup: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>),
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        setup(&mut enc);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        writer.finish().unwrap();
    }
    out
}

fn png_rgb(w: u32, h: u32) -> Vec<u8> {
    png_encode(
        w,
        h,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &quadrants(w, h),
        |_| {},
    )
}

/// Quadrant image whose right half is fully transparent.
fn png_rgba_half_transparent(w: u32, h: u32) -> Vec<u8> {
    let rgba = rgb_to_rgba(&quadrants(w, h), |i| {
        if (i as u32 % w) < w / 2 {
            255
        } else {
            0
        }
    });
    png_encode(
        w,
        h,
        png::ColorType::Rgba,
        png::BitDepth::Eight,
        &rgba,
        |_| {},
    )
}

fn gif_two_frames(w: u16, h: u16) -> Vec<u8> {
    // Palette: 0 red, 1 green, 2 blue, 3 yellow, 4 black.
    let palette: Vec<u8> = [RED, GREEN, BLUE, YELLOW, [0, 0, 0]].concat();
    let first: Vec<u8> = quadrants(u32::from(w), u32::from(h))
        .chunks_exact(3)
        .map(|p| match [p[0], p[1], p[2]] {
            RED => 0,
            GREEN => 1,
            BLUE => 2,
            _ => 3,
        })
        .collect();
    let second = vec![4u8; usize::from(w) * usize::from(h)];
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, w, h, &palette).unwrap();
        for pixels in [first, second] {
            let frame = gif::Frame {
                width: w,
                height: h,
                buffer: std::borrow::Cow::Owned(pixels),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame).unwrap();
        }
    }
    out
}

fn webp_lossless(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(&quadrants(w, h), w, h, image_webp::ColorType::Rgb8)
        .unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// Output inspection

fn decode_output(r: &Rendered) -> (u32, u32, Vec<u8>) {
    match r.format {
        Format::Png => {
            let mut dec = png::Decoder::new(std::io::Cursor::new(&r.data));
            dec.set_transformations(png::Transformations::ALPHA);
            let mut reader = dec.read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut buf).unwrap();
            buf.truncate(info.buffer_size());
            let rgba = match info.color_type {
                png::ColorType::Rgba => buf,
                png::ColorType::Rgb => rgb_to_rgba(&buf, |_| 255),
                other => panic!("unexpected PNG colour type {other:?}"),
            };
            (info.width, info.height, rgba)
        }
        Format::Jpeg => {
            let mut dec = jpeg_decoder::Decoder::new(&r.data[..]);
            let pixels = dec.decode().unwrap();
            let info = dec.info().unwrap();
            assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
            (
                u32::from(info.width),
                u32::from(info.height),
                rgb_to_rgba(&pixels, |_| 255),
            )
        }
        Format::Webp => {
            let mut dec = image_webp::WebPDecoder::new(std::io::Cursor::new(&r.data)).unwrap();
            let (w, h) = dec.dimensions();
            let mut buf = vec![0; dec.output_buffer_size().unwrap()];
            dec.read_image(&mut buf).unwrap();
            let rgba = if dec.has_alpha() {
                buf
            } else {
                rgb_to_rgba(&buf, |_| 255)
            };
            (w, h, rgba)
        }
        Format::Auto => panic!("Rendered.format must never be Auto"),
    }
}

fn pixel(image: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 4] {
    let i = ((y * image.0 + x) * 4) as usize;
    image.2[i..i + 4].try_into().unwrap()
}

fn close(actual: [u8; 4], expected: [u8; 3], tolerance: u8) -> bool {
    actual[..3]
        .iter()
        .zip(expected)
        .all(|(&a, e)| a.abs_diff(e) <= tolerance)
}

/// Colours at the centres of the output's four quadrants: TL, TR, BL, BR.
fn quadrant_colours(image: &(u32, u32, Vec<u8>)) -> [[u8; 4]; 4] {
    let (w, h) = (image.0, image.1);
    [
        pixel(image, w / 4, h / 4),
        pixel(image, w * 3 / 4, h / 4),
        pixel(image, w / 4, h * 3 / 4),
        pixel(image, w * 3 / 4, h * 3 / 4),
    ]
}

fn assert_quadrants(image: &(u32, u32, Vec<u8>), expected: [[u8; 3]; 4], context: &str) {
    let got = quadrant_colours(image);
    for (corner, (g, e)) in ["TL", "TR", "BL", "BR"]
        .iter()
        .zip(got.iter().zip(expected))
    {
        assert!(
            close(*g, e, 40),
            "{context}: {corner} is {g:?}, expected about {e:?}"
        );
    }
}

fn render_one(data: &[u8], spec: VariantSpec) -> Rendered {
    let mut out = render(data, &[spec], &Limits::default()).unwrap();
    out.variants.remove(0)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Geometry

#[test]
fn contain_fits_the_box_keeps_the_aspect_ratio_within_a_pixel_and_never_upscales() {
    let sources = [(640, 480), (480, 640), (301, 97), (97, 301), (50, 40)];
    let boxes = [(256, 256), (100, 300), (300, 100), (64, 64), (1000, 1000)];
    for (sw, sh) in sources {
        let data = png_rgb(sw, sh);
        let specs: Vec<_> = boxes
            .iter()
            .enumerate()
            .map(|(i, &(bw, bh))| spec(&format!("b{i}"), bw, bh, Fit::Contain, Format::Png))
            .collect();
        let out = render(&data, &specs, &Limits::default()).unwrap();
        for (r, &(bw, bh)) in out.variants.iter().zip(&boxes) {
            let ctx = format!("{sw}x{sh} in {bw}x{bh} -> {}x{}", r.width, r.height);
            assert!(r.width <= bw && r.height <= bh, "{ctx}: outside the box");
            assert!(r.width <= sw && r.height <= sh, "{ctx}: upscaled");
            assert!(
                r.width == bw.min(sw) || r.height == bh.min(sh),
                "{ctx}: not fitted"
            );
            // The other side is the exact ratio rounded: within one pixel.
            let exact_h = f64::from(r.width) * f64::from(sh) / f64::from(sw);
            let exact_w = f64::from(r.height) * f64::from(sw) / f64::from(sh);
            assert!(
                (f64::from(r.height) - exact_h).abs() <= 1.0
                    || (f64::from(r.width) - exact_w).abs() <= 1.0,
                "{ctx}: aspect ratio drifted"
            );
            let decoded = decode_output(r);
            assert_eq!((decoded.0, decoded.1), (r.width, r.height), "{ctx}");
        }
    }
}

#[test]
fn cover_is_exactly_the_box_and_crops_the_centre() {
    let data = png_rgb(400, 200);
    for (bw, bh) in [(100, 100), (150, 40), (40, 150), (200, 200)] {
        let r = render_one(&data, spec("c", bw, bh, Fit::Cover, Format::Png));
        assert_eq!((r.width, r.height), (bw, bh));
        let image = decode_output(&r);
        assert_eq!((image.0, image.1), (bw, bh));
    }
    // A square from the centre of a wide image keeps all four quadrants around the middle.
    let r = render_one(&data, spec("c", 100, 100, Fit::Cover, Format::Png));
    assert_quadrants(
        &decode_output(&r),
        [RED, GREEN, BLUE, YELLOW],
        "cover centre",
    );
}

#[test]
fn cover_never_upscales_a_small_source_but_crops_it_to_the_box_aspect() {
    let data = png_rgb(300, 100);
    let r = render_one(&data, spec("c", 400, 400, Fit::Cover, Format::Png));
    assert_eq!((r.width, r.height), (100, 100));
    let r = render_one(&data, spec("c", 200, 400, Fit::Cover, Format::Png));
    assert_eq!((r.width, r.height), (50, 100));
    let r = render_one(&data, spec("c", 600, 150, Fit::Cover, Format::Png));
    assert_eq!((r.width, r.height), (300, 75));
}

// ---------------------------------------------------------------------------------------------
// Orientation

#[test]
fn every_exif_orientation_is_applied_with_the_box_on_the_oriented_image() {
    // Where each stored quadrant (TL=R, TR=G, BL=B, BR=Y) is displayed, per EXIF.
    let expected: [(u16, [[u8; 3]; 4]); 8] = [
        (1, [RED, GREEN, BLUE, YELLOW]),
        (2, [GREEN, RED, YELLOW, BLUE]),
        (3, [YELLOW, BLUE, GREEN, RED]),
        (4, [BLUE, YELLOW, RED, GREEN]),
        (5, [RED, BLUE, GREEN, YELLOW]),
        (6, [BLUE, RED, YELLOW, GREEN]),
        (7, [YELLOW, GREEN, BLUE, RED]),
        (8, [GREEN, YELLOW, RED, BLUE]),
    ];
    let (w, h) = (128, 64);
    for (orientation, colours) in expected {
        let data = jpeg_with(
            &quadrants(w, h),
            w,
            h,
            jpeg_encoder::ColorType::Rgb,
            JpegOptions {
                app_segments: vec![(1, exif_orientation(orientation))],
                ..JpegOptions::default()
            },
        );
        // A 64x64 box: the displayed image is 128x64 or 64x128, so the result is 64x32 for
        // orientations 1..=4 and 32x64 for 5..=8.
        let r = render_one(&data, spec("o", 64, 64, Fit::Contain, Format::Png));
        let size = if orientation >= 5 { (32, 64) } else { (64, 32) };
        assert_eq!((r.width, r.height), size, "orientation {orientation}");
        assert_quadrants(
            &decode_output(&r),
            colours,
            &format!("orientation {orientation}"),
        );
    }
}

#[test]
fn cover_box_applies_to_the_oriented_image() {
    // Stored 200x100 rotated by orientation 6 displays as 100x200; a 50x80 cover box must
    // come out 50x80, not 80x50.
    let data = jpeg_with(
        &quadrants(200, 100),
        200,
        100,
        jpeg_encoder::ColorType::Rgb,
        JpegOptions {
            app_segments: vec![(1, exif_orientation(6))],
            ..JpegOptions::default()
        },
    );
    let r = render_one(&data, spec("o", 50, 80, Fit::Cover, Format::Jpeg));
    assert_eq!((r.width, r.height), (50, 80));
    let image = decode_output(&r);
    assert_eq!((image.0, image.1), (50, 80));
}

// ---------------------------------------------------------------------------------------------
// Metadata stripping and output formats

#[test]
fn no_exif_xmp_icc_or_comment_reaches_any_output() {
    let mut icc = b"fake-icc-profile-".to_vec();
    icc.resize(200, b'x');
    let data = jpeg_with(
        &quadrants(96, 64),
        96,
        64,
        jpeg_encoder::ColorType::Rgb,
        JpegOptions {
            app_segments: vec![(1, exif_orientation(1)), (1, XMP.to_vec())],
            icc: Some(icc),
            comment: Some(COMMENT),
            ..JpegOptions::default()
        },
    );
    // The input really carries all of it.
    for marker in [
        &b"Exif"[..],
        b"http://ns.adobe.com/xap",
        b"ICC_PROFILE",
        COMMENT,
    ] {
        assert!(contains(&data, marker));
    }
    let specs = [
        spec("j", 48, 48, Fit::Contain, Format::Jpeg),
        spec("p", 48, 48, Fit::Contain, Format::Png),
        spec("w", 48, 48, Fit::Contain, Format::Webp),
        spec("a", 48, 48, Fit::Cover, Format::Auto),
    ];
    let out = render(&data, &specs, &Limits::default()).unwrap();
    let forbidden: [&[u8]; 14] = [
        b"Exif",
        b"EXIF",
        b"XMP",
        b"http://ns.adobe.com/xap",
        b"xmpmeta",
        b"ICC_PROFILE",
        b"ICCP",
        b"iCCP",
        b"eXIf",
        b"tEXt",
        b"iTXt",
        b"zTXt",
        b"secret",
        COMMENT,
    ];
    for r in &out.variants {
        for marker in forbidden {
            assert!(
                !contains(&r.data, marker),
                "{} ({:?}) contains {:?}",
                r.name,
                r.format,
                String::from_utf8_lossy(marker)
            );
        }
        if r.format == Format::Jpeg {
            // No COM (FF FE) or APP1..APP15 segment in the header before the first scan.
            let sos = r.data.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
            let header = &r.data[..sos];
            assert!(!contains(header, &[0xFF, 0xFE]), "{}: COM segment", r.name);
            for app in 0xE1..=0xEF {
                assert!(
                    !contains(header, &[0xFF, app]),
                    "{}: APP{:X} segment",
                    r.name,
                    app - 0xE0
                );
            }
        }
    }
}

#[test]
fn png_text_and_icc_chunks_are_not_carried_over() {
    let data = png_encode(
        64,
        64,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &quadrants(64, 64),
        |enc| {
            enc.add_text_chunk("Comment".into(), "secret-text".into())
                .unwrap();
            enc.add_itxt_chunk("XML:com.adobe.xmp".into(), "secret-xmp".into())
                .unwrap();
        },
    );
    assert!(contains(&data, b"secret-text"));
    for format in [Format::Png, Format::Jpeg, Format::Webp] {
        let r = render_one(&data, spec("p", 32, 32, Fit::Contain, format));
        for marker in [&b"secret"[..], b"tEXt", b"iTXt", b"XML:com.adobe"] {
            assert!(
                !contains(&r.data, marker),
                "{format:?} output carries {marker:?}"
            );
        }
    }
}

#[test]
fn webp_output_is_lossy_vp8_not_lossless_vp8l() {
    for (data, transparent) in [
        (png_rgb(120, 80), false),
        (png_rgba_half_transparent(120, 80), true),
    ] {
        let r = render_one(&data, spec("w", 60, 60, Fit::Contain, Format::Webp));
        assert_eq!(r.format, Format::Webp);
        assert_eq!(&r.data[..4], b"RIFF");
        assert_eq!(&r.data[8..12], b"WEBP");
        assert!(contains(&r.data, b"VP8 "), "no lossy VP8 chunk");
        assert!(!contains(&r.data, b"VP8L"), "lossless chunk present");
        let image = decode_output(&r);
        if transparent {
            assert!(contains(&r.data, b"ALPH"), "alpha was dropped");
            assert!(close(pixel(&image, 5, 5), RED, 40));
            assert_eq!(pixel(&image, 55, 5)[3], 0);
        } else {
            assert_quadrants(&image, [RED, GREEN, BLUE, YELLOW], "webp output");
        }
    }
}

#[test]
fn jpeg_output_is_a_decodable_baseline_jpeg_with_the_right_colours() {
    let r = render_one(
        &png_rgb(200, 100),
        spec("j", 100, 100, Fit::Contain, Format::Jpeg),
    );
    assert_eq!(r.format, Format::Jpeg);
    assert_eq!(&r.data[..2], &[0xFF, 0xD8]);
    let image = decode_output(&r);
    assert_eq!((image.0, image.1), (100, 50));
    assert_quadrants(&image, [RED, GREEN, BLUE, YELLOW], "jpeg output");
}

#[test]
fn auto_picks_png_for_transparency_and_jpeg_for_opaque_images() {
    let transparent = render_one(
        &png_rgba_half_transparent(100, 100),
        spec("a", 50, 50, Fit::Contain, Format::Auto),
    );
    assert_eq!(transparent.format, Format::Png);
    let image = decode_output(&transparent);
    assert_eq!(
        pixel(&image, 40, 10)[3],
        0,
        "transparent half lost its alpha"
    );
    assert!(close(pixel(&image, 10, 10), RED, 10));

    let opaque = render_one(
        &png_rgb(100, 100),
        spec("a", 50, 50, Fit::Contain, Format::Auto),
    );
    assert_eq!(opaque.format, Format::Jpeg);

    // An alpha channel that is opaque everywhere is not transparency.
    let rgba_opaque = png_encode(
        100,
        100,
        png::ColorType::Rgba,
        png::BitDepth::Eight,
        &rgb_to_rgba(&quadrants(100, 100), |_| 255),
        |_| {},
    );
    let r = render_one(&rgba_opaque, spec("a", 50, 50, Fit::Contain, Format::Auto));
    assert_eq!(r.format, Format::Jpeg);
}

#[test]
fn transparent_edges_get_no_dark_fringe() {
    // An opaque white square on transparent *black*: a resize that ignores alpha
    // would pull black into the border pixels.
    let (w, h) = (101u32, 101u32);
    let rgba: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            if (25..75).contains(&x) && (25..75).contains(&y) {
                [255, 255, 255, 255]
            } else {
                [0, 0, 0, 0]
            }
        })
        .collect();
    let data = png_encode(
        w,
        h,
        png::ColorType::Rgba,
        png::BitDepth::Eight,
        &rgba,
        |_| {},
    );
    let r = render_one(&data, spec("f", 33, 33, Fit::Contain, Format::Png));
    let image = decode_output(&r);
    for px in image.2.chunks_exact(4) {
        if px[3] >= 16 {
            assert!(
                px[0] >= 240 && px[1] >= 240 && px[2] >= 240,
                "dark fringe pixel {px:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoders

#[test]
fn large_jpeg_is_decoded_at_an_eighth_for_a_small_box() {
    let (w, h) = (4000, 3000);
    let data = jpeg(w, h);
    let specs = [spec("s", 256, 256, Fit::Contain, Format::Jpeg)];
    let decoded = decoded_size(&data, &specs, &Limits::default()).unwrap();
    // 1/8 is 500x375, the smallest DCT scale still at least 256x192.
    assert_eq!(decoded, (500, 375));
    let r = render_one(&data, specs[0].clone());
    assert_eq!((r.width, r.height), (256, 192));
    assert_quadrants(
        &decode_output(&r),
        [RED, GREEN, BLUE, YELLOW],
        "scaled jpeg",
    );

    // A larger variant in the same call raises the decode for everyone, to 1/4.
    let both = [
        specs[0].clone(),
        spec("l", 900, 900, Fit::Contain, Format::Jpeg),
    ];
    assert_eq!(
        decoded_size(&data, &both, &Limits::default()).unwrap(),
        (1000, 750)
    );
    // Other formats cannot shrink on load.
    let png = png_rgb(400, 300);
    assert_eq!(
        decoded_size(&png, &specs, &Limits::default()).unwrap(),
        (400, 300)
    );
}

#[test]
fn progressive_grayscale_and_cmyk_jpegs_decode() {
    let (w, h) = (96, 64);
    let progressive = jpeg_with(
        &quadrants(w, h),
        w,
        h,
        jpeg_encoder::ColorType::Rgb,
        JpegOptions {
            progressive: true,
            ..JpegOptions::default()
        },
    );
    let r = render_one(&progressive, spec("p", 48, 48, Fit::Contain, Format::Png));
    assert_quadrants(
        &decode_output(&r),
        [RED, GREEN, BLUE, YELLOW],
        "progressive",
    );

    let gray: Vec<u8> = (0..w * h)
        .map(|i| if i % w < w / 2 { 40 } else { 210 })
        .collect();
    let data = jpeg_with(
        &gray,
        w,
        h,
        jpeg_encoder::ColorType::Luma,
        JpegOptions::default(),
    );
    let image = decode_output(&render_one(
        &data,
        spec("g", 48, 48, Fit::Contain, Format::Png),
    ));
    assert!(close(pixel(&image, 5, 10), [40, 40, 40], 12));
    assert!(close(pixel(&image, 40, 10), [210, 210, 210], 12));

    // Ink amounts: red is magenta + yellow, blue is cyan + magenta.
    let cmyk: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            if i % w < w / 2 {
                [0, 255, 255, 0]
            } else {
                [255, 255, 0, 0]
            }
        })
        .collect();
    let data = jpeg_with(
        &cmyk,
        w,
        h,
        jpeg_encoder::ColorType::Cmyk,
        JpegOptions::default(),
    );
    let image = decode_output(&render_one(
        &data,
        spec("c", 48, 48, Fit::Contain, Format::Png),
    ));
    assert!(
        close(pixel(&image, 5, 10), [255, 0, 0], 40),
        "CMYK red came out {:?}",
        pixel(&image, 5, 10)
    );
    assert!(
        close(pixel(&image, 40, 10), [0, 0, 255], 40),
        "CMYK blue came out {:?}",
        pixel(&image, 40, 10)
    );
}

#[test]
fn sixteen_bit_palette_and_grey_alpha_pngs_decode() {
    let (w, h) = (64u32, 64u32);
    let rgb16: Vec<u8> = quadrants(w, h)
        .iter()
        .flat_map(|&c| (u16::from(c) * 257).to_be_bytes())
        .collect();
    let data = png_encode(
        w,
        h,
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        &rgb16,
        |_| {},
    );
    let image = decode_output(&render_one(
        &data,
        spec("s", 32, 32, Fit::Contain, Format::Png),
    ));
    assert_quadrants(&image, [RED, GREEN, BLUE, YELLOW], "16-bit PNG");

    let indices: Vec<u8> = quadrants(w, h)
        .chunks_exact(3)
        .map(|p| match [p[0], p[1], p[2]] {
            RED => 0,
            GREEN => 1,
            BLUE => 2,
            _ => 3,
        })
        .collect();
    let palette = [RED, GREEN, BLUE, YELLOW].concat();
    let data = png_encode(
        w,
        h,
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        &indices,
        |e| {
            e.set_palette(palette.clone());
            // Index 3 (yellow) is fully transparent through tRNS.
            e.set_trns(vec![255, 255, 255, 0]);
        },
    );
    let r = render_one(&data, spec("p", 32, 32, Fit::Contain, Format::Auto));
    assert_eq!(r.format, Format::Png, "tRNS transparency must select PNG");
    let image = decode_output(&r);
    let corners = quadrant_colours(&image);
    assert!(close(corners[0], RED, 4) && close(corners[1], GREEN, 4) && close(corners[2], BLUE, 4));
    assert_eq!(corners[3][3], 0, "tRNS index should be transparent");

    let grey_alpha: Vec<u8> = (0..w * h).flat_map(|i| [(i % 256) as u8, 200]).collect();
    let data = png_encode(
        w,
        h,
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        &grey_alpha,
        |_| {},
    );
    let r = render_one(&data, spec("g", 32, 32, Fit::Contain, Format::Png));
    let image = decode_output(&r);
    assert!(image
        .2
        .chunks_exact(4)
        .all(|p| p[0] == p[1] && p[1] == p[2] && p[3].abs_diff(200) <= 1));
}

#[test]
fn gif_renders_its_first_frame_only() {
    let data = gif_two_frames(80, 60);
    let r = render_one(&data, spec("g", 40, 40, Fit::Contain, Format::Png));
    assert_eq!((r.width, r.height), (40, 30));
    assert_quadrants(
        &decode_output(&r),
        [RED, GREEN, BLUE, YELLOW],
        "gif first frame",
    );
}

#[test]
fn gif_frame_smaller_than_the_screen_sits_on_a_transparent_background() {
    let palette: Vec<u8> = [RED, GREEN].concat();
    let mut data = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut data, 40, 40, &palette).unwrap();
        // A 20x20 red frame at (10, 10) on a 40x40 screen.
        let frame = gif::Frame {
            left: 10,
            top: 10,
            width: 20,
            height: 20,
            buffer: std::borrow::Cow::Owned(vec![0; 400]),
            ..gif::Frame::default()
        };
        enc.write_frame(&frame).unwrap();
    }
    let r = render_one(&data, spec("g", 40, 40, Fit::Contain, Format::Auto));
    assert_eq!(r.format, Format::Png);
    let image = decode_output(&r);
    assert_eq!((image.0, image.1), (40, 40));
    assert!(close(pixel(&image, 20, 20), RED, 0) && pixel(&image, 20, 20)[3] == 255);
    for (x, y) in [(5, 5), (35, 35), (5, 35), (35, 5)] {
        assert_eq!(pixel(&image, x, y)[3], 0, "({x}, {y}) should be background");
    }
}

#[test]
fn lossless_and_lossy_webp_inputs_decode() {
    let lossless = webp_lossless(80, 60);
    assert!(contains(&lossless, b"VP8L"));
    let r = render_one(&lossless, spec("l", 40, 40, Fit::Contain, Format::Png));
    assert_quadrants(
        &decode_output(&r),
        [RED, GREEN, BLUE, YELLOW],
        "lossless webp",
    );

    // Our own lossy output makes a lossy input.
    let lossy = render_one(
        &png_rgb(80, 60),
        spec("w", 80, 80, Fit::Contain, Format::Webp),
    )
    .data;
    let r = render_one(&lossy, spec("l", 40, 40, Fit::Contain, Format::Png));
    assert_eq!((r.width, r.height), (40, 30));
    assert_quadrants(&decode_output(&r), [RED, GREEN, BLUE, YELLOW], "lossy webp");
}

#[test]
fn truncated_inputs_fail_as_malformed_and_never_panic() {
    let inputs = [
        ("jpeg", jpeg(64, 48)),
        (
            "progressive jpeg",
            jpeg_with(
                &quadrants(64, 48),
                64,
                48,
                jpeg_encoder::ColorType::Rgb,
                JpegOptions {
                    progressive: true,
                    ..JpegOptions::default()
                },
            ),
        ),
        ("png", png_rgb(64, 48)),
        ("gif", gif_two_frames(64, 48)),
        ("webp", webp_lossless(64, 48)),
    ];
    let specs = [spec("t", 32, 32, Fit::Contain, Format::Png)];
    for (name, data) in &inputs {
        let mut lengths: Vec<usize> = (0..data.len()).step_by(7).collect();
        lengths.extend([data.len() - 1, data.len() / 2, data.len() * 3 / 4]);
        for len in lengths {
            match render(&data[..len], &specs, &Limits::default()) {
                Ok(out) => assert_eq!(out.variants.len(), 1),
                // Too short to be recognised is unsupported; recognised but cut is malformed.
                Err(MediaError::Malformed(_) | MediaError::Unsupported(_)) => {}
                Err(other) => panic!("{name} truncated to {len}: unexpected {other:?}"),
            }
        }
        // Cut in the middle of the pixel data, every format must notice.
        let cut = &data[..data.len() * 3 / 5];
        match render(cut, &specs, &Limits::default()) {
            Err(MediaError::Malformed(_)) => {}
            other => panic!("{name} cut mid-data: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let inputs = [
        jpeg(64, 48),
        png_rgb(64, 48),
        gif_two_frames(64, 48),
        webp_lossless(64, 48),
    ];
    let specs = [spec("t", 32, 32, Fit::Contain, Format::Jpeg)];
    for data in &inputs {
        // Deterministic pseudo-random byte flips past the signature.
        let mut state = 0x2545_f491_u32;
        for _ in 0..60 {
            let mut bad = data.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let i = 12 + (state as usize % (bad.len() - 12));
                bad[i] ^= (state >> 24) as u8 | 1;
            }
            let _ = render(&bad, &specs, &Limits::default());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Limits and validation

#[test]
fn output_over_the_byte_limit_is_rejected_as_output_bytes() {
    let data = png_rgb(200, 200);
    let limits = Limits {
        max_output_bytes: 100,
        ..Limits::default()
    };
    let err = render(
        &data,
        &[spec("p", 200, 200, Fit::Contain, Format::Png)],
        &limits,
    )
    .unwrap_err();
    match err {
        MediaError::LimitExceeded {
            limit: Limit::OutputBytes,
            actual,
            max: 100,
        } => assert!(actual > 100),
        other => panic!("expected OutputBytes, got {other:?}"),
    }
}

#[test]
fn input_over_the_pixel_limit_is_rejected_before_decoding() {
    let data = png_rgb(200, 200);
    let limits = Limits {
        max_pixels: 10_000,
        ..Limits::default()
    };
    let err = render(
        &data,
        &[spec("p", 50, 50, Fit::Contain, Format::Png)],
        &limits,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::LimitExceeded {
                limit: Limit::Pixels,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn non_raster_inputs_are_unsupported() {
    let specs = [spec("p", 50, 50, Fit::Contain, Format::Png)];
    for data in [
        &b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"[..],
        b"hello, plain text",
    ] {
        let err = render(data, &specs, &Limits::default()).unwrap_err();
        assert!(matches!(err, MediaError::Unsupported(_)), "{err:?}");
    }
}

#[test]
fn invalid_specs_are_rejected_as_unsupported() {
    let data = png_rgb(64, 64);
    let good = spec("ok", 32, 32, Fit::Contain, Format::Png);
    let bad = [
        VariantSpec {
            name: String::new(),
            ..good.clone()
        },
        VariantSpec {
            name: "x".repeat(media_thumbnail::MAX_VARIANT_NAME_BYTES + 1),
            ..good.clone()
        },
        VariantSpec {
            max_width: 0,
            ..good.clone()
        },
        VariantSpec {
            max_height: 0,
            ..good.clone()
        },
        VariantSpec {
            max_width: media_thumbnail::MAX_VARIANT_DIMENSION + 1,
            ..good.clone()
        },
        VariantSpec {
            quality: 0,
            ..good.clone()
        },
        VariantSpec {
            quality: 101,
            ..good.clone()
        },
    ];
    for spec in bad {
        let err = render(&data, std::slice::from_ref(&spec), &Limits::default()).unwrap_err();
        assert!(
            matches!(err, MediaError::Unsupported(_)),
            "{spec:?}: {err:?}"
        );
    }
    let too_many = vec![good.clone(); media_thumbnail::MAX_VARIANTS + 1];
    assert!(matches!(
        render(&data, &too_many, &Limits::default()),
        Err(MediaError::Unsupported(_))
    ));
    let most = vec![good; media_thumbnail::MAX_VARIANTS];
    assert_eq!(
        render(&data, &most, &Limits::default())
            .unwrap()
            .variants
            .len(),
        media_thumbnail::MAX_VARIANTS
    );
}

// ---------------------------------------------------------------------------------------------
// Placeholder

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not standard base64: {:?}", other as char),
        }
    };
    assert_eq!(s.len() % 4, 0, "base64 must be padded");
    let mut out = Vec::new();
    for quad in s.as_bytes().chunks(4) {
        let pad = quad.iter().filter(|&&c| c == b'=').count();
        let n = quad
            .iter()
            .map(|&c| if c == b'=' { 0 } else { value(c) })
            .fold(0u32, |acc, v| acc << 6 | v);
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

#[test]
fn placeholder_is_base64_thumbhash_of_the_oriented_image() {
    // Stored 200x100, orientation 6: displayed 100x200, so the hash's aspect ratio is ~0.5.
    let data = jpeg_with(
        &quadrants(200, 100),
        200,
        100,
        jpeg_encoder::ColorType::Rgb,
        JpegOptions {
            app_segments: vec![(1, exif_orientation(6))],
            ..JpegOptions::default()
        },
    );
    let Thumbnails { placeholder, .. } = render(
        &data,
        &[spec("a", 64, 64, Fit::Contain, Format::Jpeg)],
        &Limits::default(),
    )
    .unwrap();
    assert!(!placeholder.is_empty());
    let hash = base64_decode(&placeholder);
    let (w, h, rgba) = thumbhash::thumb_hash_to_rgba(&hash).expect("thumbhash decodes");
    assert_eq!(rgba.len(), w * h * 4);
    let aspect = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
    assert!((aspect - 0.5).abs() < 0.1, "aspect {aspect}");

    // A call with no variants still yields the placeholder.
    let out = render(&png_rgb(64, 64), &[], &Limits::default()).unwrap();
    assert!(out.variants.is_empty());
    assert!(!base64_decode(&out.placeholder).is_empty());
}
