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

/// The canonical MIME type of each kind, from the probe library's table (a constant the host
/// links, not anything a guest returns): the row's `sniffed_mime` can only be one of these.
pub fn mime_of(kind: Kind) -> &'static str {
    kind.library().mime()
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

/// PNG chunks a variant may hold, each with the only length it may have (`None`: any, for
/// the image data and the palette, which are checked otherwise): the image itself and
/// ancillary chunks of fixed size that carry no text of their own. Anything else (text,
/// private, EXIF, ICC chunks) is not what an encoder of plain pixels writes.
const PNG_CHUNKS: &[(&[u8; 4], Option<usize>)] = &[
    (b"IHDR", Some(13)),
    (b"PLTE", None),
    (b"tRNS", None),
    (b"IDAT", None),
    (b"IEND", Some(0)),
    (b"sRGB", Some(1)),
    (b"gAMA", Some(4)),
    (b"cHRM", Some(32)),
    (b"pHYs", Some(9)),
];
/// JPEG markers a variant may hold before and between scans: JFIF's APP0, tables, frame and
/// scan headers, restart interval. No other APPn (EXIF, XMP, ICC, IPTC, private), no comment.
const JPEG_MARKERS: &[u8] = &[0xE0, 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD, 0xDA];

/// CRC-32 as PNG computes it (ISO 3309), over a chunk's type and data.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The length a JPEG marker segment's body must have, from the tables it declares: what makes
/// room for bytes of the guest's choosing is a length larger than its content.
fn jpeg_segment_ok(marker: u8, body: &[u8]) -> bool {
    match marker {
        // JFIF without a thumbnail: identifier, version, units, densities, 0×0 thumbnail.
        0xE0 => body.len() == 14 && body.starts_with(b"JFIF\0") && body[12] == 0 && body[13] == 0,
        // Quantisation tables: each is one byte of precision and id, then 64 or 128 bytes.
        0xDB => {
            let mut at = 0;
            while at < body.len() {
                let size = if body[at] >> 4 == 0 { 64 } else { 128 };
                at += 1 + size;
            }
            at == body.len() && !body.is_empty()
        }
        // Huffman tables: class and id, 16 counts, then as many symbols as the counts add up.
        0xC4 => {
            let mut at = 0;
            while at < body.len() {
                let Some(counts) = body.get(at + 1..at + 17) else {
                    return false;
                };
                let symbols: usize = counts.iter().map(|&c| usize::from(c)).sum();
                at += 17 + symbols;
            }
            at == body.len() && !body.is_empty()
        }
        // Restart interval: two bytes.
        0xDD => body.len() == 2,
        // Frame header: precision, height, width, component count, three bytes a component.
        0xC0..=0xC2 => body.len() >= 6 && body.len() == 6 + 3 * usize::from(body[5]),
        // Scan header: component count, two bytes a component, then three bytes.
        0xDA => !body.is_empty() && body.len() == 4 + 2 * usize::from(body[0]),
        _ => false,
    }
}

