//! Signatures searched for anywhere in the file: the polyglot rules (`embedded-zip`,
//! `embedded-jar`, `embedded-pe`, `embedded-elf`, `embedded-html`, `embedded-script`), an
//! embedded HLS header (`media-playlist`) and `eicar-test-signature`.
//!
//! One pass over the bytes dispatches on the first byte of every signature; each candidate
//! costs a bounded amount of work, so the whole search is linear. Binary signatures are
//! only reported when the structure behind the magic checks out (a PE header where MZ's
//! e_lfanew points, sane ELF identification fields, a ZIP header with a real method and a
//! printable name), because 2- to 4-byte magics occur by chance in megabytes of compressed
//! pixel data.

use media_probe::Kind;

use crate::bytes::{byte, has_at, has_at_ci, le16, le32, slice, snippet};
use crate::{is_image, rules, Findings, Verdict};

/// What the search found that other rules build on.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Embedded {
    /// A plausible ZIP local file header, so the archive rules should look for a directory.
    pub(crate) zip: bool,
}

/// The standard 68-byte EICAR antivirus test file.
pub(crate) const EICAR: &[u8] =
    b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Text signatures, matched ignoring ASCII case. `svg_rules_cover` marks the ones the SVG
/// tokenizer judges more precisely inside an SVG (where `<svg` is not news).
///
/// `tag` signatures must be followed by what ends a tag name (whitespace, `/`, `>`), which
/// is also all a browser or PHP accepts (`<scriptx` is no script, `<?php` needs white
/// space). It keeps chance matches out of compressed pixel data: `<html` alone matches
/// random bytes with odds 2^-36 per offset, about once in 16,000 four-megabyte photos;
/// with the delimiter it is about once in 700,000, and every longer signature is far
/// rarer still.
struct TextSig {
    pat: &'static [u8],
    rule: &'static str,
    tag: bool,
    svg_rules_cover: bool,
}

const TEXT_SIGS: [TextSig; 6] = [
    TextSig {
        pat: b"<script",
        rule: rules::EMBEDDED_SCRIPT,
        tag: true,
        svg_rules_cover: true,
    },
    TextSig {
        pat: b"<?php",
        rule: rules::EMBEDDED_SCRIPT,
        tag: true,
        svg_rules_cover: false,
    },
    TextSig {
        pat: b"javascript:",
        rule: rules::EMBEDDED_SCRIPT,
        tag: false,
        svg_rules_cover: true,
    },
    TextSig {
        pat: b"<html",
        rule: rules::EMBEDDED_HTML,
        tag: true,
        svg_rules_cover: false,
    },
    TextSig {
        pat: b"<iframe",
        rule: rules::EMBEDDED_HTML,
        tag: true,
        svg_rules_cover: false,
    },
    TextSig {
        pat: b"<!doctype html",
        rule: rules::EMBEDDED_HTML,
        tag: false,
        svg_rules_cover: false,
    },
];

fn ends_tag_name(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'/' || b == b'>'
}

/// Bytes that start some signature: the search loop only stops on these, so it runs at
/// memchr-like speed over data with no candidates and never branches unpredictably on the
/// rest.
const CANDIDATES: [bool; 256] = {
    let mut t = [false; 256];
    let starts: &[u8] = b"PM\x7FX#<jJ";
    let mut i = 0;
    while i < starts.len() {
        t[starts[i] as usize] = true;
        i += 1;
    }
    t
};

const SVG_OPEN: &[u8] = b"<svg";
/// How far past `<svg` to look for an event handler. The window also ends at the next `<`
/// or `>`, so windows never overlap and the search stays linear.
const SVG_TAG_WINDOW: usize = 1024;

/// `ffmpeg`'s HLS demuxer probes for this header; it must be at the start of a line in a
/// playlist, but inside another container (the AVI/GAB2 trick) it can be anywhere.
const HLS_HEADER: &[u8] = b"#EXTM3U";

const ZIP_LOCAL: &[u8] = b"PK\x03\x04";
/// Largest "version needed to extract" (low byte) a real writer sets: APPNOTE 6.3.
const ZIP_MAX_VERSION_NEEDED: u8 = 63;
/// Compression methods APPNOTE 4.4.5 assigns (stored, the PKWARE family, deflate(64),
/// bzip2, LZMA, zstd, MP3, XZ, JPEG, WavPack, PPMd, AES).
const ZIP_METHODS: &[u16] = &[
    0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 14, 18, 19, 20, 93, 94, 95, 96, 97, 98, 99,
];
/// Longest entry name accepted as plausible. Real paths stay far below; the bound also
/// caps the bytes read per candidate header.
const ZIP_MAX_NAME_LEN: usize = 1024;
/// Local headers examined for JAR markers after the first plausible one. A JAR's
/// META-INF/ is normally its first entry, so a few thousand headers is generous, and the
/// cap keeps a file of back-to-back fake headers from costing name reads for all of them.
const ZIP_MAX_HEADERS_EXAMINED: usize = 4096;

