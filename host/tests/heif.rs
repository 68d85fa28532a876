//! HEIC uploads through the real guests: the probe reads the structure, the heif guest decodes
//! (heifer) and renders the same variants as the thumbnail guest, the transforms the file
//! declares are what a viewer shows, colour is converted to sRGB, no metadata survives, and
//! hostile structures fail fast with a clean permanent code while the host goes on.

mod common;

use std::process::Command;

use attach_fixtures as fx;
use attachd::config::SandboxLimits;
use attachd::error::{Class, ErrorCode};
use attachd::pipeline::{Outcome, Status};
use attachd::sandbox::{Fit, Format, MediaError, Sandbox, VariantSpec};
use attachd::variant;
use common::{avifenc, contains, decode};

fn spec(name: &str, side: u32, format: Format) -> VariantSpec {
    VariantSpec {
        name: name.into(),
        max_width: side,
        max_height: side,
        fit: Fit::Contain,
        format,
        quality: 90,
    }
}

fn run(data: &[u8], specs: &[VariantSpec]) -> Outcome {
    common::pipeline().run(data, "image/heic", specs)
}

fn code(o: &Outcome) -> Option<&'static str> {
    o.result.as_ref().err().map(|e| e.code())
}

#[test]
fn heic_photos_render_through_the_heif_guest_inside_their_boxes() {
    let cases = [
        (
            "one picture",
            fx::heic(&fx::photo(320, 240, 1), 80),
            (320, 240),
        ),
        (
            "512-pixel grid",
            fx::heic(&fx::photo(1100, 700, 2), 70),
            (1100, 700),
        ),
        (
            "odd size (clap)",
            fx::heic(&fx::photo(301, 201, 3), 80),
            (301, 201),
        ),
        (
            "10-bit",
            fx::heic_10bit(&fx::photo(200, 150, 4), 80),
            (200, 150),
        ),
    ];
    let specs = variant::defaults();
    for (what, data, (w, h)) in cases {
        let o = run(&data, &specs);
        assert_eq!(
            o.status(),
            Status::Ready,
            "{what}: {:?}",
            o.result.as_ref().err()
        );
        let probe = o.probe.as_ref().unwrap();
        assert_eq!((probe.width, probe.height), (w, h), "{what}");
        let thumbs = o.result.unwrap();
        assert!(!thumbs.placeholder.is_empty());
        for (v, s) in thumbs.variants.iter().zip(&specs) {
            let d = decode(v.format, &v.data);
            assert_eq!(
                (d.width, d.height),
                (v.width, v.height),
                "{what} {}",
                v.name
            );
            assert!(
                v.width <= s.max_width && v.height <= s.max_height,
                "{what} {}",
                v.name
            );
            // The aspect ratio is kept (to a pixel), and nothing is upscaled.
            let expect_h = (f64::from(v.width) * f64::from(h) / f64::from(w)).round() as u32;
            assert!(
                v.height.abs_diff(expect_h) <= 1,
                "{what} {}: {}x{}",
                v.name,
                v.width,
                v.height
            );
            assert!(v.width <= w, "{what} {}", v.name);
        }
    }
}

#[test]
fn every_rotation_and_mirror_a_heic_declares_is_displayed_on_pictures_and_grids() {
    assert_every_transform_displays("image/heic", &|display, quarters, mirror, grid| {
        fx::heic_transformed(display, quarters, mirror, grid)
    });
}

#[test]
fn an_exif_orientation_inside_a_heic_is_not_applied_again() {
    // The coded pixels are upright and the file has no irot: an EXIF Orientation of 6 (turn
    // a quarter clockwise) describes nothing a viewer should do.
    let data = fx::heic_with_exif_orientation(&fx::quadrants(160, 96), 6);
    let o = run(&data, &[spec("o", 64, Format::Png)]);
    let probe = o.probe.as_ref().unwrap();
    assert!(probe.has_exif, "the file does carry EXIF");
    assert_eq!(probe.orientation, 1);
    let thumbs = o.result.unwrap();
    let d = decode(Format::Png, &thumbs.variants[0].data);
    assert!(
        d.width > d.height,
        "still landscape: {}x{}",
        d.width,
        d.height
    );
    common::assert_quadrants(&d, "EXIF orientation 6 in a HEIC");
}

