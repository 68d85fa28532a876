//! The guest libraries, natively: what runs inside the probe, scan and thumbnail guests, with
//! the invariants the host and the users of the results rely on.

use media_probe::{Kind, Limits, MediaError};
use media_scan::Verdict;
use media_thumbnail::{Fit, Format, Thumbnails, VariantSpec};

/// The variant set every thumbnail target renders: one per encoder and fit, with boxes small
/// enough that an execution is dominated by the decode the fuzzer is steering, not the encode.
pub const SPECS: &[&str] = &[
    "thumb:32x32:webp:70:cover",
    "preview:48x40:jpeg:80:contain",
    "icon:16x16:auto:90:contain",
    "flat:24x12:png:100:cover",
];

/// [`SPECS`] as the thumbnail library takes them.
pub fn specs() -> Vec<VariantSpec> {
    SPECS
        .iter()
        .map(|s| {
            let parts: Vec<&str> = s.split(':').collect();
            let (w, h) = parts[1].split_once('x').expect("a WxH box");
            VariantSpec {
                name: parts[0].to_string(),
                max_width: w.parse().expect("a width"),
                max_height: h.parse().expect("a height"),
                format: match parts[2] {
                    "webp" => Format::Webp,
                    "jpeg" => Format::Jpeg,
                    "png" => Format::Png,
                    _ => Format::Auto,
                },
                quality: parts[3].parse().expect("a quality"),
                fit: if parts[4] == "cover" {
                    Fit::Cover
                } else {
                    Fit::Contain
                },
            }
        })
        .collect()
}

/// The limits the guests get by default: what production runs.
pub fn limits() -> Limits {
    Limits::default()
}

/// The probe reads headers only and enforces the limits before anything is decoded: what it
/// accepts is within them, describes the sniffed kind, and is the same on a second read.
pub fn probe(data: &[u8]) {
    let limits = limits();
    let result = media_probe::probe(data, &limits);
    if let Ok(info) = &result {
        assert_eq!(
            info.kind,
            media_probe::sniff(data),
            "probe and sniff disagree"
        );
        assert_eq!(info.mime, info.kind.mime(), "mime is not the kind's own");
        assert!(
            (1..=8).contains(&info.orientation),
            "orientation {}",
            info.orientation
        );
        let pixels = u64::from(info.width) * u64::from(info.height);
        assert!(
            pixels <= limits.max_pixels,
            "{pixels} pixels passed the limit"
        );
        assert!(
            info.frames <= limits.max_frames,
            "{} frames passed",
            info.frames
        );
        assert!(
            info.total_frame_area <= limits.max_total_frame_area,
            "frame area {} passed",
            info.total_frame_area
        );
        if is_raster(info.kind) {
            assert!(info.width > 0 && info.height > 0, "a raster of 0 pixels");
            assert!(info.frames >= 1, "a raster with no frame");
        }
    }
    check_error(result.as_ref().err());
    assert_eq!(
        media_probe::probe(data, &limits),
        result,
        "probe is not deterministic"
    );
}

/// The scan reports a finding per rule at most, from the published rule list, with bounded
/// details, and a verdict that is the worst of its findings; it never fails.
pub fn scan(data: &[u8]) {
    for declared in ["", "image/jpeg"] {
        let report = media_scan::scan(data, declared, &limits())
            .unwrap_or_else(|e| panic!("the scan refused an input: {e}"));
        assert_eq!(
            report.kind,
            media_probe::sniff(data),
            "scan and sniff disagree"
        );
        let worst = report
            .findings
            .iter()
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Verdict::Clean);
        assert_eq!(report.verdict, worst, "verdict is not the worst finding's");
        for (i, f) in report.findings.iter().enumerate() {
            assert!(
                media_scan::rules::ALL.contains(&f.rule),
                "unknown rule {:?}",
                f.rule
            );
            assert!(
                report.findings[..i].iter().all(|g| g.rule != f.rule),
                "rule {} reported twice",
                f.rule
            );
            assert!(
                f.detail.len() <= attachd::sandbox::GUEST_STRING_MAX,
                "a {}-byte detail",
                f.detail.len()
            );
        }
    }
}

/// Decode, orient, resize and encode with [`SPECS`]: every variant fits its box, is in the
/// format asked for (or `auto`'s choice) with that format's signature, and the whole set is
/// under the output cap.
pub fn thumbnail(data: &[u8]) {
    let (specs, limits) = (specs(), limits());
    let result = media_thumbnail::render(data, &specs, &limits);
    if let Ok(thumbs) = &result {
        check_thumbnails(thumbs, &specs, limits.max_output_bytes);
    }
    check_error(result.as_ref().err());
}

