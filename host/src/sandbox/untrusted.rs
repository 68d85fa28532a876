//! Checks on what guests return. A guest is parsing a stranger's bytes and may be under the
//! stranger's control, so nothing it returns reaches a row, a log, a queue or storage before the
//! host has checked it against what was asked and what the host can see for itself:
//!
//! - every string is cut to [`GUEST_STRING_MAX`] bytes (error messages, finding details), and
//!   names that become labels or keys must be short tokens;
//! - a probe's MIME type must be the host's own for the kind it names, its orientation 1..=8;
//! - a scan's verdict is at least as severe as its worst finding, with at most
//!   [`MAX_FINDINGS`] findings;
//! - thumbnails (checked in [`super::Sandbox::thumbnail`] with the specs at hand): exactly the
//!   requested variants, once each; the requested format; dimensions inside the requested box;
//!   the format's magic bytes; the probe guest's reading of the encoded bytes agreeing on
//!   kind and dimensions, with no metadata carried over; and the scan guest finding nothing in
//!   them (no bytes after the image, no embedded document, script or signature).
//!
//! The sizes are bounded earlier still: wasmtime's hostcall fuel refuses to copy more than the
//! output cap out of the guest, checked against the lengths before anything is copied.

use super::{
    Finding, Format, Kind, MediaError, ProbeInfo, Rendered, Report, SandboxError, Thumbnails,
    VariantSpec, Verdict,
};

/// Guest strings kept (error messages, finding details): enough for any real explanation,
/// small enough for a `failedReason` in Redis, a log line and a database column.
pub const GUEST_STRING_MAX: usize = 4096;
/// Findings one scan may report: the scan guest's rules number a few dozen, and each fires once.
pub const MAX_FINDINGS: usize = 256;
/// A finding's rule name is a metric label and a JSON key: a short kebab-case token.
const MAX_RULE_LEN: usize = 64;
/// A ThumbHash is at most 25 bytes: 36 base64 characters with padding. Anything longer is not
/// one.
const MAX_PLACEHOLDER_LEN: usize = 36;

/// Cuts `s` to at most [`GUEST_STRING_MAX`] bytes, on a character boundary.
pub fn truncate(mut s: String) -> String {
    const MARK: &str = " [truncated]";
    if s.len() > GUEST_STRING_MAX {
        let mut end = GUEST_STRING_MAX - MARK.len();
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(MARK);
    }
    s
}

fn media_error(e: MediaError) -> MediaError {
    match e {
        MediaError::Malformed(m) => MediaError::Malformed(truncate(m)),
        MediaError::Unsupported(m) => MediaError::Unsupported(truncate(m)),
        MediaError::EncodeFailed(m) => MediaError::EncodeFailed(truncate(m)),
        hit @ MediaError::LimitExceeded(_) => hit,
    }
}

fn invalid(guest: &'static str, reason: impl Into<String>) -> SandboxError {
    SandboxError::InvalidOutput {
        guest,
        reason: truncate(reason.into()),
    }
}

/// The host's own MIME type for each kind: the row's `sniffed_mime` comes from here, never
/// from a string a guest made up. The same table as the probe library's, on purpose: the host
/// does not take it from guest code (a unit test keeps the two equal).
pub fn mime_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Jpeg => "image/jpeg",
        Kind::Png => "image/png",
        Kind::Gif => "image/gif",
        Kind::Webp => "image/webp",
        Kind::Tiff => "image/tiff",
        Kind::Bmp => "image/bmp",
        Kind::Ico => "image/vnd.microsoft.icon",
        Kind::Avif => "image/avif",
        Kind::Heic => "image/heic",
        Kind::Svg => "image/svg+xml",
        Kind::Pdf => "application/pdf",
        Kind::Html => "text/html",
        Kind::Zip => "application/zip",
        Kind::Gzip => "application/gzip",
        Kind::Mp4 => "video/mp4",
        Kind::Quicktime => "video/quicktime",
        Kind::Webm => "video/webm",
        Kind::Matroska => "video/x-matroska",
        Kind::Avi => "video/x-msvideo",
        Kind::Hls => "application/vnd.apple.mpegurl",
        Kind::Elf => "application/x-executable",
        Kind::Pe => "application/vnd.microsoft.portable-executable",
        Kind::Unknown => "application/octet-stream",
    }
}

/// Checks a probe guest's answer.
pub fn probe(
    r: Result<ProbeInfo, MediaError>,
) -> Result<Result<ProbeInfo, MediaError>, SandboxError> {
    let info = match r {
        Ok(info) => info,
        Err(e) => return Ok(Err(media_error(e))),
    };
    if info.mime != mime_of(info.kind) {
        return Err(invalid(
            "probe",
            format!(
                "MIME type {:?} for kind {:?} (the host's is {})",
                info.mime,
                info.kind,
                mime_of(info.kind)
            ),
        ));
    }
    if !(1..=8).contains(&info.orientation) {
        return Err(invalid(
            "probe",
            format!("EXIF orientation {} is not 1..=8", info.orientation),
        ));
    }
    Ok(Ok(info))
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Clean => 0,
        Verdict::Suspicious => 1,
        Verdict::Reject => 2,
    }
}

