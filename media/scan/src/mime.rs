//! The `mime-mismatch` rule: what the uploader declared against what the bytes are.
//!
//! The declared type matters because it is what a careless server later serves the file
//! as, and what a browser trusts: an HTML page uploaded as `image/png` is stored-XSS the
//! moment anything serves it with the declared type or lets the browser sniff it.

use media_probe::Kind;

use crate::bytes::{has_at_ci, trim};
use crate::{rules, Findings, Verdict};

/// Declared MIME types (and their common aliases) that name a kind. The first entry of a
/// kind is its canonical name in details. Compared ignoring ASCII case, after parameters
/// are stripped.
const MIME_KINDS: &[(&str, Kind)] = &[
    ("image/jpeg", Kind::Jpeg),
    ("image/jpg", Kind::Jpeg),
    ("image/pjpeg", Kind::Jpeg),
    ("image/jfif", Kind::Jpeg),
    ("image/png", Kind::Png),
    ("image/x-png", Kind::Png),
    ("image/apng", Kind::Png),
    ("image/vnd.mozilla.apng", Kind::Png),
    ("image/gif", Kind::Gif),
    ("image/webp", Kind::Webp),
    ("image/tiff", Kind::Tiff),
    ("image/tif", Kind::Tiff),
    ("image/x-tiff", Kind::Tiff),
    ("image/bmp", Kind::Bmp),
    ("image/x-bmp", Kind::Bmp),
    ("image/x-ms-bmp", Kind::Bmp),
    ("image/vnd.microsoft.icon", Kind::Ico),
    ("image/x-icon", Kind::Ico),
    ("image/ico", Kind::Ico),
    ("image/icon", Kind::Ico),
    ("image/avif", Kind::Avif),
    ("image/heic", Kind::Heic),
    ("image/heif", Kind::Heic),
    ("image/heic-sequence", Kind::Heic),
    ("image/heif-sequence", Kind::Heic),
    ("image/svg+xml", Kind::Svg),
    ("image/svg", Kind::Svg),
    ("application/pdf", Kind::Pdf),
    ("application/x-pdf", Kind::Pdf),
    ("text/html", Kind::Html),
    ("application/xhtml+xml", Kind::Html),
    ("application/zip", Kind::Zip),
    ("application/x-zip-compressed", Kind::Zip),
    ("application/x-zip", Kind::Zip),
    ("application/java-archive", Kind::Zip),
    ("application/epub+zip", Kind::Zip),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Kind::Zip,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Kind::Zip,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Kind::Zip,
    ),
    ("application/vnd.oasis.opendocument.text", Kind::Zip),
    ("application/vnd.oasis.opendocument.spreadsheet", Kind::Zip),
    ("application/gzip", Kind::Gzip),
    ("application/x-gzip", Kind::Gzip),
    ("video/mp4", Kind::Mp4),
    ("audio/mp4", Kind::Mp4),
    ("video/x-m4v", Kind::Mp4),
    ("audio/x-m4a", Kind::Mp4),
    ("video/3gpp", Kind::Mp4),
    ("video/quicktime", Kind::Quicktime),
    ("video/webm", Kind::Webm),
    ("audio/webm", Kind::Webm),
    ("video/x-matroska", Kind::Matroska),
    ("video/matroska", Kind::Matroska),
    ("audio/x-matroska", Kind::Matroska),
    ("video/x-msvideo", Kind::Avi),
    ("video/avi", Kind::Avi),
    ("video/msvideo", Kind::Avi),
    ("application/vnd.apple.mpegurl", Kind::Hls),
    ("application/x-mpegurl", Kind::Hls),
    ("audio/mpegurl", Kind::Hls),
    ("audio/x-mpegurl", Kind::Hls),
    ("application/x-executable", Kind::Elf),
    ("application/x-elf", Kind::Elf),
    ("application/x-sharedlib", Kind::Elf),
    ("application/vnd.microsoft.portable-executable", Kind::Pe),
    ("application/x-msdownload", Kind::Pe),
    ("application/x-dosexec", Kind::Pe),
];