/// Furthest e_lfanew (the PE header's offset from MZ) taken seriously. Linkers put it in
/// the first few hundred bytes; 64 KiB is generous and bounds the probe.
const PE_MAX_HEADER_OFFSET: u32 = 64 * 1024;

/// Verdict for active or executable content found inside a file of `kind`: inside an image
/// (or an HTML page) it is a polyglot aimed at whoever renders the file, so Reject;
/// elsewhere (video containers carry attachments, archives carry anything, unknown data is
/// not rendered) it is Suspicious.
fn polyglot_verdict(kind: Kind) -> Verdict {
    if is_image(kind) || kind == Kind::Html {
        Verdict::Reject
    } else {
        Verdict::Suspicious
    }
}

/// Runs every whole-file signature rule on `data` of `kind`.
pub(crate) fn check(data: &[u8], kind: Kind, findings: &mut Findings) -> Embedded {
    let verdict = polyglot_verdict(kind);
    // The kind's own rules already judge the file as a whole: a ZIP holding ZIPs, an
    // executable holding executables or an HTML page holding HTML is not a polyglot.
    let want_zip = kind != Kind::Zip;
    let want_exe = !matches!(kind, Kind::Pe | Kind::Elf);
    let want_html = kind != Kind::Html;
    let want_playlist = kind != Kind::Hls;
    // ffmpeg probes every container it is handed, images included.
    let playlist_verdict = if is_image(kind) || kind.is_video() {
        Verdict::Reject
    } else {
        verdict
    };

    let mut embedded = Embedded::default();
    let mut zip_headers_examined = 0usize;
    let mut jar = false;
    let mut svg_window_end = 0usize;

    // Per text signature: still worth matching. A signature stops once it matched, so the
    // detail keeps its first offset and later matches cost nothing.
    let mut text_wanted = TEXT_SIGS.map(|sig| {
        !(kind == Kind::Svg && sig.svg_rules_cover)
            && (want_html || sig.rule != rules::EMBEDDED_HTML)
    });

    let mut next = 0usize;
    while let Some(rest) = data.get(next..) {
        let Some(offset) = rest.iter().position(|&b| CANDIDATES[usize::from(b)]) else {
            break;
        };
        let i = next + offset;
        next = i + 1;
        let Some(&b) = data.get(i) else { break };
        match b {
            b'P' if want_zip && !jar && zip_headers_examined < ZIP_MAX_HEADERS_EXAMINED => {
                let Some(name) = zip_local_header(data, i) else {
                    continue;
                };
                zip_headers_examined += 1;
                if !embedded.zip {
                    embedded.zip = true;
                    findings.add(rules::EMBEDDED_ZIP, verdict, || {
                        format!(
                            "ZIP local file header at offset {i} (entry {:?})",
                            snippet(name)
                        )
                    });
                }
                if is_jar_entry(name) {
                    jar = true;
                    findings.add(rules::EMBEDDED_JAR, verdict, || {
                        format!("Java archive entry {:?} at offset {i}", snippet(name))
                    });
                }
            }
            b'M' if want_exe && !findings.has(rules::EMBEDDED_PE) && is_pe(data, i) => {
                findings.add(rules::EMBEDDED_PE, verdict, || {
                    format!("PE executable (MZ header) at offset {i}")
                });
            }
            0x7F if want_exe && !findings.has(rules::EMBEDDED_ELF) && is_elf(data, i) => {
                findings.add(rules::EMBEDDED_ELF, verdict, || {
                    format!("ELF executable header at offset {i}")
                });
            }
            b'X' if has_at(data, i, EICAR) => {
                // The test string exists to check that scanners reject it; reject it
                // everywhere, whatever the kind.
                findings.add(rules::EICAR_TEST_SIGNATURE, Verdict::Reject, || {
                    format!("EICAR test string at offset {i}")
                });
            }
            b'#' if want_playlist && has_at(data, i, HLS_HEADER) => {
                findings.add(rules::MEDIA_PLAYLIST, playlist_verdict, || {
                    format!("HLS playlist header at offset {i}")
                });
            }
            b'<' | b'j' | b'J' => {
                for (sig, wanted) in TEXT_SIGS.iter().zip(&mut text_wanted) {
                    let matched = *wanted
                        && has_at_ci(data, i, sig.pat)
                        && (!sig.tag || byte(data, i + sig.pat.len()).is_some_and(ends_tag_name));
                    if matched {
                        *wanted = false;
                        findings.add(sig.rule, verdict, || {
                            format!("{:?} at offset {i}", snippet(sig.pat))
                        });
                    }
                }
                if kind != Kind::Svg
                    && i >= svg_window_end
                    && !findings.has(rules::EMBEDDED_SCRIPT)
                    && has_at_ci(data, i, SVG_OPEN)
                {
                    let (handler, window_end) = svg_tag_has_handler(data, i);
                    svg_window_end = window_end;
                    if handler {
                        findings.add(rules::EMBEDDED_SCRIPT, verdict, || {
                            format!("<svg> with an event handler at offset {i}")
                        });
                    }
                }
            }
            _ => {}
        }
    }
    embedded
}

