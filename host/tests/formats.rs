//! Every supported format through the real guest components: variants land inside their box
//! with the aspect ratio kept, EXIF orientation is applied, and no metadata survives.

mod common;

use attach_fixtures as fx;
use attachd::sandbox::{Fit, Format, Thumbnails, VariantSpec};
use common::{contains, decode};

fn spec(name: &str, w: u32, h: u32, fit: Fit, format: Format) -> VariantSpec {
    VariantSpec {
        name: name.into(),
        max_width: w,
        max_height: h,
        fit,
        format,
        quality: 80,
    }
}

fn specs() -> Vec<VariantSpec> {
    vec![
        spec("thumb", 256, 256, Fit::Contain, Format::Webp),
        spec("preview", 1280, 1280, Fit::Contain, Format::Jpeg),
        spec("wide", 300, 100, Fit::Contain, Format::Png),
        spec("square", 64, 64, Fit::Cover, Format::Jpeg),
    ]
}

fn render(data: &[u8], mime: &str, specs: &[VariantSpec]) -> Thumbnails {
    let outcome = common::pipeline().run(data, mime, specs);
    match outcome.result {
        Ok(t) => t,
        Err(e) => panic!("{mime} upload failed: {e}"),
    }
}

/// Checks every variant against its spec, given the source's displayed size.
fn assert_variants_fit(thumbs: &Thumbnails, specs: &[VariantSpec], src_w: u32, src_h: u32) {
    assert_eq!(thumbs.variants.len(), specs.len());
    assert!(
        !thumbs.placeholder.is_empty(),
        "a placeholder hash is returned"
    );
    for (v, s) in thumbs.variants.iter().zip(specs) {
        assert_eq!(v.name, s.name);
        let d = decode(v.format, &v.data);
        assert_eq!(
            (d.width, d.height),
            (v.width, v.height),
            "{}: reported size is the real size",
            v.name
        );
        assert!(
            v.width <= s.max_width && v.height <= s.max_height,
            "{}: {}x{} inside {}x{}",
            v.name,
            v.width,
            v.height,
            s.max_width,
            s.max_height
        );
        assert!(
            v.width <= src_w && v.height <= src_h,
            "{}: never upscaled",
            v.name
        );
        match s.fit {
            Fit::Cover => {
                let (bw, bh) = (s.max_width.min(src_w), s.max_height.min(src_h));
                assert!(
                    v.width == bw || v.height == bh,
                    "{}: cover fills the box",
                    v.name
                );
            }
            Fit::Contain => {
                // Aspect ratio within one pixel: the other side recomputed from one side
                // differs by at most 1.
                let expect_h = (v.width as f64 * src_h as f64 / src_w as f64).round();
                assert!(
                    (expect_h - v.height as f64).abs() <= 1.0,
                    "{}: aspect kept ({}x{} from {src_w}x{src_h})",
                    v.name,
                    v.width,
                    v.height
                );
                assert!(
                    v.width == s.max_width.min(src_w) || v.height == s.max_height.min(src_h),
                    "{}: touches the box",
                    v.name
                );
            }
        }
        if s.format != Format::Auto {
            assert_eq!(
                v.format, s.format,
                "{}: written in the asked format",
                v.name
            );
        }
    }
}

#[test]
fn every_supported_format_renders_variants_inside_their_boxes() {
    let photo = fx::photo(640, 427, 11);
    let rgba = fx::Rgba {
        width: photo.width,
        height: photo.height,
        data: photo
            .data
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], if p[0] > 128 { 255 } else { 90 }])
            .collect(),
    };
    let inputs: Vec<(&str, Vec<u8>, &str)> = vec![
        ("baseline jpeg", fx::jpeg(&photo, 85), "image/jpeg"),
        (
            "progressive jpeg",
            fx::jpeg_progressive(&photo, 85),
            "image/jpeg",
        ),
        ("png rgb", fx::png_rgb(&photo), "image/png"),
        ("png rgba", fx::png_rgba(&rgba), "image/png"),
        ("png 16-bit", fx::png_16bit(&photo), "image/png"),
        ("png palette", fx::png_palette(&photo), "image/png"),
        ("gif", fx::gif(&photo), "image/gif"),
        (
            "animated gif",
            fx::gif_animated(&[photo.clone(), fx::photo(640, 427, 12)]),
            "image/gif",
        ),
        ("webp lossy", fx::webp_lossy(&photo, 80), "image/webp"),
        ("webp lossless", fx::webp_lossless(&photo), "image/webp"),
    ];
    let specs = specs();
    for (what, data, mime) in inputs {
        let thumbs = render(&data, mime, &specs);
        eprintln!("{what}: ok");
        assert_variants_fit(&thumbs, &specs, 640, 427);
    }
}

#[test]
fn webp_variants_are_lossy() {
    let thumbs = render(
        &fx::jpeg(&fx::photo(400, 300, 3), 90),
        "image/jpeg",
        &specs(),
    );
    let webp = &thumbs.variants[0];
    assert_eq!(webp.format, Format::Webp);
    assert!(contains(&webp.data, b"VP8 "), "a lossy VP8 bitstream");
    assert!(!contains(&webp.data, b"VP8L"), "not the lossless one");
}