/// Checks a scan guest's answer.
pub fn scan(r: Result<Report, MediaError>) -> Result<Result<Report, MediaError>, SandboxError> {
    let mut report = match r {
        Ok(report) => report,
        Err(e) => return Ok(Err(media_error(e))),
    };
    if report.findings.len() > MAX_FINDINGS {
        return Err(invalid(
            "scan",
            format!(
                "{} findings, more than {MAX_FINDINGS}",
                report.findings.len()
            ),
        ));
    }
    let mut findings = Vec::with_capacity(report.findings.len());
    for f in std::mem::take(&mut report.findings) {
        let token = !f.rule.is_empty()
            && f.rule.len() <= MAX_RULE_LEN
            && f.rule
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !token {
            return Err(invalid(
                "scan",
                format!(
                    "finding rule {:?} is not a kebab-case name of at most {MAX_RULE_LEN} bytes",
                    truncate(f.rule)
                ),
            ));
        }
        findings.push(Finding {
            detail: truncate(f.detail),
            ..f
        });
    }
    // A verdict milder than its own findings is a lie that would publish: take the worst.
    if let Some(worst) = findings
        .iter()
        .map(|f| f.verdict)
        .max_by_key(|v| severity(*v))
    {
        if severity(worst) > severity(report.verdict) {
            report.verdict = worst;
        }
    }
    report.findings = findings;
    Ok(Ok(report))
}

/// The error half of a thumbnail answer; the variants are checked with the specs in
/// [`check_variants`].
pub fn thumbnails(r: Result<Thumbnails, MediaError>) -> Result<Thumbnails, MediaError> {
    r.map_err(media_error)
}

/// The kind a rendered format must sniff as, and whether its magic bytes are there.
pub fn format_kind(format: Format, data: &[u8]) -> Option<(Kind, bool)> {
    match format {
        Format::Jpeg => Some((Kind::Jpeg, data.starts_with(&[0xFF, 0xD8, 0xFF]))),
        Format::Png => Some((Kind::Png, data.starts_with(b"\x89PNG\r\n\x1a\n"))),
        Format::Webp => Some((
            Kind::Webp,
            data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP",
        )),
        Format::Auto => None,
    }
}

fn format_allowed(asked: Format, got: Format) -> bool {
    match asked {
        Format::Auto => matches!(got, Format::Jpeg | Format::Png),
        other => other == got,
    }
}

/// Checks the variants against the specs, without the re-probe: exactly the requested names,
/// once each, in the requested format and box, with the format's magic bytes, and a
/// placeholder that can be a ThumbHash. Returns the variants in the specs' order.
pub fn check_variants(
    specs: &[VariantSpec],
    thumbs: Thumbnails,
) -> Result<Thumbnails, SandboxError> {
    let guest = "thumbnail";
    if thumbs.variants.len() != specs.len() {
        return Err(invalid(
            guest,
            format!(
                "{} variants for {} requested",
                thumbs.variants.len(),
                specs.len()
            ),
        ));
    }
    let mut slots: Vec<Option<Rendered>> = specs.iter().map(|_| None).collect();
    for v in thumbs.variants {
        let Some(i) = specs.iter().position(|s| s.name == v.name) else {
            return Err(invalid(
                guest,
                format!("a variant named {:?} nobody asked for", truncate(v.name)),
            ));
        };
        let spec = &specs[i];
        if slots[i].is_some() {
            return Err(invalid(guest, format!("variant {:?} twice", v.name)));
        }
        if !format_allowed(spec.format, v.format) {
            return Err(invalid(
                guest,
                format!(
                    "variant {:?} is {:?}, {:?} was asked",
                    v.name, v.format, spec.format
                ),
            ));
        }
        if v.width == 0 || v.height == 0 || v.width > spec.max_width || v.height > spec.max_height {
            return Err(invalid(
                guest,
                format!(
                    "variant {:?} claims {}x{}, outside its {}x{} box",
                    v.name, v.width, v.height, spec.max_width, spec.max_height
                ),
            ));
        }
        match format_kind(v.format, &v.data) {
            Some((_, true)) => {}
            _ => {
                return Err(invalid(
                    guest,
                    format!(
                        "variant {:?} does not start with {:?} magic bytes",
                        v.name, v.format
                    ),
                ))
            }
        }
        slots[i] = Some(v);
    }
    let placeholder = thumbs.placeholder;
    let body = placeholder.trim_end_matches('=');
    let base64 = placeholder.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'));
    if placeholder.len() > MAX_PLACEHOLDER_LEN || !base64 {
        return Err(invalid(
            guest,
            format!(
                "placeholder of {} bytes is not a base64 ThumbHash",
                placeholder.len()
            ),
        ));
    }
    Ok(Thumbnails {
        // Every slot is filled: as many variants as specs, none twice, each matched to one.
        variants: slots.into_iter().flatten().collect(),
        placeholder,
    })
}

