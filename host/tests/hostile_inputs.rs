//! Hostile uploads through the real guests: each is rejected, or processed safely within the
//! limits, with a clear code. None makes the host panic, abort or hang.

mod common;

use attach_fixtures as fx;
use attachd::error::ErrorCode;
use attachd::pipeline::{Outcome, Status};
use attachd::sandbox::Verdict;
use attachd::variant;

fn run(data: &[u8], mime: &str) -> Outcome {
    common::pipeline().run(data, mime, &variant::defaults())
}

fn code(o: &Outcome) -> Option<&'static str> {
    o.result.as_ref().err().map(|e| e.code())
}

fn assert_rejected(what: &str, o: &Outcome, expected_code: &str) {
    assert_eq!(
        o.status(),
        Status::Rejected,
        "{what}: {:?}",
        o.result.as_ref().err().map(|e| e.to_string())
    );
    assert_eq!(
        code(o),
        Some(expected_code),
        "{what}: {:?}",
        o.result.as_ref().err().map(|e| e.to_string())
    );
}

fn finding_rules(o: &Outcome) -> Vec<String> {
    o.scan
        .iter()
        .flat_map(|s| &s.findings)
        .map(|f| f.rule.clone())
        .collect()
}

#[test]
fn png_declaring_30000_by_30000_is_rejected_before_decoding() {
    let data = fx::png_bomb_30000();
    assert!(data.len() < 10 << 20, "the bomb itself is small");
    assert_rejected("png bomb", &run(&data, "image/png"), "too-many-pixels");
}

#[test]
fn png_declaring_the_largest_dimensions_is_rejected() {
    assert_rejected(
        "2^31-1 png",
        &run(&fx::png_max_dims(), "image/png"),
        "too-many-pixels",
    );
}

#[test]
fn jpeg_whose_sof_says_65500_square_is_rejected() {
    assert_rejected(
        "65500 jpeg",
        &run(&fx::jpeg_sof_65500(), "image/jpeg"),
        "too-many-pixels",
    );
}

#[test]
fn progressive_jpeg_with_hundreds_of_scans_is_rejected_as_too_complex() {
    assert_rejected(
        "many scans",
        &run(&fx::jpeg_many_scans(400), "image/jpeg"),
        "structure-too-complex",
    );
}