/// Builds a file that shows a raster with a rotation (quarters), a mirror, on a grid or not.
type MakeTransformed<'a> = &'a dyn Fn(&fx::Rgb, u8, Option<fx::Mirror>, bool) -> Vec<u8>;

/// For every `irot` and `imir` on a single picture and on a grid, the file `make` builds
/// (showing quadrants) renders landscape with each quadrant's colour where a viewer shows it.
fn assert_every_transform_displays(mime: &str, make: MakeTransformed<'_>) {
    let display = fx::quadrants(160, 96);
    for grid in [false, true] {
        for quarters in 0..4u8 {
            for mirror in [
                None,
                Some(fx::Mirror::LeftRight),
                Some(fx::Mirror::TopBottom),
            ] {
                let what = format!("{mime}: grid {grid}, irot {quarters}, imir {mirror:?}");
                let data = make(&display, quarters, mirror, grid);
                let o = common::pipeline().run(&data, mime, &[spec("o", 64, Format::Png)]);
                let thumbs = o.result.unwrap_or_else(|e| panic!("{what}: {e}"));
                let d = decode(Format::Png, &thumbs.variants[0].data);
                assert!(
                    d.width > d.height,
                    "{what}: landscape as displayed, got {}x{}",
                    d.width,
                    d.height
                );
                common::assert_quadrants(&d, &what);
            }
        }
    }
}

#[test]
fn a_heic_written_by_libheif_and_x265_renders_with_its_alpha() {
    // An independent encoder: Debian's heif-enc (libheif with x265), which `make test`'s
    // set-up installs. Quadrants with a transparent vignette, as PNG in, HEIC out.
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("in.png");
    let heic = dir.path().join("out.heic");
    let rgba = fx::alpha_vignette(&fx::quadrants(128, 96));
    std::fs::write(&png, fx::png_rgba(&rgba)).unwrap();
    let status = Command::new("heif-enc")
        .args(["-q", "90", "-o"])
        .arg(&heic)
        .arg(&png)
        .output()
        .expect("heif-enc runs (scripts/setup.sh installs libheif-examples)");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let data = std::fs::read(&heic).unwrap();

    let o = run(
        &data,
        &[spec("auto", 64, Format::Auto), spec("p", 64, Format::Png)],
    );
    assert!(
        o.probe.as_ref().unwrap().has_alpha,
        "the probe sees the alpha plane"
    );
    let thumbs = o.result.unwrap();
    assert_eq!(
        thumbs.variants[0].format,
        Format::Png,
        "transparency keeps auto as PNG"
    );
    let d = decode(Format::Png, &thumbs.variants[1].data);
    assert!(common::close(
        d.pixel(d.width / 3, d.height / 3),
        fx::QUADRANT_COLOURS[0]
    ));
}

#[test]
fn no_metadata_from_a_heic_survives_into_any_variant() {
    let data = fx::heic_with_metadata(&fx::photo(320, 240, 6));
    let specs = [
        spec("w", 128, Format::Webp),
        spec("j", 128, Format::Jpeg),
        spec("p", 128, Format::Png),
    ];
    let o = run(&data, &specs);
    let probe = o.probe.as_ref().unwrap();
    assert!(
        probe.has_exif && probe.has_xmp,
        "the input does carry EXIF and XMP"
    );
    let sandbox = common::sandbox();
    for v in o.result.unwrap().variants {
        for marker in [b"Exif".as_slice(), fx::XMP_CREATOR.as_bytes(), b"MM\0*"] {
            assert!(
                !contains(&v.data, marker),
                "{}: {:?} leaked",
                v.name,
                marker
            );
        }
        let (p, _) = sandbox.probe(&v.data, common::roomy_limits()).unwrap();
        let p = p.unwrap();
        assert!(
            !p.has_exif && !p.has_gps && !p.has_xmp && !p.has_icc,
            "{}",
            v.name
        );
    }
}