/// The entry name of a plausible ZIP local file header at `at`.
fn zip_local_header(d: &[u8], at: usize) -> Option<&[u8]> {
    if !has_at(d, at, ZIP_LOCAL) {
        return None;
    }
    if byte(d, at.checked_add(4)?)? > ZIP_MAX_VERSION_NEEDED {
        return None;
    }
    if !ZIP_METHODS.contains(&le16(d, at.checked_add(8)?)?) {
        return None;
    }
    let name_len = usize::from(le16(d, at.checked_add(26)?)?);
    if name_len == 0 || name_len > ZIP_MAX_NAME_LEN {
        return None;
    }
    let name = slice(d, at.checked_add(30)?, name_len)?;
    // Names are paths: control characters (NUL included) never appear in real ones.
    if name.iter().any(|&c| c < 0x20 || c == 0x7F) {
        return None;
    }
    Some(name)
}

fn is_jar_entry(name: &[u8]) -> bool {
    has_at_ci(name, 0, b"META-INF/")
        || name.len() >= 6 && has_at_ci(name, name.len().saturating_sub(6), b".class")
}

/// An MZ header whose e_lfanew points at `PE\0\0`.
fn is_pe(d: &[u8], at: usize) -> bool {
    let probe = || -> Option<bool> {
        if !has_at(d, at, b"MZ") {
            return Some(false);
        }
        let lfanew = le32(d, at.checked_add(0x3C)?)?;
        if lfanew > PE_MAX_HEADER_OFFSET {
            return Some(false);
        }
        let pe = at.checked_add(usize::try_from(lfanew).ok()?)?;
        Some(has_at(d, pe, b"PE\0\0"))
    };
    probe().unwrap_or(false)
}

/// `\x7fELF` followed by identification and header fields only a real ELF has: class
/// 32/64, data LSB/MSB, EI_VERSION 1, e_type REL/EXEC/DYN/CORE, e_version 1.
fn is_elf(d: &[u8], at: usize) -> bool {
    let probe = || -> Option<bool> {
        if !has_at(d, at, b"\x7fELF") {
            return Some(false);
        }
        let ident = slice(d, at.checked_add(4)?, 3)?;
        let (class, data, version) = (*ident.first()?, *ident.get(1)?, *ident.get(2)?);
        if !matches!(class, 1 | 2) || !matches!(data, 1 | 2) || version != 1 {
            return Some(false);
        }
        let field16 = |off: usize| -> Option<u16> {
            let bytes = crate::bytes::array::<2>(d, at.checked_add(off)?)?;
            Some(if data == 1 {
                u16::from_le_bytes(bytes)
            } else {
                u16::from_be_bytes(bytes)
            })
        };
        let field32 = |off: usize| -> Option<u32> {
            let bytes = crate::bytes::array::<4>(d, at.checked_add(off)?)?;
            Some(if data == 1 {
                u32::from_le_bytes(bytes)
            } else {
                u32::from_be_bytes(bytes)
            })
        };
        Some(matches!(field16(16)?, 1..=4) && field32(20)? == 1)
    };
    probe().unwrap_or(false)
}