/// Checks the scan guest's report on a rendered variant: a variant is re-encoded from pixels,
/// so any finding (bytes after the image's end, an embedded document or script, a test
/// signature) means the thumbnail guest wrote more than an image.
pub fn check_rescan(v: &Rendered, report: &Report) -> Result<(), SandboxError> {
    if report.verdict == Verdict::Clean && report.findings.is_empty() {
        return Ok(());
    }
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    Err(invalid(
        "thumbnail",
        format!(
            "variant {:?} is not a plain image: the scan found {}",
            v.name,
            rules.join(", ")
        ),
    ))
}

/// Checks the probe guest's reading of a rendered variant against the variant's claims.
pub fn check_reprobe(v: &Rendered, read: &ProbeInfo) -> Result<(), SandboxError> {
    let guest = "thumbnail";
    let want = format_kind(v.format, &v.data).map(|(k, _)| k);
    if want != Some(read.kind) {
        return Err(invalid(
            guest,
            format!(
                "variant {:?} claims {:?} but its bytes are {:?}",
                v.name, v.format, read.kind
            ),
        ));
    }
    if (read.width, read.height) != (v.width, v.height) {
        return Err(invalid(
            guest,
            format!(
                "variant {:?} claims {}x{} but its bytes are {}x{}",
                v.name, v.width, v.height, read.width, read.height
            ),
        ));
    }
    if read.has_exif || read.has_gps || read.has_xmp || read.has_comment || read.has_icc {
        return Err(invalid(
            guest,
            format!("variant {:?} carries metadata over from the upload", v.name),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_mime_table_agrees_with_the_probe_library_for_every_kind() {
        use media_probe::Kind as P;
        let probe_kinds = [
            P::Jpeg,
            P::Png,
            P::Gif,
            P::Webp,
            P::Tiff,
            P::Bmp,
            P::Ico,
            P::Avif,
            P::Heic,
            P::Svg,
            P::Pdf,
            P::Html,
            P::Zip,
            P::Gzip,
            P::Mp4,
            P::Quicktime,
            P::Webm,
            P::Matroska,
            P::Avi,
            P::Hls,
            P::Elf,
            P::Pe,
            P::Unknown,
        ];
        let host_kinds = [
            Kind::Jpeg,
            Kind::Png,
            Kind::Gif,
            Kind::Webp,
            Kind::Tiff,
            Kind::Bmp,
            Kind::Ico,
            Kind::Avif,
            Kind::Heic,
            Kind::Svg,
            Kind::Pdf,
            Kind::Html,
            Kind::Zip,
            Kind::Gzip,
            Kind::Mp4,
            Kind::Quicktime,
            Kind::Webm,
            Kind::Matroska,
            Kind::Avi,
            Kind::Hls,
            Kind::Elf,
            Kind::Pe,
            Kind::Unknown,
        ];
        for k in host_kinds {
            let name = crate::pipeline::kind_name(k);
            let p = probe_kinds
                .iter()
                .find(|p| p.name() == name)
                .unwrap_or_else(|| panic!("no probe kind named {name}"));
            assert_eq!(mime_of(k), p.mime(), "{name}");
        }
    }

    #[test]
    fn long_guest_strings_are_cut_on_a_character_boundary() {
        let s = truncate("é".repeat(10_000));
        assert!(s.len() <= GUEST_STRING_MAX);
        assert!(s.ends_with(" [truncated]"));
        assert_eq!(truncate("short".into()), "short");
    }

    #[test]
    fn a_scan_verdict_milder_than_its_findings_is_raised() {
        let r = Report {
            verdict: Verdict::Clean,
            kind: Kind::Png,
            findings: vec![Finding {
                rule: "svg-script".into(),
                verdict: Verdict::Reject,
                detail: "x".repeat(100_000),
            }],
        };
        let checked = scan(Ok(r)).unwrap().unwrap();
        assert_eq!(checked.verdict, Verdict::Reject);
        assert!(checked.findings[0].detail.len() <= GUEST_STRING_MAX);
    }

    #[test]
    fn a_finding_rule_that_is_not_a_token_is_refused() {
        let r = Report {
            verdict: Verdict::Clean,
            kind: Kind::Png,
            findings: vec![Finding {
                rule: "a rule\nwith=label\"breaking".into(),
                verdict: Verdict::Clean,
                detail: String::new(),
            }],
        };
        assert_eq!(
            crate::error::ErrorCode::code(&scan(Ok(r)).unwrap_err()),
            "guest-output-invalid"
        );
    }
}