#[test]
fn display_p3_colours_are_converted_to_srgb() {
    // A saturated red in Display P3 lies outside sRGB: converted, its red channel rises and
    // its green falls compared with the same samples read as sRGB.
    let img = fx::Rgb::filled(64, 64, [200, 60, 60]);
    let specs = [spec("p", 32, Format::Png)];
    let centre = |data: &[u8]| {
        let thumbs = run(data, &specs).result.unwrap();
        let d = decode(Format::Png, &thumbs.variants[0].data);
        d.pixel(16, 16)
    };
    let srgb = centre(&fx::heic(&img, 95));
    let p3 = centre(&fx::heic_display_p3(&img));
    assert!(p3[0] > srgb[0] + 8, "red rises: P3 {p3:?}, sRGB {srgb:?}");
    assert!(p3[1] + 8 < srgb[1], "green falls: P3 {p3:?}, sRGB {srgb:?}");
}

#[test]
fn hostile_heic_structures_fail_fast_with_clean_permanent_codes() {
    let photo = fx::heic(&fx::photo(640, 480, 7), 80);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a grid claiming 10,000 tiles",
            fx::heic_grid_claiming(10_000),
            "structure-too-complex",
        ),
        (
            "ispe of 100000x100000",
            fx::heic_claiming_size(100_000, 100_000),
            "too-many-pixels",
        ),
        (
            "an image derived from itself",
            fx::heic_self_derived(),
            "malformed-input",
        ),
        (
            "cut inside its meta box",
            photo[..200].to_vec(),
            "malformed-input",
        ),
        (
            "cut inside its coded data",
            fx::truncated(&photo, 0.6),
            "malformed-input",
        ),
        (
            "cut after a few bytes of data",
            fx::truncated(&photo, 0.97),
            "malformed-input",
        ),
    ];
    for (what, data, want) in cases {
        let started = std::time::Instant::now();
        let o = run(&data, &variant::defaults());
        let err = o.result.as_ref().err().map(|e| e.to_string());
        assert_eq!(code(&o), Some(want), "{what}: {err:?}");
        let class = o.result.as_ref().err().map(|e| e.class());
        assert_eq!(class, Some(Class::Permanent), "{what}: {err:?}");
        // Refused from the headers or at the first bad byte: well under a second of guest
        // work on a debug host (a sanity bound for a hang, not a benchmark).
        assert!(
            started.elapsed().as_secs() < 20,
            "{what} took {:?}",
            started.elapsed()
        );
    }
    // Structures two readers could read two ways, or that multiply the decoding work.
    for fault in fx::HeifFault::ALL {
        let o = run(&fx::heic_with_fault(fault), &variant::defaults());
        let want = match fault {
            fx::HeifFault::RepeatedTile => "frame-area-too-large",
            fx::HeifFault::AlphaGridOfManyTiles | fx::HeifFault::ManyLocations => {
                "structure-too-complex"
            }
            _ => "malformed-input",
        };
        assert_eq!(code(&o), Some(want), "{fault:?}");
    }
    // A bitstream larger than the size its item declares: refused by the decoder before it
    // decodes (heifer's and rav1d's picture limit is the item's ispe with its padding), not
    // decoded at the bitstream's size into the budget of the declared one.
    let big = fx::photo(512, 512, 8);
    let avif = avifenc(&fx::png_rgb(&big), &[]);
    let heic = fx::heic(&big, 80);
    for (what, file, mime) in [
        ("heic", fx::heif_with_ispe(&heic, 16, 16), "image/heic"),
        ("avif", fx::heif_with_ispe(&avif, 16, 16), "image/avif"),
        // An item nothing references claiming a big size changes nothing.
        (
            "heic with a decoy",
            fx::heif_with_ispe_and_decoy(&heic, 16, 16),
            "image/heic",
        ),
        // A grid whose data claims a canvas its ispe does not: nothing is allocated.
        (
            "heic grid data",
            fx::heif_grid_data_claiming(&heic, 7000, 7000),
            "image/heic",
        ),
        (
            "avif grid data",
            fx::heif_grid_data_claiming(&avif, 7000, 7000),
            "image/avif",
        ),
    ] {
        let o = common::pipeline().run(&file, mime, &variant::defaults());
        let err = o.result.as_ref().err().map(|e| e.to_string());
        assert_eq!(code(&o), Some("malformed-input"), "{what}: {err:?}");
    }
    // The grid canvases are refused before they are allocated: under a 64 MiB cap, where a
    // 7000x7000 canvas (196 MB) would be `guest-memory-limit`, they are `malformed-input`.
    let small = Sandbox::load(
        &common::paths(),
        SandboxLimits {
            memory_bytes: 64 << 20,
            ..SandboxLimits::default()
        },
    )
    .expect("load the guests");
    for file in [
        fx::heif_grid_data_claiming(&heic, 7000, 7000),
        fx::heif_grid_data_claiming(&avif, 7000, 7000),
    ] {
        let specs = variant::defaults();
        let (r, _) = small
            .heif(&file, &specs, common::roomy_limits(), 1024 * 512)
            .expect("the call ends with the guest's own answer, not a limit");
        assert!(matches!(r, Err(MediaError::Malformed(_))), "{r:?}");
    }
    // As many items as the limit allows: read in one pass, not out of the probe's fuel.
    let many = fx::heic_with_items(media_probe::MAX_HEIF_ITEMS);
    let o = run(&many, &variant::defaults());
    assert_eq!(
        o.status(),
        Status::Ready,
        "{:?}",
        o.result.as_ref().err().map(|e| e.to_string())
    );
    let too_many = fx::heic_with_items(media_probe::MAX_HEIF_ITEMS + 1);
    assert_eq!(
        code(&run(&too_many, &variant::defaults())),
        Some("structure-too-complex")
    );
    // The host goes on: a good file right after renders.
    assert_eq!(run(&photo, &variant::defaults()).status(), Status::Ready);
}