/// Walks a variant's container (PNG chunks, JPEG segments, RIFF chunks) by lengths and tags
/// alone, decoding nothing: every chunk or segment must be one a plain-pixels encoder writes,
/// with the length its content calls for (and, for PNG, its CRC), in the order the format
/// requires, and nothing may follow the image's end. Safe Rust over a byte slice with every
/// length checked against what remains; it is the host's one look inside guest output, kept
/// to framing so that no decoder runs outside the sandbox. What it cannot see is the inside of
/// the compressed image data (IDAT, a JPEG scan, a VP8 frame): only a decoder could.
pub fn check_container(format: Format, d: &[u8]) -> Result<(), String> {
    let be32 = |at: usize| {
        d.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let le32 = |at: usize| {
        d.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match format {
        Format::Png => {
            let mut at = 8;
            let mut seen: Vec<[u8; 4]> = Vec::new();
            loop {
                let len = be32(at).ok_or("a PNG chunk header is cut off")? as usize;
                let tag: [u8; 4] = d
                    .get(at + 4..at + 8)
                    .and_then(|t| t.try_into().ok())
                    .ok_or("a PNG chunk header is cut off")?;
                let end = (at + 12)
                    .checked_add(len)
                    .filter(|&e| e <= d.len())
                    .ok_or("a PNG chunk runs past the end")?;
                let name = String::from_utf8_lossy(&tag).into_owned();
                let Some((_, fixed)) = PNG_CHUNKS.iter().find(|(t, _)| **t == tag) else {
                    return Err(format!("PNG chunk {name:?}"));
                };
                if fixed.is_some_and(|f| f != len) {
                    return Err(format!("PNG chunk {name:?} of {len} bytes"));
                }
                let body = &d[at + 8..at + 8 + len];
                let crc = be32(at + 8 + len).ok_or("a PNG chunk is cut off")?;
                if crc != crc32(&[&tag, body]) {
                    return Err(format!("PNG chunk {name:?} with a wrong CRC"));
                }
                let last = seen.last().copied();
                let ordered = match &tag {
                    b"IHDR" => seen.is_empty(),
                    // Image data runs in one sequence; everything else comes before it.
                    b"IDAT" => {
                        last.is_some() && (last == Some(*b"IDAT") || !seen.contains(b"IDAT"))
                    }
                    b"IEND" => last == Some(*b"IDAT"),
                    // A palette of at most 256 entries, and transparency no longer than it.
                    b"PLTE" => {
                        !seen.contains(b"IDAT") && len.is_multiple_of(3) && len <= 768 && len > 0
                    }
                    b"tRNS" => !seen.contains(b"IDAT") && len <= 256,
                    _ => !seen.is_empty() && !seen.contains(b"IDAT"),
                } && (tag == *b"IDAT" || !seen.contains(&tag));
                if !ordered {
                    return Err(format!("PNG chunk {name:?} out of place"));
                }
                seen.push(tag);
                at = end;
                if tag == *b"IEND" {
                    break;
                }
            }
            if at != d.len() {
                return Err(format!("{} bytes after PNG's IEND", d.len() - at));
            }
        }
        Format::Jpeg => {
            let mut at = 2;
            loop {
                if d.get(at) != Some(&0xFF) {
                    return Err(format!("no JPEG marker at byte {at}"));
                }
                let marker = *d.get(at + 1).ok_or("a JPEG marker is cut off")?;
                if marker == 0xD9 {
                    at += 2;
                    break;
                }
                if !JPEG_MARKERS.contains(&marker) {
                    return Err(format!("JPEG segment FF{marker:02X}"));
                }
                let len = d
                    .get(at + 2..at + 4)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                    .filter(|&l| l >= 2)
                    .ok_or("a JPEG segment length is cut off")?;
                let end = at
                    .checked_add(2 + len)
                    .filter(|&e| e <= d.len())
                    .ok_or("a JPEG segment runs past the end")?;
                if !jpeg_segment_ok(marker, &d[at + 4..end]) {
                    return Err(format!("JPEG segment FF{marker:02X} of {len} bytes"));
                }
                at = end;
                if marker == 0xDA {
                    // Entropy-coded data: runs to the next marker that is neither a stuffed
                    // zero nor a restart marker.
                    while at + 1 < d.len()
                        && !(d[at] == 0xFF && d[at + 1] != 0 && !(0xD0..=0xD7).contains(&d[at + 1]))
                    {
                        at += 1;
                    }
                }
            }
            if at != d.len() {
                return Err(format!("{} bytes after JPEG's EOI", d.len() - at));
            }
        }
        Format::Webp => {
            let size = le32(4).ok_or("the RIFF header is cut off")? as usize;
            if size.checked_add(8) != Some(d.len()) {
                return Err(format!(
                    "RIFF says {} bytes, the variant has {}",
                    size.saturating_add(8),
                    d.len()
                ));
            }
            let mut at = 12;
            let mut tags = Vec::new();
            while at < d.len() {
                let tag: [u8; 4] = d
                    .get(at..at + 4)
                    .and_then(|t| t.try_into().ok())
                    .ok_or("a RIFF chunk header is cut off")?;
                let len = le32(at + 4).ok_or("a RIFF chunk header is cut off")? as usize;
                let end = (at + 8)
                    .checked_add(len)
                    .filter(|&e| e <= d.len())
                    .ok_or("a RIFF chunk runs past the end")?;
                // An odd chunk is padded with one zero byte, and with nothing else.
                at = if len % 2 == 1 {
                    if d.get(end) != Some(&0) {
                        return Err("a RIFF pad byte that is not zero".into());
                    }
                    end + 1
                } else {
                    end
                };
                if tag == *b"VP8X" && len != 10 {
                    return Err(format!("a VP8X chunk of {len} bytes"));
                }
                tags.push(tag);
            }
            let simple = matches!(tags.as_slice(), [t] if t == b"VP8 " || t == b"VP8L");
            let extended = matches!(tags.as_slice(), [x, a, v] if x == b"VP8X" && a == b"ALPH" && v == b"VP8 ");
            if !simple && !extended {
                let names: Vec<_> = tags
                    .iter()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .collect();
                return Err(format!("WebP chunks {names:?}"));
            }
        }
        Format::Auto => return Err("no format".into()),
    }
    Ok(())
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
    guest: &'static str,
    specs: &[VariantSpec],
    thumbs: Thumbnails,
) -> Result<Thumbnails, SandboxError> {
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
        if let Err(why) = check_container(v.format, &v.data) {
            return Err(invalid(
                guest,
                format!("variant {:?} is not a plain image: {why}", v.name),
            ));
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
/// signature) means the rendering guest wrote more than an image.
pub fn check_rescan(
    guest: &'static str,
    v: &Rendered,
    report: &Report,
) -> Result<(), SandboxError> {
    if report.verdict == Verdict::Clean && report.findings.is_empty() {
        return Ok(());
    }
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    Err(invalid(
        guest,
        format!(
            "variant {:?} is not a plain image: the scan found {}",
            v.name,
            rules.join(", ")
        ),
    ))
}

/// Checks the probe guest's reading of a rendered variant against the variant's claims.
pub fn check_reprobe(
    guest: &'static str,
    v: &Rendered,
    read: &ProbeInfo,
) -> Result<(), SandboxError> {
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
    use attach_fixtures as fx;

    fn with_png_chunk_before_iend(png: &[u8], tag: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let iend = png.len() - 12;
        let mut out = png[..iend].to_vec();
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(tag);
        out.extend_from_slice(body);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&png[iend..]);
        out
    }

    #[test]
    fn what_the_encoders_write_passes_the_container_check() {
        let img = fx::photo(40, 30, 3);
        check_container(Format::Png, &fx::png_rgb(&img)).unwrap();
        check_container(Format::Jpeg, &fx::jpeg(&img, 85)).unwrap();
        check_container(Format::Jpeg, &fx::jpeg_progressive(&img, 85)).unwrap();
        check_container(Format::Webp, &fx::webp_lossy(&img, 80)).unwrap();
        check_container(Format::Webp, &fx::webp_lossless(&img)).unwrap();
    }

    #[test]
    fn hidden_chunks_segments_and_trailing_bytes_fail_the_container_check() {
        let img = fx::photo(40, 30, 3);
        let html = b"<img src=x onerror=alert(document.domain)>";
        let png = fx::png_rgb(&img);
        for tag in [b"prVt", b"tEXt", b"eXIf", b"iCCP"] {
            let bad = with_png_chunk_before_iend(&png, tag, html);
            assert!(check_container(Format::Png, &bad).is_err(), "{tag:?}");
        }
        let trailing = [png.clone(), html.to_vec()].concat();
        assert!(check_container(Format::Png, &trailing).is_err());
        // An allowed chunk too long for its content, or with a wrong CRC.
        let mut gama = with_png_chunk_before_iend(&png, b"gAMA", html);
        assert!(check_container(Format::Png, &gama).is_err(), "long gAMA");
        let n = gama.len();
        gama.truncate(n - 12 - 4);
        assert!(check_container(Format::Png, &gama).is_err(), "cut off");
        let mut bad_crc = png.clone();
        let iend_crc = bad_crc.len() - 1;
        bad_crc[iend_crc] ^= 1;
        assert!(check_container(Format::Png, &bad_crc).is_err(), "IEND CRC");

        let jpeg = fx::jpeg(&img, 85);
        for marker in [0xEF, 0xED, 0xE1, 0xE2, 0xFE] {
            let mut seg = vec![0xFF, marker, 0, (html.len() + 2) as u8];
            seg.extend_from_slice(html);
            let bad = [&jpeg[..2], &seg, &jpeg[2..]].concat();
            assert!(
                check_container(Format::Jpeg, &bad).is_err(),
                "FF{marker:02X}"
            );
        }
        let trailing = [jpeg.clone(), html.to_vec()].concat();
        assert!(check_container(Format::Jpeg, &trailing).is_err());
        // Tables with room for more than they declare: a DRI of more than two bytes.
        let mut dri = vec![0xFF, 0xDD, 0, (html.len() + 4) as u8, 0, 8];
        dri.extend_from_slice(html);
        let bad = [&jpeg[..2], &dri, &jpeg[2..]].concat();
        assert!(check_container(Format::Jpeg, &bad).is_err(), "long DRI");

        let webp = fx::webp_lossy(&img, 80);
        let mut chunk = b"XSS ".to_vec();
        chunk.extend_from_slice(&(html.len() as u32).to_le_bytes());
        chunk.extend_from_slice(html);
        let mut bad = [webp.clone(), chunk].concat();
        let size = (bad.len() - 8) as u32;
        bad[4..8].copy_from_slice(&size.to_le_bytes());
        assert!(check_container(Format::Webp, &bad).is_err());
        let trailing = [webp, vec![0; 8]].concat();
        assert!(check_container(Format::Webp, &trailing).is_err());
    }

    #[test]
    fn every_kind_has_the_probe_librarys_mime_type() {
        // The WIT kinds and the library's kinds share their names; a kind missing from either
        // would fall back to octet-stream, which only `unknown` may.
        for k in media_probe::Kind::ALL {
            assert_eq!(
                k.name() == "unknown",
                k.mime() == "application/octet-stream"
            );
        }
        assert_eq!(mime_of(Kind::Jpeg), "image/jpeg");
        assert_eq!(mime_of(Kind::Hls), "application/vnd.apple.mpegurl");
        assert_eq!(mime_of(Kind::Unknown), "application/octet-stream");
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