#[test]
fn auto_format_keeps_transparency_as_png_and_opaque_as_jpeg() {
    let photo = fx::photo(120, 80, 5);
    let rgba = fx::Rgba {
        width: 120,
        height: 80,
        data: photo
            .data
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 128])
            .collect(),
    };
    let auto = [spec("a", 64, 64, Fit::Contain, Format::Auto)];
    assert_eq!(
        render(&fx::png_rgba(&rgba), "image/png", &auto).variants[0].format,
        Format::Png
    );
    assert_eq!(
        render(&fx::png_rgb(&photo), "image/png", &auto).variants[0].format,
        Format::Jpeg
    );
}

#[test]
fn no_metadata_survives_into_any_variant() {
    let jpeg = fx::jpeg(&fx::photo(500, 400, 9), 85);
    let jpeg = fx::with_exif_gps(&jpeg);
    let jpeg = fx::with_xmp(&jpeg);
    let jpeg = fx::with_icc(&jpeg);
    let jpeg = fx::with_comment(&jpeg, "secret-comment-text");
    let png = fx::png_with_text_and_exif(&fx::png_rgb(&fx::photo(300, 200, 4)));
    let sandbox = common::sandbox();
    for (data, mime) in [(jpeg, "image/jpeg"), (png, "image/png")] {
        let (probe, _) = sandbox.probe(&data, limits()).unwrap();
        let probe = probe.unwrap();
        assert!(probe.has_exif, "the input does carry metadata");
        let thumbs = render(&data, mime, &specs());
        for v in &thumbs.variants {
            for marker in [
                &b"Exif"[..],
                b"http://ns.adobe.com/xap",
                b"ICC_PROFILE",
                b"secret-comment-text",
                b"eXIf",
                b"tEXt",
                b"iCCP",
            ] {
                assert!(
                    !contains(&v.data, marker),
                    "{} carries {:?}",
                    v.name,
                    String::from_utf8_lossy(marker)
                );
            }
            let (p, _) = sandbox.probe(&v.data, limits()).unwrap();
            let p = p.unwrap();
            assert!(
                !p.has_exif && !p.has_gps && !p.has_xmp && !p.has_icc && !p.has_comment,
                "{}: {p:?}",
                v.name
            );
        }
    }
}

fn limits() -> attachd::sandbox::Limits {
    attachd::sandbox::Limits {
        max_pixels: 50_000_000,
        max_frames: 1000,
        max_total_frame_area: 200_000_000,
        max_output_bytes: 32 << 20,
    }
}

/// Stored quadrants are red, green / blue, yellow. For each EXIF orientation, the colours a
/// viewer shows at the top-left, top-right, bottom-left and bottom-right.
const R: usize = 0;
const G: usize = 1;
const B: usize = 2;
const Y: usize = 3;
const DISPLAYED: [[usize; 4]; 8] = [
    [R, G, B, Y], // 1: as stored
    [G, R, Y, B], // 2: mirrored horizontally
    [Y, B, G, R], // 3: rotated 180°
    [B, Y, R, G], // 4: mirrored vertically
    [R, B, G, Y], // 5: transposed
    [B, R, Y, G], // 6: rotated 90° clockwise
    [Y, G, B, R], // 7: transversed
    [G, Y, R, B], // 8: rotated 90° counter-clockwise
];

#[test]
fn all_eight_exif_orientations_are_applied() {
    let (w, h) = (160, 80);
    let base = fx::jpeg(&fx::quadrants(w, h), 95);
    for orientation in 1..=8u8 {
        let data = fx::with_exif_orientation(&base, orientation);
        let specs = [
            spec("o", 64, 64, Fit::Contain, Format::Png),
            spec("ow", 64, 64, Fit::Contain, Format::Webp),
        ];
        let thumbs = render(&data, "image/jpeg", &specs);
        let swapped = orientation >= 5;
        for v in &thumbs.variants {
            let d = decode(v.format, &v.data);
            if swapped {
                assert!(
                    d.height > d.width,
                    "orientation {orientation}: portrait after rotation, got {}x{}",
                    d.width,
                    d.height
                );
            } else {
                assert!(
                    d.width > d.height,
                    "orientation {orientation}: landscape, got {}x{}",
                    d.width,
                    d.height
                );
            }
            for (corner, (got, want)) in common::corners(&d)
                .iter()
                .zip(DISPLAYED[orientation as usize - 1])
                .enumerate()
            {
                let want = fx::QUADRANT_COLOURS[want];
                assert!(
                    common::close(*got, want),
                    "orientation {orientation}, {} corner {corner}: got {got:?}, want {want:?}",
                    v.name
                );
            }
        }
    }
}

#[test]
fn large_jpeg_is_shrunk_on_load_not_fully_decoded() {
    // 4000×3000 = 12 MP: a full RGB decode is 36 MB. With DCT scaling the thumbnail guest
    // decodes at 1/8 (500×375), so its whole linear memory stays far below one full decode.
    let (w, h) = (4000, 3000);
    let data = fx::jpeg(&fx::quadrants(w, h), 80);
    let specs = [spec("thumb", 256, 256, Fit::Contain, Format::Webp)];
    let (thumbs, stats) = common::sandbox()
        .thumbnail(&data, &specs, limits(), u64::from(w * h))
        .unwrap();
    thumbs.unwrap();
    let full_decode = (w * h * 3) as usize;
    assert!(
        stats.peak_memory < full_decode / 2,
        "peak guest memory {} vs a full decode {full_decode}",
        stats.peak_memory
    );
}