#[test]
fn each_guest_decodes_only_its_own_formats() {
    let sandbox = common::sandbox();
    let heic = fx::heic(&fx::photo(64, 48, 8), 80);
    let jpeg = fx::jpeg(&fx::photo(64, 48, 8), 80);
    let specs = [spec("t", 32, Format::Webp)];
    let limits = common::roomy_limits();
    let (r, _) = sandbox.thumbnail(&heic, &specs, limits, 64 * 48).unwrap();
    assert!(
        matches!(r, Err(MediaError::Unsupported(_))),
        "the thumbnail guest has no HEVC decoder: {r:?}"
    );
    let (r, _) = sandbox.heif(&jpeg, &specs, limits, 64 * 48).unwrap();
    assert!(
        matches!(r, Err(MediaError::Unsupported(_))),
        "the heif guest has no JPEG decoder: {r:?}"
    );
    let (r, _) = sandbox.heif(&heic, &specs, limits, 64 * 48).unwrap();
    r.expect("the heif guest renders HEIC");
}

#[test]
fn a_memory_cap_too_small_for_the_picture_is_a_clean_permanent_error() {
    // 16 MiB of linear memory cannot hold a 2000x1500 decode (12 MB of RGBA alone).
    let small = Sandbox::load(
        &common::paths(),
        SandboxLimits {
            memory_bytes: 16 << 20,
            ..SandboxLimits::default()
        },
    )
    .expect("load the guests");
    let big = fx::heic(&fx::photo(2000, 1500, 9), 60);
    let specs = [spec("t", 256, Format::Webp)];
    let limits = common::roomy_limits();
    let err = small.heif(&big, &specs, limits, 2000 * 1500).unwrap_err();
    assert_eq!(err.code(), "guest-memory-limit", "{err}");
    assert_eq!(
        err.class(),
        Class::Permanent,
        "the same bytes fail the same way: {err}"
    );
    // The same sandbox goes on serving what fits.
    let (r, _) = small
        .heif(
            &fx::heic(&fx::photo(200, 150, 9), 80),
            &specs,
            limits,
            200 * 150,
        )
        .unwrap();
    r.expect("a small HEIC renders under the same cap");
}

