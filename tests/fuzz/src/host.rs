//! The host's own parsers of untrusted data: a job's payload (from whoever can write to the
//! queue), storage keys (from payloads), clamd's reply, ffprobe's JSON (written by a process
//! that just read the upload) and a guest release's manifest (from a release directory).

use attachd::job::{check_payload, ProcessPayload, ScanRetryPayload};
use attachd::release::{is_bidi_control, Manifest};
use attachd::storage::{self, MAX_KEY_LEN};
use attachd::variant;
use attachd::vscan::{self, parse_reply, Verdict, MAX_SIGNATURE_CHARS};
use std::path::{Component, Path};

/// A job payload, as the worker reads one: JSON into the payload type, then every check a job
/// makes before touching storage. What passes yields keys the store accepts, variants within
/// the thumbnail library's bounds, and survives a round trip through JSON unchanged.
pub fn payload(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    // The retry job's payload flattens the process payload; both come from the same queue.
    let _ = serde_json::from_value::<ScanRetryPayload>(value.clone());
    let Ok(payload) = serde_json::from_value::<ProcessPayload>(value) else {
        return;
    };
    // Each variant string on its own, as `ATTACH_VARIANTS` and the payload give them.
    for spec in &payload.variants {
        variant_spec(spec);
    }
    let defaults = variant::defaults();
    let quarantine = vscan::Policy::default().quarantine_key("");
    let Ok(checked) = check_payload(&payload, &defaults, &quarantine) else {
        return;
    };
    check_key(&payload.file_key);
    assert!(
        !checked.specs.is_empty(),
        "a payload with no variants passed"
    );
    for spec in &checked.specs {
        let key = storage::variant_key(
            &payload.file_key,
            &spec.name,
            variant::extension(spec.format),
        );
        assert!(
            storage::validate_key(&key).is_ok(),
            "derived key {key:?} is refused by the store"
        );
        assert!(key.len() <= MAX_KEY_LEN);
        check_key(&key);
    }
    let quarantined = format!("{quarantine}{}", payload.file_key);
    assert!(
        storage::validate_key(&quarantined).is_ok(),
        "quarantine key {quarantined:?}"
    );
    if let Some(c) = &checked.declared_checksum {
        assert!(
            c.len() == 64
                && c.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
    let again: ProcessPayload = serde_json::from_str(&serde_json::to_string(&payload).unwrap())
        .expect("a payload attachd wrote reads back");
    assert_eq!(again, payload, "a payload changed through JSON");
}

/// A variant spec that parses is within the thumbnail library's bounds and prints back to a
/// spec string that parses to the same spec.
pub fn variant_spec(s: &str) {
    let Ok(spec) = variant::parse(s) else {
        return;
    };
    assert!(
        !spec.name.is_empty() && spec.name.len() <= 32,
        "name {:?}",
        spec.name
    );
    assert!(
        spec.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "name {:?} has a character a key must not",
        spec.name
    );
    assert!((1..=media_thumbnail::MAX_VARIANT_DIMENSION).contains(&spec.max_width));
    assert!((1..=media_thumbnail::MAX_VARIANT_DIMENSION).contains(&spec.max_height));
    assert!(media_thumbnail::QUALITY_RANGE.contains(&spec.quality));
    let printed = variant::to_spec_string(&spec);
    let again =
        variant::parse(&printed).unwrap_or_else(|e| panic!("{s:?} printed as {printed:?}: {e}"));
    // The binding's type has no `PartialEq`; its debug form names every field.
    assert_eq!(
        format!("{again:?}"),
        format!("{spec:?}"),
        "{s:?} printed as {printed:?}"
    );
}

/// A key the store accepts is a plain relative path: no root, no `.` or `..`, nothing a
/// filesystem or S3 would read differently, so the local store maps it inside its root.
pub fn storage_key(data: &[u8]) {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    if storage::validate_key(key).is_ok() {
        check_key(key);
    }
}

fn check_key(key: &str) {
    assert!(
        !key.is_empty() && key.len() <= MAX_KEY_LEN,
        "key length {}",
        key.len()
    );
    assert!(
        !key.chars().any(char::is_control),
        "{key:?} has a control character"
    );
    assert!(!key.contains('\\'), "{key:?} has a backslash");
    let path = Path::new(key);
    assert!(
        path.components().all(|c| matches!(c, Component::Normal(_))),
        "{key:?} is not a plain relative path"
    );
    assert_eq!(
        path.components().count(),
        key.split('/').count(),
        "{key:?} has segments a path would merge"
    );
}

/// clamd's reply: only `stream: OK` is clean, and a signature is short printable text; any
/// other reply is an error (never clean), classified.
pub fn clamd_reply(data: &[u8]) {
    let reply = String::from_utf8_lossy(data);
    let sent = data.len() as u64;
    match parse_reply(&reply, sent) {
        Ok(Verdict::Clean) => assert_eq!(
            reply.trim_matches(|c: char| c == '\0' || c.is_whitespace()),
            "stream: OK",
            "a reply other than `stream: OK` read as clean"
        ),
        Ok(Verdict::Infected { signature }) => {
            assert!(!signature.is_empty() && signature.chars().count() <= MAX_SIGNATURE_CHARS);
            assert!(
                signature.chars().all(|c| c.is_ascii_graphic() || c == ' '),
                "signature {signature:?} is not printable ASCII"
            );
            assert_eq!(
                signature.trim(),
                signature,
                "signature {signature:?} has edge spaces"
            );
        }
        Err(e) => {
            use attachd::error::ErrorCode;
            assert!(!e.code().is_empty());
        }
    }
}

/// ffprobe's report: read leniently, but what comes out is a video stream with a size, a
/// quarter-turn rotation and finite, positive rates, whatever the JSON claimed.
pub fn ffprobe(data: &[u8]) {
    let Ok(info) = attachd::video::parse_ffprobe(data) else {
        return;
    };
    assert!(
        info.width > 0 && info.height > 0,
        "a video of {}x{}",
        info.width,
        info.height
    );
    assert!(
        matches!(info.rotation, 0 | 90 | 180 | 270),
        "rotation {}",
        info.rotation
    );
    if let Some(d) = info.duration {
        assert!(d.is_finite() && d >= 0.0, "duration {d}");
    }
    if let Some(r) = info.frame_rate {
        assert!(r.is_finite() && r > 0.0, "frame rate {r}");
    }
    if let Some(a) = &info.audio {
        assert!(a.channels != Some(0) && a.sample_rate != Some(0));
    }
    let (w, h) = info.display_size();
    assert_eq!(
        u64::from(w) * u64::from(h),
        u64::from(info.width) * u64::from(info.height)
    );
}

/// A guest release's manifest: what parses names a plain file beside it, a sha256, and no
/// text that could rewrite a terminal or a log line.
pub fn manifest(data: &[u8]) {
    let Ok(m) = Manifest::parse_any(data) else {
        return;
    };
    assert!(
        !m.file.is_empty() && !m.file.starts_with('.'),
        "file {:?}",
        m.file
    );
    assert!(
        Path::new(&m.file).components().count() == 1
            && matches!(
                Path::new(&m.file).components().next(),
                Some(Component::Normal(_))
            ),
        "file {:?} is not a plain file name",
        m.file
    );
    assert!(m.sha256.len() == 64 && m.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
    for field in [&m.name, &m.world, &m.file]
        .into_iter()
        .chain(m.version.as_ref())
    {
        assert!(
            !field.chars().any(|c| c.is_control() || is_bidi_control(c)),
            "{field:?} would reach a terminal"
        );
    }
    let again = Manifest::parse_any(&serde_json::to_vec(&m).unwrap())
        .expect("a manifest attachd wrote reads back");
    assert_eq!(again, m);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_relative_key_passes_the_key_invariant() {
        check_key("uploads/2026/a.jpg");
    }

    #[test]
    #[should_panic(expected = "plain relative path")]
    fn a_key_with_a_parent_segment_breaks_the_key_invariant() {
        check_key("uploads/../etc/passwd");
    }

    #[test]
    #[should_panic(expected = "segments a path would merge")]
    fn a_key_with_an_empty_segment_breaks_the_key_invariant() {
        check_key("uploads//a.jpg");
    }
}