/// Types that claim nothing about the content: clients send them when they do not know.
/// They get no `mime-mismatch` finding, because there is no claim to contradict, and the
/// dangerous kinds are caught by their own rules (`executable`, `media-playlist`, the
/// embedded signatures) whatever the declared type.
const GENERIC_MIMES: &[&str] = &[
    "application/octet-stream",
    "binary/octet-stream",
    "application/binary",
    "application/unknown",
    "application/x-unknown",
    "*/*",
];

/// Longest declared type worth reading: RFC 6838 caps type and subtype at 127 characters
/// each. Anything longer is garbage and is treated as an unrecognised type.
const MAX_MIME_LEN: usize = 255;

/// What the uploader declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    /// Nothing, or a type that claims nothing.
    Nothing,
    /// A type that names a kind.
    Known(Kind),
    /// Some other `image/*` type (JPEG XL, JPEG 2000, ...).
    OtherImage,
    /// Some other type.
    Other,
}

/// The media type without parameters or surrounding whitespace.
fn essence(declared: &str) -> &[u8] {
    let d = declared.as_bytes();
    let d = d.split(|&b| b == b';').next().unwrap_or(d);
    trim(d)
}

fn classify(declared: &str) -> Declared {
    let e = essence(declared);
    if e.is_empty()
        || GENERIC_MIMES
            .iter()
            .any(|g| e.eq_ignore_ascii_case(g.as_bytes()))
    {
        return Declared::Nothing;
    }
    if e.len() > MAX_MIME_LEN {
        return Declared::Other;
    }
    if let Some(&(_, kind)) = MIME_KINDS
        .iter()
        .find(|(m, _)| e.eq_ignore_ascii_case(m.as_bytes()))
    {
        return Declared::Known(kind);
    }
    if has_at_ci(e, 0, b"image/") {
        Declared::OtherImage
    } else {
        Declared::Other
    }
}

/// Whether the declared type is SVG, so the SVG rules run even when sniffing did not call
/// the content SVG (a browser trusting the declared type would still render it as one).
pub(crate) fn declares_svg(declared: &str) -> bool {
    classify(declared) == Declared::Known(Kind::Svg)
}

/// The canonical MIME type of a kind, for details.
fn canonical(kind: Kind) -> &'static str {
    MIME_KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("unknown", |(m, _)| m)
}

/// Kinds whose content a browser, a renderer or an extractor treats as active or
/// dangerous. `svg_active` says whether the SVG rules found script or external references.
fn is_dangerous(kind: Kind, svg_active: bool) -> bool {
    match kind {
        Kind::Html | Kind::Pdf | Kind::Elf | Kind::Pe | Kind::Zip | Kind::Hls => true,
        Kind::Svg => svg_active,
        _ => false,
    }
}

/// Pairs of kinds that honest tools mix up: an iPhone `.mov` is routinely declared
/// `video/mp4` (both are ISO-BMFF), and WebM is a Matroska profile.
fn compatible(declared: Kind, actual: Kind) -> bool {
    use Kind::*;
    matches!(
        (declared, actual),
        (Mp4, Quicktime) | (Quicktime, Mp4) | (Webm, Matroska) | (Matroska, Webm)
    )
}

