//! JPEG decoding through libjpeg-turbo, natively: what it refuses and how. libjpeg's
//! `error_exit` unwinds back to `render` as `Malformed`; warnings that mean lost image data
//! fail the decode instead of being painted grey. The same files go through the guest in
//! host/tests/jpeg_decoding.rs, where `error_exit` ends the instance instead.

use attach_fixtures as fx;
use media_probe::{Limits, MediaError};
use media_thumbnail::{render, Fit, Format, Thumbnails, VariantSpec};

fn specs(format: Format) -> Vec<VariantSpec> {
    vec![VariantSpec {
        name: "thumb".into(),
        max_width: 48,
        max_height: 48,
        fit: Fit::Contain,
        format,
        quality: 80,
    }]
}

fn render_png(data: &[u8]) -> Result<Thumbnails, MediaError> {
    render(data, &specs(Format::Png), &Limits::default())
}

fn malformed(what: &str, data: &[u8]) -> String {
    match render_png(data) {
        Err(MediaError::Malformed(reason)) => reason,
        other => panic!("{what}: expected malformed, got {other:?}"),
    }
}

#[test]
fn a_huffman_table_claiming_more_codes_than_exist_is_malformed_with_libjpegs_reason() {
    let reason = malformed("bogus DHT", &fx::jpeg_bogus_huffman_table());
    assert!(reason.contains("Bogus Huffman table"), "{reason}");
}

#[test]
fn scan_data_that_no_huffman_code_matches_is_malformed_not_painted_grey() {
    let reason = malformed("corrupt scan", &fx::jpeg_corrupt_scan());
    assert!(reason.contains("Huffman"), "{reason}");
}

#[test]
fn a_jpeg_cut_short_in_its_scan_is_malformed_not_padded_with_grey() {
    let photo = fx::photo(320, 200, 21);
    for (what, data) in [
        ("baseline", fx::jpeg(&photo, 85)),
        ("progressive", fx::jpeg_progressive(&photo, 85)),
    ] {
        // Past the headers (a few hundred bytes), inside the entropy-coded data.
        for fraction in [0.5, 0.9, 0.99] {
            malformed(
                &format!("{what} cut at {fraction}"),
                &fx::truncated(&data, fraction),
            );
        }
    }
}

#[test]
fn megabytes_of_marker_segments_are_skipped_and_the_image_renders() {
    let data = fx::jpeg_huge_markers(64);
    assert!(data.len() > 64 * fx::MARKER_SEGMENT_MAX_PAYLOAD);
    let out = render_png(&data).expect("junk segments are skipped");
    assert_eq!(out.variants.len(), 1);
}

#[test]
fn an_arithmetic_coded_jpeg_is_refused_by_name_as_before() {
    let arithmetic = fx::jpeg_arithmetic(&fx::photo(96, 64, 7), 90);
    let probed = media_probe::probe(&arithmetic, &Limits::default()).unwrap();
    assert!(
        probed.jpeg_process.unwrap().arithmetic,
        "the fixture is SOF9"
    );
    match render_png(&arithmetic) {
        Err(MediaError::Unsupported(reason)) => assert!(reason.contains("arithmetic"), "{reason}"),
        other => panic!("expected unsupported, got {other:?}"),
    }
}

#[test]
fn tens_of_thousands_of_empty_app14_segments_render_like_the_image_without_them() {
    // libjpeg reads APP14 itself for the Adobe flag; nothing saves the segments.
    let plain = fx::jpeg_empty_segments(0xEE, 0);
    let padded = fx::jpeg_empty_segments(0xEE, 40_000);
    assert_eq!(render_png(&padded).unwrap(), render_png(&plain).unwrap());
}

/// `jpeg` with its APP14 segment replaced by `replacement` (nothing, or other bytes).
fn replace_app14(jpeg: &[u8], replacement: &[u8]) -> Vec<u8> {
    let mut at = 2;
    while jpeg[at] == 0xFF && jpeg[at + 1] != 0xEE {
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    assert_eq!(jpeg[at + 1], 0xEE, "the CMYK fixture has an Adobe segment");
    let end = at + 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    [&jpeg[..at], replacement, &jpeg[end..]].concat()
}

#[test]
fn cmyk_is_inverted_exactly_when_libjpeg_recognises_an_adobe_segment() {
    let (w, h) = (32u16, 16u16);
    let cmyk: Vec<u8> = (0..usize::from(w) * usize::from(h))
        .flat_map(|i| {
            if i % 32 < 16 {
                [0, 255, 255, 0]
            } else {
                [255, 255, 0, 0]
            }
        })
        .collect();
    let mut adobe = Vec::new();
    jpeg_encoder::Encoder::new(&mut adobe, 90)
        .encode(&cmyk, w, h, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    let without = replace_app14(&adobe, &[]);
    // "Adobe" in a segment too short for the transform byte: libjpeg ignores it, so must we.
    let short = replace_app14(&adobe, b"\xFF\xEE\x00\x07Adobe");
    let with = render_png(&adobe).unwrap();
    let without = render_png(&without).unwrap();
    assert_ne!(
        with, without,
        "the Adobe segment changes how the ink is read"
    );
    assert_eq!(render_png(&short).unwrap(), without);
}

#[test]
fn every_eighth_of_dct_scaling_is_used_to_decode_no_more_than_the_largest_variant_needs() {
    // 800x800 to a 300 px box: 3/8 (300 px) serves it; powers of two alone would decode 4/8.
    let data = fx::jpeg(&fx::photo(800, 800, 3), 85);
    let mut specs = specs(Format::Webp);
    specs[0].max_width = 300;
    specs[0].max_height = 300;
    assert_eq!(
        media_thumbnail::decoded_size(&data, &specs, &Limits::default()).unwrap(),
        (300, 300)
    );
}

#[test]
fn a_twelve_bit_frame_goes_to_jpeg_decoder_and_is_refused_by_name_as_before() {
    // The 8-bit photo relabelled as extended 12-bit (SOF1, P = 12). libjpeg-turbo, built for
    // 8-bit samples, would stop with "Unsupported JPEG data precision 12" (malformed, through
    // `error_exit`); jpeg-decoder, which gets the frame, names the feature (unsupported).
    let mut data = fx::jpeg(&fx::photo(64, 48, 5), 90);
    let sof = (2..data.len() - 1)
        .find(|&i| data[i] == 0xFF && data[i + 1] == 0xC0)
        .expect("baseline SOF0");
    data[sof + 1] = 0xC1;
    data[sof + 4] = 12;
    let process = media_probe::probe(&data, &Limits::default())
        .unwrap()
        .jpeg_process
        .unwrap();
    assert_eq!(process.precision, 12);
    match render_png(&data) {
        Err(MediaError::Unsupported(reason)) => {
            assert!(reason.contains("SamplePrecision(12)"), "{reason}")
        }
        other => panic!("expected jpeg-decoder's unsupported, got {other:?}"),
    }
}