#[test]
fn truncated_images_fail_cleanly_or_render_what_is_there() {
    let photo = fx::photo(320, 200, 21);
    for (what, data, mime) in [
        ("jpeg", fx::jpeg(&photo, 85), "image/jpeg"),
        (
            "progressive jpeg",
            fx::jpeg_progressive(&photo, 85),
            "image/jpeg",
        ),
        ("png", fx::png_rgb(&photo), "image/png"),
        ("gif", fx::gif(&photo), "image/gif"),
    ] {
        for fraction in [0.1, 0.5, 0.9] {
            let o = run(&fx::truncated(&data, fraction), mime);
            match code(&o) {
                None | Some("malformed-input") => {}
                other => panic!("truncated {what} at {fraction}: unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn gif_with_20000_frames_on_a_huge_canvas_is_rejected() {
    assert_rejected(
        "gif canvas",
        &run(&fx::gif_many_frames(20_000, 10_000, 10_000), "image/gif"),
        "too-many-pixels",
    );
}

#[test]
fn gif_with_20000_small_frames_is_rejected_for_its_frame_count() {
    assert_rejected(
        "gif frames",
        &run(&fx::gif_many_frames(20_000, 100, 100), "image/gif"),
        "too-many-frames",
    );
}

#[test]
fn tiff_whose_ifd_points_to_itself_fails_as_malformed() {
    let o = run(&fx::tiff_ifd_loop(), "image/tiff");
    assert_eq!(o.status(), Status::Failed);
    assert_eq!(code(&o), Some("malformed-input"));
}

#[test]
fn jpeg_with_a_looping_or_oversized_exif_block_is_processed_without_its_exif() {
    for (what, data) in [
        ("ifd loop", fx::jpeg_exif_ifd_loop()),
        ("huge count", fx::jpeg_exif_huge_count()),
    ] {
        let o = run(&data, "image/jpeg");
        let thumbs = o.result.unwrap_or_else(|e| panic!("{what}: {e}"));
        for v in &thumbs.variants {
            assert!(
                !common::contains(&v.data, b"Exif"),
                "{what}: no EXIF in {}",
                v.name
            );
        }
    }
}

#[test]
fn jpeg_with_an_unreadable_exif_block_is_ready_with_a_clean_metadata_unreadable_finding() {
    for fault in fx::ExifFault::ALL {
        let o = run(&fx::jpeg_exif_unreadable(fault), "image/jpeg");
        assert_eq!(
            o.status(),
            Status::Ready,
            "{fault:?}: {:?}",
            o.result.as_ref().err().map(|e| e.to_string())
        );
        // IFD0's Orientation 6 stands only when the fault is met after IFD0 was read.
        let orientation = match fault {
            fx::ExifFault::SubIfdLoop => 6,
            _ => 1,
        };
        let probe = o.probe.as_ref().expect("probed");
        assert_eq!(probe.orientation, orientation, "{fault:?}");
        assert!(probe.has_exif, "{fault:?}");
        let scan = o.scan.as_ref().expect("scanned");
        assert_eq!(
            scan.verdict,
            Verdict::Clean,
            "{fault:?}: {:?}",
            scan.findings
        );
        let finding = scan
            .findings
            .iter()
            .find(|f| f.rule == "metadata-unreadable")
            .unwrap_or_else(|| panic!("{fault:?}: {:?}", finding_rules(&o)));
        assert_eq!(finding.verdict, Verdict::Clean, "{fault:?}");
        // The 64x48 photo, displayed turned a quarter for orientation 6.
        let thumb = &o.result.as_ref().unwrap().variants[0];
        let landscape = thumb.width > thumb.height;
        assert_eq!(
            landscape,
            orientation == 1,
            "{fault:?}: {}x{}",
            thumb.width,
            thumb.height
        );
    }
    // A readable EXIF block gets no such finding.
    let o = run(
        &fx::with_exif_orientation(&fx::jpeg(&fx::photo(64, 48, 5), 80), 6),
        "image/jpeg",
    );
    assert_eq!(o.status(), Status::Ready);
    assert!(finding_rules(&o).is_empty(), "{:?}", finding_rules(&o));
}

#[test]
fn html_named_png_is_rejected_by_the_scan() {
    let o = run(&fx::html_page(), "image/png");
    assert_rejected("html as png", &o, "scan-rejected");
    assert!(
        finding_rules(&o).contains(&"mime-mismatch".to_string()),
        "{:?}",
        finding_rules(&o)
    );
}

#[test]
fn pdf_named_png_is_rejected_by_the_scan() {
    let o = run(&fx::pdf_doc(), "image/png");
    assert_rejected("pdf as png", &o, "scan-rejected");
    assert!(
        finding_rules(&o).contains(&"mime-mismatch".to_string()),
        "{:?}",
        finding_rules(&o)
    );
}

#[test]
fn png_named_jpg_is_flagged_but_processed_as_png() {
    let o = run(&fx::png_rgb(&fx::photo(200, 100, 2)), "image/jpeg");
    assert_eq!(
        o.status(),
        Status::Ready,
        "{:?}",
        o.result.as_ref().err().map(|e| e.to_string())
    );
    assert_eq!(o.probe.as_ref().map(|p| p.mime.as_str()), Some("image/png"));
    assert!(finding_rules(&o).contains(&"mime-mismatch".to_string()));
}

#[test]
fn jpeg_with_a_zip_appended_is_rejected_as_a_polyglot() {
    let o = run(&fx::jpeg_with_zip_appended(), "image/jpeg");
    assert_rejected("jpeg+zip", &o, "scan-rejected");
    assert!(
        finding_rules(&o).contains(&"embedded-zip".to_string()),
        "{:?}",
        finding_rules(&o)
    );
}

#[test]
fn svg_with_script_is_rejected() {
    let o = run(&fx::svg_with_script(), "image/svg+xml");
    assert_rejected("svg script", &o, "scan-rejected");
    assert!(
        finding_rules(&o).contains(&"svg-script".to_string()),
        "{:?}",
        finding_rules(&o)
    );
}

#[test]
fn svg_with_an_external_entity_is_rejected() {
    let o = run(&fx::svg_with_external_entity(), "image/svg+xml");
    assert_rejected("svg xxe", &o, "scan-rejected");
    assert!(
        finding_rules(&o).contains(&"svg-entity".to_string()),
        "{:?}",
        finding_rules(&o)
    );
}

#[test]
fn eicar_test_file_is_rejected() {
    let o = run(&fx::eicar(), "image/png");
    assert_rejected("eicar", &o, "scan-rejected");
    assert!(
        finding_rules(&o).contains(&"eicar-test-signature".to_string()),
        "{:?}",
        finding_rules(&o)
    );
}

#[test]
fn input_over_the_byte_limit_is_rejected_unread() {
    let limits = attachd::config::InputLimits {
        max_input_bytes: 1000,
        ..Default::default()
    };
    let p = attachd::pipeline::Pipeline::new(common::sandbox(), limits);
    let o = p.run(&vec![0u8; 1001], "image/png", &variant::defaults());
    assert_rejected("big input", &o, "input-too-large");
    assert!(o.probe.is_none(), "no guest saw it");
}

#[test]
fn non_image_types_are_rejected_as_unsupported() {
    let o = run(b"just some plain text, nothing to render", "text/plain");
    assert_rejected("text", &o, "unsupported-type");
}