/// Checks a thumbnail set against the specs it was rendered for.
pub fn check_thumbnails(thumbs: &Thumbnails, specs: &[VariantSpec], max_output_bytes: u64) {
    assert_eq!(thumbs.variants.len(), specs.len(), "a variant went missing");
    let mut total = 0u64;
    for (v, spec) in thumbs.variants.iter().zip(specs) {
        assert_eq!(v.name, spec.name);
        assert!(
            v.width >= 1 && v.width <= spec.max_width,
            "{}: width {}",
            v.name,
            v.width
        );
        assert!(
            v.height >= 1 && v.height <= spec.max_height,
            "{}: height {}",
            v.name,
            v.height
        );
        match (spec.format, v.format) {
            (Format::Auto, Format::Jpeg | Format::Png) => {}
            (asked, written) => assert_eq!(asked, written, "{}: wrong format", v.name),
        }
        check_signature(v.format, &v.data);
        // The file itself says the same size: what a browser will lay out.
        let read = media_probe::probe(&v.data, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: the variant's own headers do not read: {e}", v.name));
        assert_eq!(
            (read.width, read.height),
            (v.width, v.height),
            "{}: the file's headers and the variant's size differ",
            v.name
        );
        total += v.data.len() as u64;
    }
    assert!(
        total <= max_output_bytes,
        "{total} output bytes passed the cap"
    );
    check_placeholder(&thumbs.placeholder);
}

/// A variant's bytes start as its format's files do.
pub fn check_signature(format: Format, data: &[u8]) {
    let ok = match format {
        Format::Jpeg => data.starts_with(&[0xFF, 0xD8, 0xFF]),
        Format::Png => data.starts_with(b"\x89PNG\r\n\x1a\n"),
        Format::Webp => data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP",
        Format::Auto => false,
    };
    assert!(ok, "a {format:?} variant without its signature");
}

/// A ThumbHash is at most 25 bytes: 36 characters of padded base64.
fn check_placeholder(placeholder: &str) {
    assert!(
        !placeholder.is_empty()
            && placeholder.len() <= 36
            && placeholder.len().is_multiple_of(4)
            && placeholder
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='),
        "placeholder {placeholder:?} is not padded base64 of a ThumbHash"
    );
}

/// ThumbHash of arbitrary pixels: the first two bytes are the size (1 to 100 each side), the
/// rest the RGBA pixels, repeated to fill the image. Any size it accepts gives a hash.
pub fn thumbhash(data: &[u8]) {
    let [w, h, pixels @ ..] = data else {
        return;
    };
    let (width, height) = (u32::from(*w) % 101, u32::from(*h) % 101);
    let len = (width * height * 4) as usize;
    let rgba: Vec<u8> = if pixels.is_empty() {
        vec![0; len]
    } else {
        pixels.iter().copied().cycle().take(len).collect()
    };
    match media_thumbnail::placeholder_of_rgba(width, height, rgba) {
        Ok(hash) => {
            assert!(width > 0 && height > 0, "a hash of an empty image");
            check_placeholder(&hash);
        }
        Err(e) => assert!(
            width == 0 || height == 0,
            "a {width}x{height} image was refused: {e}"
        ),
    }
}

fn is_raster(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp | Kind::Heic | Kind::Avif
    )
}

/// An error names what went wrong, within the length a guest string may have.
fn check_error(error: Option<&MediaError>) {
    if let Some(e) = error {
        let message = e.to_string();
        assert!(!message.is_empty(), "an error without a message");
        assert!(!e.code().is_empty(), "an error without a code");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attach_fixtures as fx;
    use media_thumbnail::Rendered;

    fn one_variant(width: u32, format: Format, data: Vec<u8>) -> Thumbnails {
        Thumbnails {
            variants: vec![Rendered {
                name: "thumb".into(),
                format,
                width,
                height: 10,
                data,
            }],
            placeholder: "1QcSHQRnh493V4dIh4eXh1h4kJUI".into(),
        }
    }

    fn webp(width: u32) -> Vec<u8> {
        fx::webp_lossy(&fx::photo(width, 10, 1), 70)
    }

    fn thumb_spec() -> Vec<VariantSpec> {
        specs().into_iter().take(1).collect()
    }

    #[test]
    fn a_variant_within_its_box_with_its_signature_passes() {
        check_thumbnails(
            &one_variant(32, Format::Webp, webp(32)),
            &thumb_spec(),
            1 << 20,
        );
    }

    #[test]
    #[should_panic(expected = "width")]
    fn a_variant_wider_than_its_box_breaks_the_invariant() {
        check_thumbnails(
            &one_variant(33, Format::Webp, webp(33)),
            &thumb_spec(),
            1 << 20,
        );
    }

    #[test]
    #[should_panic(expected = "headers and the variant's size differ")]
    fn a_variant_whose_file_has_another_size_breaks_the_invariant() {
        check_thumbnails(
            &one_variant(32, Format::Webp, webp(30)),
            &thumb_spec(),
            1 << 20,
        );
    }

    #[test]
    #[should_panic(expected = "signature")]
    fn a_variant_whose_bytes_are_another_format_breaks_the_invariant() {
        let png = fx::png_rgb(&fx::photo(32, 10, 1));
        check_thumbnails(&one_variant(32, Format::Webp, png), &thumb_spec(), 1 << 20);
    }

    #[test]
    #[should_panic(expected = "output bytes")]
    fn variants_over_the_output_cap_break_the_invariant() {
        check_thumbnails(&one_variant(32, Format::Webp, webp(32)), &thumb_spec(), 8);
    }
}