/// Verdicts: a dangerous real kind under any other declared type is Reject, since that is
/// the disguise stored-XSS and polyglot attacks rely on; any other contradiction (a PNG
/// declared as JPEG, a video declared as an image) is Suspicious, because sloppy clients
/// and renamed files produce it honestly and every decoder reads by magic anyway. Content
/// that matches no known format gets a finding only if the declared type names a kind
/// sniffing knows, since otherwise the declared format may just be one it cannot see.
pub(crate) fn check(kind: Kind, declared_mime: &str, svg_active: bool, findings: &mut Findings) {
    let declared = classify(declared_mime);
    let shown = || crate::bytes::snippet(essence(declared_mime));
    let verdict = match declared {
        Declared::Nothing => return,
        Declared::Known(k) if k == kind || compatible(k, kind) => return,
        Declared::OtherImage | Declared::Other if kind == Kind::Unknown => return,
        _ if is_dangerous(kind, svg_active) => Verdict::Reject,
        _ => Verdict::Suspicious,
    };
    findings.add(rules::MIME_MISMATCH, verdict, || {
        if kind == Kind::Unknown {
            format!(
                "declared {} but the content matches no known format",
                shown()
            )
        } else {
            format!(
                "declared {} but the content is {}",
                shown(),
                canonical(kind)
            )
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mismatch(kind: Kind, declared: &str, svg_active: bool) -> Option<Verdict> {
        let mut f = Findings::default();
        check(kind, declared, svg_active, &mut f);
        f.verdict_of(rules::MIME_MISMATCH)
    }

    #[test]
    fn declared_type_is_normalised_before_comparing() {
        assert_eq!(mismatch(Kind::Jpeg, "image/jpeg", false), None);
        assert_eq!(mismatch(Kind::Jpeg, "IMAGE/JPG", false), None);
        assert_eq!(mismatch(Kind::Jpeg, " image/pjpeg ; q=1", false), None);
        assert_eq!(
            mismatch(Kind::Png, "image/png; charset=binary", false),
            None
        );
        assert_eq!(mismatch(Kind::Ico, "image/x-icon", false), None);
        assert_eq!(
            mismatch(Kind::Svg, "image/svg+xml; charset=utf-8", false),
            None
        );
    }

    #[test]
    fn png_declared_as_jpeg_is_suspicious() {
        assert_eq!(
            mismatch(Kind::Png, "image/jpeg", false),
            Some(Verdict::Suspicious)
        );
    }

    #[test]
    fn active_content_declared_as_image_is_rejected() {
        for kind in [
            Kind::Html,
            Kind::Pdf,
            Kind::Elf,
            Kind::Pe,
            Kind::Zip,
            Kind::Hls,
        ] {
            assert_eq!(
                mismatch(kind, "image/png", false),
                Some(Verdict::Reject),
                "{kind:?}"
            );
        }
        assert_eq!(
            mismatch(Kind::Svg, "image/png", true),
            Some(Verdict::Reject)
        );
    }

    #[test]
    fn passive_svg_declared_as_png_is_only_suspicious() {
        assert_eq!(
            mismatch(Kind::Svg, "image/png", false),
            Some(Verdict::Suspicious)
        );
    }

    #[test]
    fn empty_or_generic_declared_type_claims_nothing() {
        for declared in [
            "",
            "   ",
            "application/octet-stream",
            "Application/Octet-Stream; x=y",
        ] {
            assert_eq!(mismatch(Kind::Html, declared, false), None, "{declared:?}");
        }
    }

    #[test]
    fn unknown_content_mismatches_only_a_type_sniffing_knows() {
        assert_eq!(
            mismatch(Kind::Unknown, "image/png", false),
            Some(Verdict::Suspicious)
        );
        assert_eq!(mismatch(Kind::Unknown, "image/jxl", false), None);
        assert_eq!(mismatch(Kind::Unknown, "text/plain", false), None);
    }

    #[test]
    fn known_content_under_an_unrelated_type_is_suspicious() {
        assert_eq!(
            mismatch(Kind::Png, "image/jxl", false),
            Some(Verdict::Suspicious)
        );
        assert_eq!(
            mismatch(Kind::Mp4, "image/gif", false),
            Some(Verdict::Suspicious)
        );
        assert_eq!(
            mismatch(Kind::Html, "text/plain", false),
            Some(Verdict::Reject)
        );
    }

    #[test]
    fn iso_bmff_and_matroska_siblings_are_not_a_mismatch() {
        assert_eq!(mismatch(Kind::Quicktime, "video/mp4", false), None);
        assert_eq!(mismatch(Kind::Matroska, "video/webm", false), None);
    }

    #[test]
    fn overlong_declared_type_is_unrecognised_and_detail_is_bounded() {
        let long = format!("image/{}", "a".repeat(10_000));
        let mut f = Findings::default();
        check(Kind::Png, &long, false, &mut f);
        let report = f.into_report(Kind::Png);
        assert_eq!(report.verdict, Verdict::Suspicious);
        assert!(report.findings[0].detail.len() < 200);
    }

    #[test]
    fn declares_svg_accepts_aliases_and_parameters() {
        assert!(declares_svg("image/SVG+xml;charset=utf-8"));
        assert!(!declares_svg("image/png"));
    }
}
