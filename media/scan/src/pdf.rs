//! The PDF rules: `pdf-javascript`, `pdf-launch`, `pdf-auto-action`, `pdf-embedded-file`.
//!
//! PDF dictionaries name their features with name objects (`/JavaScript`), which writers
//! may spell with `#xx` hex escapes (`/J#61vaScript`) exactly to dodge byte searches, so
//! this module reads every name token and decodes it before comparing. Names inside
//! compressed object streams are invisible without inflating, which this crate never does;
//! that limit is accepted, and a PDF is never served as anything but a download anyway.

use crate::bytes::{byte, find, has_at};
use crate::{rules, Findings, Verdict};

/// Longest decoded name compared; every name this module looks for is shorter, so longer
/// names are skipped without being buffered.
const MAX_NAME: usize = 16;

/// PDF delimiters and white space (ISO 32000-1, 7.2.2), which end a name.
fn ends_name(b: u8) -> bool {
    matches!(
        b,
        b'\0'
            | b'\t'
            | b'\n'
            | 0x0C
            | b'\r'
            | b' '
            | b'('
            | b')'
            | b'<'
            | b'>'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'/'
            | b'%'
    )
}

#[derive(Default)]
struct Seen {
    javascript: Option<usize>,
    launch: Option<usize>,
    auto_action: Option<usize>,
    embedded_file: Option<usize>,
}

/// Verdicts: JavaScript and Launch run code on the reader's machine (Reject). An automatic
/// action is Reject when the file also carries JavaScript or Launch (the combination runs
/// them on open), otherwise Suspicious: hyperref and most generators add an /OpenAction
/// that just shows the first page. An embedded file is Suspicious: it is a second file
/// nothing has scanned, and attachments are also an honest PDF feature.
pub(crate) fn check(data: &[u8], findings: &mut Findings) {
    let mut seen = Seen::default();
    let mut i = 0usize;
    while let Some(at) = data
        .get(i..)
        .and_then(|r| r.iter().position(|&b| b == b'/' || b == b's'))
    {
        let at = i + at;
        if byte(data, at) == Some(b's') {
            i = skip_stream(data, at);
            continue;
        }
        let slash = at;
        let (name, len, end) = read_name(data, slash + 1);
        i = end;
        let name = name.get(..len).unwrap_or_default();
        let slot = match name {
            b"JavaScript" | b"JS" => &mut seen.javascript,
            b"Launch" => &mut seen.launch,
            b"OpenAction" | b"AA" => &mut seen.auto_action,
            b"EmbeddedFile" | b"EmbeddedFiles" => &mut seen.embedded_file,
            _ => continue,
        };
        slot.get_or_insert(slash);
    }

    if let Some(at) = seen.javascript {
        findings.add(rules::PDF_JAVASCRIPT, Verdict::Reject, || {
            format!("JavaScript at offset {at}")
        });
    }
    if let Some(at) = seen.launch {
        findings.add(rules::PDF_LAUNCH, Verdict::Reject, || {
            format!("Launch action at offset {at}")
        });
    }
    if let Some(at) = seen.auto_action {
        let runs_code = seen.javascript.is_some() || seen.launch.is_some();
        let verdict = if runs_code {
            Verdict::Reject
        } else {
            Verdict::Suspicious
        };
        findings.add(rules::PDF_AUTO_ACTION, verdict, || {
            let what = if runs_code {
                " alongside JavaScript or Launch"
            } else {
                ""
            };
            format!("automatic action at offset {at}{what}")
        });
    }
    if let Some(at) = seen.embedded_file {
        findings.add(rules::PDF_EMBEDDED_FILE, Verdict::Suspicious, || {
            format!("embedded file at offset {at}")
        });
    }
}

/// Where to continue after an `s` at `at`: past the matching `endstream` when it starts a
/// `stream` keyword, else just past it. Stream bodies are binary (compressed content, images,
/// fonts) and hold no dictionaries a reader acts on, while their random bytes spell `/JS`
/// followed by a delimiter about once per 40 MB; skipping them keeps large PDFs from being
/// rejected by chance. A forged `stream` keyword could hide a dictionary from this scan,
/// but that gives an attacker nothing a compressed object stream does not already give
/// (see the module docs), so the cheap, robust skip is the right trade.
fn skip_stream(d: &[u8], at: usize) -> usize {
    let keyword = has_at(d, at, b"stream")
        && !(at >= 3 && has_at(d, at - 3, b"end"))
        && matches!(byte(d, at + 6), Some(b'\r' | b'\n'));
    if !keyword {
        return at + 1;
    }
    find(d, at + 6, b"endstream").map_or(d.len(), |e| e + b"endstream".len())
}

