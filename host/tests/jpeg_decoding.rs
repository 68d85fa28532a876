//! JPEG decoding in the real thumbnail guest (libjpeg-turbo built for wasm32): libjpeg's
//! fatal errors, which cannot return, end the guest instance and surface as the permanent
//! `malformed-input` with libjpeg's reason, never as a guest trap; warnings about lost data
//! fail the same way; arithmetic coding is refused by name; segments libjpeg skips cost it
//! nothing they did not cost before.

mod common;

use attach_fixtures as fx;
use attachd::error::{Class, ErrorCode};
use attachd::pipeline::{Outcome, Status};
use attachd::variant;

fn run(data: &[u8]) -> Outcome {
    common::pipeline().run(data, "image/jpeg", &variant::defaults())
}

/// The outcome's code and message, asserting it failed as malformed input.
fn malformed(what: &str, o: &Outcome) -> String {
    let e = o.result.as_ref().expect_err(what);
    assert_eq!(e.code(), "malformed-input", "{what}: {e}");
    assert_eq!(o.status(), Status::Failed, "{what}: {e}");
    assert_eq!(e.class(), Class::Permanent, "{what}");
    e.to_string()
}

#[test]
fn libjpeg_giving_up_on_a_bogus_huffman_table_is_malformed_input_with_its_reason_not_a_trap() {
    let message = malformed("bogus DHT", &run(&fx::jpeg_bogus_huffman_table()));
    // libjpeg's own words, carried out of the ended instance through its stderr.
    assert!(message.contains("Bogus Huffman table"), "{message}");
    assert!(message.contains("gave up"), "{message}");
}

#[test]
fn scan_data_no_huffman_code_matches_is_malformed_input_not_a_grey_thumbnail() {
    let message = malformed("corrupt scan", &run(&fx::jpeg_corrupt_scan()));
    assert!(message.contains("Huffman"), "{message}");
}

#[test]
fn a_jpeg_cut_short_in_its_scan_is_malformed_input_not_padded_with_grey() {
    let photo = fx::photo(320, 200, 21);
    for (what, data) in [
        ("baseline", fx::jpeg(&photo, 85)),
        ("progressive", fx::jpeg_progressive(&photo, 85)),
    ] {
        for fraction in [0.5, 0.9, 0.99] {
            malformed(
                &format!("{what} cut at {fraction}"),
                &run(&fx::truncated(&data, fraction)),
            );
        }
    }
}

#[test]
fn megabytes_of_marker_segments_are_skipped_and_the_upload_is_ready() {
    let o = run(&fx::jpeg_huge_markers(64));
    assert_eq!(o.status(), Status::Ready, "{:?}", o.result.as_ref().err());
}

#[test]
fn an_arithmetic_coded_jpeg_is_refused_as_unsupported_input_as_before() {
    let o = run(&fx::jpeg_arithmetic(&fx::photo(640, 480, 7), 90));
    let e = o.result.as_ref().expect_err("arithmetic coding is refused");
    assert_eq!(e.code(), "unsupported-input", "{e}");
    assert_eq!(o.status(), Status::Rejected);
    assert!(e.to_string().contains("arithmetic"), "{e}");
}

#[test]
fn empty_app14_segments_cost_the_guest_no_more_fuel_than_any_other_skipped_segment() {
    // Saving APP14 segments (to look for Adobe's) would make libjpeg walk its list of saved
    // segments once per segment: quadratic fuel. Fuel is deterministic, so the comparison is
    // exact on any machine.
    const SEGMENTS: usize = 40_000;
    let sandbox = common::sandbox();
    let fuel = |marker: u8| {
        let data = fx::jpeg_empty_segments(marker, SEGMENTS);
        let (result, stats) = sandbox
            .thumbnail(&data, &variant::defaults(), common::roomy_limits(), 64 * 48)
            .expect("the guest returns");
        result.expect("the image renders");
        stats.fuel_used
    };
    let app13 = fuel(0xED);
    let app14 = fuel(0xEE);
    assert!(
        app14 < app13 * 2,
        "APP14 segments burned {app14} fuel, other segments {app13}"
    );
}
