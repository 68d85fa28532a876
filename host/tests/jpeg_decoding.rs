//! JPEG decoding in the real thumbnail guest (libjpeg-turbo built for wasm32): libjpeg's
//! fatal errors, which cannot return, end the guest instance and surface as the permanent
//! `malformed-input` with libjpeg's reason, never as a guest trap; warnings about lost data
//! fail the same way; what libjpeg-turbo reads that the previous decoder did not (arithmetic
//! coding) renders.

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
fn an_arithmetic_coded_jpeg_is_ready_with_the_same_variants_as_its_huffman_twin() {
    let img = fx::photo(640, 480, 7);
    let arithmetic = run(&fx::jpeg_arithmetic(&img, 90));
    let huffman = run(&fx::jpeg_libjpeg_huffman(&img, 90));
    let a = arithmetic.result.expect("arithmetic coding is read");
    let h = huffman.result.unwrap();
    assert_eq!(a.variants.len(), variant::defaults().len());
    for (a, h) in a.variants.iter().zip(&h.variants) {
        assert_eq!(a.data, h.data, "variant {}", a.name);
    }
    assert_eq!(a.placeholder, h.placeholder);
}