/// Reads the name token starting at `at` (after its `/`). Returns up to [`MAX_NAME`]
/// decoded bytes, the decoded length (past `MAX_NAME` means "too long to match"), and the
/// offset where the token ends.
fn read_name(d: &[u8], at: usize) -> ([u8; MAX_NAME], usize, usize) {
    let mut out = [0u8; MAX_NAME];
    let mut len = 0usize;
    let mut p = at;
    while let Some(b) = byte(d, p).filter(|&b| !ends_name(b)) {
        let mut c = b;
        p += 1;
        if b == b'#' {
            let hex = |q: usize| byte(d, q).and_then(|h| char::from(h).to_digit(16));
            if let (Some(hi), Some(lo)) = (hex(p), hex(p + 1)) {
                c = u8::try_from(hi * 16 + lo).unwrap_or(0);
                p += 2;
            }
        }
        if let Some(slot) = out.get_mut(len) {
            *slot = c;
        }
        len = len.saturating_add(1);
    }
    if len > MAX_NAME {
        len = MAX_NAME + 1;
    }
    (out, len, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pdf: &[u8]) -> Findings {
        let mut f = Findings::default();
        check(pdf, &mut f);
        f
    }

    pub(crate) const BENIGN: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R /OpenActionX 3 >> endobj\n\
2 0 obj << /Type /Pages /Kids [] /Count 0 /JSON 1 /JavaScripts 2 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

    #[test]
    fn benign_pdf_has_no_findings() {
        assert!(run(BENIGN)
            .into_report(media_probe::Kind::Pdf)
            .findings
            .is_empty());
    }

    #[test]
    fn javascript_is_rejected_in_any_spelling() {
        for pdf in [
            &b"%PDF-1.4 << /S /JavaScript /JS (app.alert(1)) >>"[..],
            b"%PDF-1.4 <</JS(x)>>",
            b"%PDF-1.4 << /S /J#61vaScript >>",
            b"%PDF-1.4 << /#4A#53 (x) >>",
        ] {
            assert_eq!(
                run(pdf).verdict_of(rules::PDF_JAVASCRIPT),
                Some(Verdict::Reject),
                "{}",
                String::from_utf8_lossy(pdf)
            );
        }
    }

    #[test]
    fn open_action_alone_is_suspicious() {
        let f = run(b"%PDF-1.4 << /OpenAction [3 0 R /Fit] >>");
        assert_eq!(
            f.verdict_of(rules::PDF_AUTO_ACTION),
            Some(Verdict::Suspicious)
        );
    }

    #[test]
    fn auto_action_with_launch_is_rejected() {
        let f = run(b"%PDF-1.4 << /AA << /O << /S /Launch /F (cmd.exe) >> >> >>");
        assert_eq!(f.verdict_of(rules::PDF_AUTO_ACTION), Some(Verdict::Reject));
        assert_eq!(f.verdict_of(rules::PDF_LAUNCH), Some(Verdict::Reject));
    }

    #[test]
    fn embedded_file_is_suspicious() {
        let f = run(b"%PDF-1.4 << /Type /EmbeddedFile /Length 3 >> stream\nabc\nendstream");
        assert_eq!(
            f.verdict_of(rules::PDF_EMBEDDED_FILE),
            Some(Verdict::Suspicious)
        );
        assert!(!f.has(rules::PDF_JAVASCRIPT));
    }

    #[test]
    fn names_inside_stream_bodies_are_not_read() {
        let pdf = b"%PDF-1.4\n4 0 obj << /Length 9 >> stream\n/JS (x)\nendstream\nendobj /Type";
        assert!(!run(pdf).has(rules::PDF_JAVASCRIPT));
        let unterminated = b"%PDF-1.4 << /Length 9 >> stream\r\n/JS (x)";
        assert!(!run(unterminated).has(rules::PDF_JAVASCRIPT));
        let after = b"%PDF-1.4 stream\nx\nendstream /JS (x) streaming /AA";
        let f = run(after);
        assert!(f.has(rules::PDF_JAVASCRIPT));
        assert!(f.has(rules::PDF_AUTO_ACTION));
    }

    #[test]
    fn long_and_truncated_names_do_not_panic() {
        let mut pdf = b"%PDF-1.4 /".to_vec();
        pdf.extend(std::iter::repeat_n(b'A', 100_000));
        pdf.extend_from_slice(b" /JS#6");
        // A truncated #xx escape is kept literally, so "JS#6" is not "JS".
        assert!(!run(&pdf).has(rules::PDF_JAVASCRIPT));
        let (_, len, end) = read_name(b"JavaScript#", 0);
        assert_eq!((len, end), (11, 11));
        let (_, len, _) = read_name(&[b'A'; 100], 0);
        assert_eq!(len, MAX_NAME + 1);
    }
}