#[test]
fn avif_photos_of_every_depth_and_subsampling_render_through_the_heif_guest() {
    let quadrants = fx::quadrants(160, 96);
    let png = fx::png_rgb(&quadrants);
    let cases: [(&str, &[&str]); 5] = [
        ("8-bit 4:2:0", &["-y", "420"]),
        ("8-bit 4:4:4", &["-y", "444"]),
        ("8-bit 4:2:2", &["-y", "422"]),
        ("10-bit", &["-d", "10"]),
        ("12-bit", &["-d", "12"]),
    ];
    for (what, args) in cases {
        let data = avifenc(&png, args);
        let o = common::pipeline().run(&data, "image/avif", &[spec("p", 80, Format::Png)]);
        assert_eq!(o.probe.as_ref().unwrap().kind, attachd::sandbox::Kind::Avif);
        let thumbs = o.result.unwrap_or_else(|e| panic!("{what}: {e}"));
        let d = decode(Format::Png, &thumbs.variants[0].data);
        assert_eq!((d.width, d.height), (80, 48), "{what}");
        common::assert_quadrants(&d, what);
    }
    // Monochrome (4:0:0): one plane, read as grey.
    let data = avifenc(&png, &["-y", "400"]);
    let thumbs = common::pipeline()
        .run(&data, "image/avif", &[spec("p", 80, Format::Png)])
        .result
        .unwrap();
    let d = decode(Format::Png, &thumbs.variants[0].data);
    let [r, g, b] = d.pixel(20, 12);
    assert!(r == g && g == b, "grey: {r} {g} {b}");
}

#[test]
fn display_p3_and_bt2020_avif_colours_are_converted_to_srgb() {
    let png = fx::png_rgb(&fx::Rgb::filled(64, 64, [200, 60, 60]));
    let centre = |cicp: &str| {
        let data = avifenc(&png, &["-y", "444", "--cicp", cicp]);
        let o = common::pipeline().run(&data, "image/avif", &[spec("p", 32, Format::Png)]);
        decode(Format::Png, &o.result.unwrap().variants[0].data).pixel(16, 16)
    };
    let srgb = centre("1/13/6");
    for (space, cicp) in [("Display P3", "12/13/6"), ("BT.2020", "9/13/6")] {
        let wide = centre(cicp);
        assert!(
            wide[0] > srgb[0] + 8,
            "{space}: red rises: {wide:?}, sRGB {srgb:?}"
        );
        assert!(
            wide[1] + 8 < srgb[1],
            "{space}: green falls: {wide:?}, sRGB {srgb:?}"
        );
    }
}

#[test]
fn an_avif_alpha_plane_keeps_transparency() {
    let rgba = fx::alpha_vignette(&fx::quadrants(128, 96));
    let data = avifenc(&fx::png_rgba(&rgba), &[]);
    let o = common::pipeline().run(&data, "image/avif", &[spec("a", 64, Format::Auto)]);
    assert!(
        o.probe.as_ref().unwrap().has_alpha,
        "the probe sees the alpha item"
    );
    let thumbs = o.result.unwrap();
    assert_eq!(
        thumbs.variants[0].format,
        Format::Png,
        "transparency keeps auto as PNG"
    );
}

#[test]
fn every_rotation_and_mirror_an_avif_declares_is_displayed_on_pictures_and_grids() {
    let encode = |tile: &fx::Rgb| avifenc(&fx::png_rgb(tile), &["-y", "444"]);
    assert_every_transform_displays("image/avif", &|display, quarters, mirror, grid| {
        fx::avif_transformed(display, quarters, mirror, grid, &encode)
    });
}

#[test]
fn a_cut_or_corrupt_avif_is_malformed_and_permanent() {
    let data = avifenc(&fx::png_rgb(&fx::photo(320, 240, 11)), &[]);
    let mut corrupt = data.clone();
    // Flip bytes in the middle of the AV1 data (the mdat comes last).
    let at = corrupt.len() - corrupt.len() / 4;
    for b in &mut corrupt[at..at + 64] {
        *b ^= 0x5a;
    }
    for (what, bytes) in [
        ("cut in half", fx::truncated(&data, 0.5)),
        ("cut near the end", fx::truncated(&data, 0.95)),
        ("corrupt AV1 data", corrupt),
    ] {
        let o = common::pipeline().run(&bytes, "image/avif", &variant::defaults());
        let err = o.result.as_ref().err().map(|e| e.to_string());
        // A corrupt tile may still decode to some picture; when a decoder stops on it (this
        // one stops rav1d on an assertion: a panic, which the heif guest turns into giving up)
        // the code is the input's, permanent, never a trap or a retry.
        if let Some(e) = o.result.as_ref().err() {
            assert_eq!(e.class(), Class::Permanent, "{what}: {err:?}");
            assert_eq!(e.code(), "malformed-input", "{what}: {err:?}");
        } else {
            assert_eq!(what, "corrupt AV1 data", "a cut file must not render");
        }
    }
}