/// Whether the `<svg` tag at `at` carries an `on*=` attribute, and where the look ended.
fn svg_tag_has_handler(d: &[u8], at: usize) -> (bool, usize) {
    let start = at.saturating_add(SVG_OPEN.len());
    let limit = start.saturating_add(SVG_TAG_WINDOW).min(d.len());
    let mut i = start;
    while i < limit {
        let Some(&b) = d.get(i) else { break };
        if b == b'<' || b == b'>' {
            break;
        }
        let at_attr_start = d
            .get(i.wrapping_sub(1))
            .is_some_and(|p| p.is_ascii_whitespace() || *p == b'/');
        if at_attr_start && has_at_ci(d, i, b"on") {
            let name_end = d
                .get(i + 2..limit)
                .and_then(|rest| rest.iter().position(|c| !c.is_ascii_alphabetic()))
                .map(|p| i + 2 + p);
            if let Some(end) = name_end.filter(|&e| e > i + 2) {
                let after = d.get(end..limit).unwrap_or_default();
                let eq = after.iter().find(|c| !c.is_ascii_whitespace());
                if eq == Some(&b'=') {
                    return (true, end);
                }
            }
        }
        i += 1;
    }
    (false, i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{tiny_jpeg, tiny_png};

    fn run(data: &[u8], kind: Kind) -> Findings {
        let mut f = Findings::default();
        check(data, kind, &mut f);
        f
    }

    fn local_header(name: &[u8]) -> Vec<u8> {
        let mut h = ZIP_LOCAL.to_vec();
        h.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        h.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(name);
        h.extend_from_slice(&[3, 0]);
        h
    }

    fn tiny_pe() -> Vec<u8> {
        let mut pe = vec![0u8; 0x80];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        pe
    }

    fn tiny_elf() -> Vec<u8> {
        let mut elf = vec![0u8; 64];
        elf[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        elf[16..18].copy_from_slice(&2u16.to_le_bytes());
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf
    }

    #[test]
    fn zip_header_inside_an_image_is_rejected() {
        let mut data = tiny_jpeg();
        data.extend(local_header(b"a.txt"));
        let f = run(&data, Kind::Jpeg);
        assert_eq!(f.verdict_of(rules::EMBEDDED_ZIP), Some(Verdict::Reject));
        assert!(!f.has(rules::EMBEDDED_JAR));
    }

    #[test]
    fn jar_entries_are_named_as_a_jar() {
        for name in [&b"META-INF/MANIFEST.MF"[..], b"com/x/Main.class"] {
            let mut data = tiny_png();
            data.extend(local_header(b"readme"));
            data.extend(local_header(name));
            let f = run(&data, Kind::Png);
            assert_eq!(f.verdict_of(rules::EMBEDDED_JAR), Some(Verdict::Reject));
        }
    }

    #[test]
    fn zip_magic_without_a_plausible_header_is_ignored() {
        let mut data = tiny_jpeg();
        // Bad method, then a control character in the name, then a truncated header.
        let mut bad_method = local_header(b"a");
        bad_method[8] = 77;
        let bad_name = local_header(b"a\0b");
        data.extend(bad_method);
        data.extend(bad_name);
        data.extend(b"PK\x03\x04\x14\0\0\0\x08\0");
        assert!(!run(&data, Kind::Jpeg).has(rules::EMBEDDED_ZIP));
    }

    #[test]
    fn pe_and_elf_inside_an_image_are_rejected() {
        let mut data = tiny_jpeg();
        data.extend(tiny_pe());
        data.extend(tiny_elf());
        let f = run(&data, Kind::Jpeg);
        assert_eq!(f.verdict_of(rules::EMBEDDED_PE), Some(Verdict::Reject));
        assert_eq!(f.verdict_of(rules::EMBEDDED_ELF), Some(Verdict::Reject));
    }

    #[test]
    fn executables_inside_other_containers_are_suspicious() {
        let mut data = b"\0\0\0\x18ftypisom".to_vec();
        data.extend(tiny_pe());
        assert_eq!(
            run(&data, Kind::Mp4).verdict_of(rules::EMBEDDED_PE),
            Some(Verdict::Suspicious)
        );
    }

    #[test]
    fn mz_without_pe_header_and_elf_magic_with_bad_fields_are_ignored() {
        let mut pe = tiny_pe();
        pe[0x40] = b'X';
        let mut elf = tiny_elf();
        elf[4] = 3;
        let mut far_pe = tiny_pe();
        far_pe[0x3C..0x40].copy_from_slice(&(PE_MAX_HEADER_OFFSET + 1).to_le_bytes());
        let data = [pe, elf, far_pe, b"MZ".to_vec()].concat();
        let f = run(&data, Kind::Unknown);
        assert!(!f.has(rules::EMBEDDED_PE));
        assert!(!f.has(rules::EMBEDDED_ELF));
    }

    #[test]
    fn an_executable_is_not_reported_as_embedding_itself() {
        assert!(!run(&tiny_pe(), Kind::Pe).has(rules::EMBEDDED_PE));
        assert!(!run(&tiny_elf(), Kind::Elf).has(rules::EMBEDDED_ELF));
    }

    #[test]
    fn script_and_html_text_in_an_image_are_rejected_case_insensitively() {
        let cases: &[(&[u8], &str)] = &[
            (b"<ScRiPt>alert(1)</script>", rules::EMBEDDED_SCRIPT),
            (b"<script\nsrc=//x>", rules::EMBEDDED_SCRIPT),
            (b"<?php system($_GET['c']); ?>", rules::EMBEDDED_SCRIPT),
            (b"JavaScript:alert(1)", rules::EMBEDDED_SCRIPT),
            (b"<svg/onload=alert(1)>", rules::EMBEDDED_SCRIPT),
            (b"<svg xmlns='x'\n  ONLOAD = 'x'>", rules::EMBEDDED_SCRIPT),
            (b"<HTML><body>", rules::EMBEDDED_HTML),
            (b"<iframe src=x>", rules::EMBEDDED_HTML),
            (b"<!DOCTYPE html>", rules::EMBEDDED_HTML),
        ];
        for (text, rule) in cases {
            let mut data = tiny_jpeg();
            let at = 20;
            data.splice(at..at, text.iter().copied());
            let f = run(&data, Kind::Jpeg);
            assert_eq!(
                f.verdict_of(rule),
                Some(Verdict::Reject),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn tag_signatures_need_a_tag_name_delimiter() {
        let data = b"<htmlx <scripts <?phpinfo <iframes".to_vec();
        let f = run(&data, Kind::Jpeg);
        assert!(!f.has(rules::EMBEDDED_HTML));
        assert!(!f.has(rules::EMBEDDED_SCRIPT));
    }

    #[test]
    fn svg_without_handlers_is_not_script() {
        let data = b"<svg xmlns='http://www.w3.org/2000/svg' font='on' opacity='1'><svg>".to_vec();
        assert!(!run(&data, Kind::Html).has(rules::EMBEDDED_SCRIPT));
    }

    #[test]
    fn many_svg_openings_stay_linear_and_quiet() {
        let data = b"<svg ".repeat(200_000);
        assert!(!run(&data, Kind::Unknown).has(rules::EMBEDDED_SCRIPT));
    }

    #[test]
    fn text_signatures_outside_images_are_suspicious() {
        let data = b"%PDF-1.7 <script>".to_vec();
        assert_eq!(
            run(&data, Kind::Pdf).verdict_of(rules::EMBEDDED_SCRIPT),
            Some(Verdict::Suspicious)
        );
    }

    #[test]
    fn html_page_is_not_reported_as_embedding_html_but_its_script_is() {
        let f = run(b"<!doctype html><html><script>x</script>", Kind::Html);
        assert!(!f.has(rules::EMBEDDED_HTML));
        assert_eq!(f.verdict_of(rules::EMBEDDED_SCRIPT), Some(Verdict::Reject));
    }

    #[test]
    fn eicar_anywhere_is_rejected() {
        for kind in [Kind::Jpeg, Kind::Zip, Kind::Unknown] {
            let mut data = vec![0u8; 100];
            data.extend_from_slice(EICAR);
            assert_eq!(
                run(&data, kind).verdict_of(rules::EICAR_TEST_SIGNATURE),
                Some(Verdict::Reject)
            );
        }
        assert_eq!(EICAR.len(), 68);
    }

    #[test]
    fn partial_eicar_is_not_the_test_string() {
        let data = &EICAR[..EICAR.len() - 1];
        assert!(!run(data, Kind::Unknown).has(rules::EICAR_TEST_SIGNATURE));
    }

    #[test]
    fn hls_header_inside_a_video_or_image_is_rejected() {
        let mut data = b"RIFF\0\0\0\0AVI LIST".to_vec();
        data.extend_from_slice(b"\n#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\nfile:///etc/passwd\n");
        assert_eq!(
            run(&data, Kind::Avi).verdict_of(rules::MEDIA_PLAYLIST),
            Some(Verdict::Reject)
        );
        assert_eq!(
            run(&data, Kind::Unknown).verdict_of(rules::MEDIA_PLAYLIST),
            Some(Verdict::Suspicious)
        );
    }

    #[test]
    fn benign_images_have_no_signatures() {
        for (data, kind) in [(tiny_jpeg(), Kind::Jpeg), (tiny_png(), Kind::Png)] {
            let f = run(&data, kind);
            assert!(f.into_report(kind).findings.is_empty());
        }
    }
}
