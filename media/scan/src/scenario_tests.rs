//! End-to-end scenarios through the public [`scan`]: the kind comes from media-probe's
//! `sniff`, so every test here also proves that sniffing and the rules agree on the file.

use media_probe::{Kind, Limits};

use crate::test_data::{tiny_gif, tiny_jpeg, tiny_png, tiny_webp, Zip, ZipEntry};
use crate::{rules, scan, Report, Verdict};

fn run(data: &[u8], declared: &str) -> Report {
    scan(data, declared, &Limits::default()).expect("scan always reports")
}

fn rules_of(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.rule).collect()
}

/// A JPEG with a COM segment holding `comment`, inserted right after SOI.
fn jpeg_with_comment(comment: &[u8]) -> Vec<u8> {
    let mut j = tiny_jpeg();
    let mut com = vec![0xFF, 0xFE];
    com.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
    com.extend_from_slice(comment);
    j.splice(2..2, com);
    j
}

const BENIGN_SVG: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle r="4" fill="#f00"/></svg>
"##;

#[test]
fn benign_images_declared_correctly_are_clean() {
    for (data, declared, kind) in [
        (tiny_jpeg(), "image/jpeg", Kind::Jpeg),
        (tiny_jpeg(), "image/jpg", Kind::Jpeg),
        (tiny_png(), "image/png", Kind::Png),
        (tiny_gif(), "image/gif", Kind::Gif),
        (tiny_webp(), "image/webp", Kind::Webp),
        (BENIGN_SVG.as_bytes().to_vec(), "image/svg+xml", Kind::Svg),
    ] {
        let report = run(&data, declared);
        assert_eq!(report.kind, kind, "{declared}");
        assert_eq!(
            report.verdict,
            Verdict::Clean,
            "{declared}: {:?}",
            report.findings
        );
        assert!(report.findings.is_empty());
    }
}

#[test]
fn jpeg_with_zip_appended_is_rejected_as_embedded_zip_with_trailing_data() {
    let mut data = tiny_jpeg();
    data.extend(
        Zip::new()
            .entry(ZipEntry::stored("payload.txt", &[b'x'; 600]))
            .build(),
    );
    let report = run(&data, "image/jpeg");
    assert_eq!(report.kind, Kind::Jpeg);
    assert_eq!(report.verdict, Verdict::Reject);
    assert_eq!(
        report.finding(rules::EMBEDDED_ZIP).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
    assert_eq!(
        report.finding(rules::TRAILING_DATA).map(|f| f.verdict),
        Some(Verdict::Suspicious)
    );
}

#[test]
fn jpeg_with_jar_appended_is_rejected_as_embedded_jar() {
    let mut data = tiny_jpeg();
    data.extend(
        Zip::new()
            .entry(ZipEntry::stored("META-INF/MANIFEST.MF", b"Main-Class: X"))
            .build(),
    );
    let report = run(&data, "image/jpeg");
    assert_eq!(
        report.finding(rules::EMBEDDED_JAR).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
}

#[test]
fn png_declared_as_jpeg_is_a_suspicious_mime_mismatch() {
    let report = run(&tiny_png(), "image/jpeg");
    assert_eq!(report.kind, Kind::Png);
    assert_eq!(report.verdict, Verdict::Suspicious);
    assert_eq!(rules_of(&report), [rules::MIME_MISMATCH]);
}

#[test]
fn html_declared_as_png_is_rejected() {
    let html = b"<!DOCTYPE html><html><body><img src=x></body></html>";
    let report = run(html, "image/png");
    assert_eq!(report.kind, Kind::Html);
    assert_eq!(
        report.finding(rules::MIME_MISMATCH).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
}

#[test]
fn pdf_declared_as_png_is_rejected() {
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let report = run(pdf, "image/png");
    assert_eq!(report.kind, Kind::Pdf);
    assert_eq!(
        report.finding(rules::MIME_MISMATCH).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
    assert_eq!(report.verdict, Verdict::Reject);
}

#[test]
fn pdf_with_javascript_is_rejected_even_when_declared_as_pdf() {
    let pdf = b"%PDF-1.4\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj";
    let report = run(pdf, "application/pdf");
    assert!(!rules_of(&report).contains(&rules::MIME_MISMATCH));
    assert_eq!(
        report.finding(rules::PDF_JAVASCRIPT).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
    assert_eq!(
        report.finding(rules::PDF_AUTO_ACTION).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
}

#[test]
fn svg_with_script_is_rejected() {
    let svg =
        r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>"#;
    let report = run(svg.as_bytes(), "image/svg+xml");
    assert_eq!(report.kind, Kind::Svg);
    assert_eq!(report.verdict, Verdict::Reject);
    assert!(rules_of(&report).contains(&rules::SVG_SCRIPT));
}

#[test]
fn svg_with_onload_is_rejected() {
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#;
    let report = run(svg.as_bytes(), "image/svg+xml");
    assert_eq!(report.verdict, Verdict::Reject);
    assert!(rules_of(&report).contains(&rules::SVG_EVENT_HANDLER));
}

#[test]
fn svg_with_xxe_entity_is_rejected() {
    let svg = r#"<?xml version="1.0"?>
<!DOCTYPE svg [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>"#;
    let report = run(svg.as_bytes(), "image/svg+xml");
    assert_eq!(report.kind, Kind::Svg);
    assert_eq!(report.verdict, Verdict::Reject);
    assert!(rules_of(&report).contains(&rules::SVG_ENTITY));
}

#[test]
fn active_svg_declared_as_png_is_a_rejected_mismatch() {
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#;
    let report = run(svg.as_bytes(), "image/png");
    assert_eq!(
        report.finding(rules::MIME_MISMATCH).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
}

#[test]
fn zip_declaring_ten_gigabytes_is_an_archive_bomb() {
    let mut e = ZipEntry::deflated("zeros.bin", &[0; 100]);
    e.uncompressed = 10 * 1000 * 1000 * 1000;
    let zip = Zip::new().entry(e).build();
    let report = run(&zip, "application/zip");
    assert_eq!(report.kind, Kind::Zip);
    assert_eq!(
        report.finding(rules::ARCHIVE_BOMB).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
}

#[test]
fn zip_with_overlapping_entries_is_an_archive_bomb() {
    let zip = Zip::new()
        .entry(ZipEntry::stored("a", b"kernel"))
        .alias(0, "b")
        .build();
    let report = run(&zip, "application/zip");
    assert_eq!(
        report.finding(rules::ARCHIVE_BOMB).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
}

#[test]
fn honest_zip_declared_as_zip_is_clean() {
    let zip = Zip::new()
        .entry(ZipEntry::stored("notes.txt", b"hello"))
        .build();
    let report = run(&zip, "application/zip");
    assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.findings);
}

#[test]
fn gzip_with_a_huge_isize_is_an_archive_bomb() {
    let mut gz = vec![0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend_from_slice(&[0; 1000]);
    gz.extend_from_slice(&0u32.to_le_bytes());
    gz.extend_from_slice(&(3u32 << 30).to_le_bytes());
    let report = run(&gz, "application/gzip");
    assert_eq!(report.kind, Kind::Gzip);
    assert_eq!(
        report.finding(rules::ARCHIVE_BOMB).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
}

#[test]
fn eicar_inside_a_jpeg_comment_is_rejected() {
    let data = jpeg_with_comment(crate::signatures::EICAR);
    let report = run(&data, "image/jpeg");
    assert_eq!(report.kind, Kind::Jpeg);
    assert_eq!(report.verdict, Verdict::Reject);
    assert_eq!(rules_of(&report), [rules::EICAR_TEST_SIGNATURE]);
}

#[test]
fn php_inside_a_jpeg_comment_is_rejected() {
    let data = jpeg_with_comment(b"<?php echo shell_exec($_GET['c']); ?>");
    let report = run(&data, "image/jpeg");
    assert_eq!(
        report.finding(rules::EMBEDDED_SCRIPT).map(|f| f.verdict),
        Some(Verdict::Reject)
    );
    assert!(report.finding(rules::TRAILING_DATA).is_none());
}

#[test]
fn executables_are_rejected_whatever_they_are_declared_as() {
    let mut elf = vec![0u8; 64];
    elf[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    elf[16] = 2;
    elf[20] = 1;
    let mut pe = vec![0u8; 0x80];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3C] = 0x40;
    pe[0x40..0x44].copy_from_slice(b"PE\0\0");
    for (data, kind) in [(elf, Kind::Elf), (pe, Kind::Pe)] {
        for declared in ["", "application/octet-stream", "image/jpeg"] {
            let report = run(&data, declared);
            assert_eq!(report.kind, kind);
            assert_eq!(
                report.finding(rules::EXECUTABLE).map(|f| f.verdict),
                Some(Verdict::Reject)
            );
        }
    }
}

#[test]
fn hls_playlist_is_rejected_whatever_it_is_declared_as() {
    let m3u =
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n";
    for declared in ["", "video/mp4", "application/vnd.apple.mpegurl"] {
        let report = run(m3u, declared);
        assert_eq!(report.kind, Kind::Hls);
        assert_eq!(
            report.finding(rules::MEDIA_PLAYLIST).map(|f| f.verdict),
            Some(Verdict::Reject)
        );
    }
}

#[test]
fn report_verdict_is_the_strongest_finding() {
    let mut data = tiny_png();
    data.extend(std::iter::repeat_n(0u8, 2000));
    let report = run(&data, "image/jpeg");
    assert_eq!(
        rules_of(&report),
        [rules::MIME_MISMATCH, rules::TRAILING_DATA]
    );
    assert_eq!(report.verdict, Verdict::Suspicious);
}

// ---- unreadable EXIF ----

#[test]
fn jpeg_with_an_unreadable_exif_block_gets_a_clean_metadata_unreadable_note() {
    for fault in attach_fixtures::ExifFault::ALL {
        let report = run(&attach_fixtures::jpeg_exif_unreadable(fault), "image/jpeg");
        assert_eq!(
            rules_of(&report),
            vec![rules::METADATA_UNREADABLE],
            "{fault:?}"
        );
        let finding = report.finding(rules::METADATA_UNREADABLE).unwrap();
        assert_eq!(finding.verdict, Verdict::Clean, "{fault:?}");
        assert_eq!(report.verdict, Verdict::Clean, "{fault:?}");
        // The detail gives the orientation the pipeline goes on with.
        let orientation = match fault {
            attach_fixtures::ExifFault::SubIfdLoop => 6,
            _ => 1,
        };
        assert!(
            finding
                .detail
                .ends_with(&format!("orientation read as {orientation}")),
            "{fault:?}: {}",
            finding.detail
        );
    }
}

#[test]
fn jpegs_with_readable_exif_or_none_get_no_metadata_note() {
    let photo = attach_fixtures::jpeg(&attach_fixtures::photo(64, 48, 3), 80);
    for (what, data) in [
        ("tiny", tiny_jpeg()),
        ("no exif", photo.clone()),
        (
            "orientation 6",
            attach_fixtures::with_exif_orientation(&photo, 6),
        ),
        ("gps", attach_fixtures::with_exif_gps(&photo)),
        (
            "ifd1 loop, never walked",
            attach_fixtures::jpeg_exif_ifd_loop(),
        ),
    ] {
        let report = run(&data, "image/jpeg");
        assert!(
            report.finding(rules::METADATA_UNREADABLE).is_none(),
            "{what}: {:?}",
            report.findings
        );
    }
}

#[test]
fn png_and_webp_with_an_unreadable_exif_chunk_get_the_note() {
    let png = attach_fixtures::png_rgb(&attach_fixtures::photo(8, 8, 4));
    // eXIf before IEND (the last 12 bytes), its block cut inside the TIFF header.
    let mut broken = png.clone();
    let block = b"II*\0\x08\0";
    let mut chunk = (block.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(b"eXIf");
    chunk.extend_from_slice(block);
    chunk.extend_from_slice(&[0; 4]); // CRC: neither the probe nor the scan checks it
    broken.splice(png.len() - 12..png.len() - 12, chunk);
    let report = run(&broken, "image/png");
    assert_eq!(rules_of(&report), vec![rules::METADATA_UNREADABLE]);
    assert!(run(&png, "image/png").findings.is_empty());

    // An extended WebP (VP8X, EXIF flag) of tiny_webp's 1x1 VP8L image, then an EXIF chunk
    // cut inside the TIFF header. A simple WebP's EXIF is never read, so only VP8X counts.
    let webp = |exif: &[u8]| {
        let mut body = b"WEBPVP8X\x0a\0\0\0\x08\0\0\0\0\0\0\0\0\0".to_vec();
        body.extend_from_slice(&tiny_webp()[12..]);
        body.extend_from_slice(b"EXIF");
        body.extend_from_slice(&(exif.len() as u32).to_le_bytes());
        body.extend_from_slice(exif);
        let mut w = b"RIFF".to_vec();
        w.extend_from_slice(&(body.len() as u32).to_le_bytes());
        w.extend(body);
        w
    };
    let report = run(&webp(b"MM\0*\0\x10"), "image/webp");
    assert_eq!(rules_of(&report), vec![rules::METADATA_UNREADABLE]);
    let report = run(&webp(b"MM\0*\0\0\0\x08\0\0\0\0\0\0"), "image/webp");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn the_metadata_note_does_not_soften_a_reject() {
    let mut data = attach_fixtures::jpeg_exif_unreadable(attach_fixtures::ExifFault::SubIfdLoop);
    data.extend(
        Zip::new()
            .entry(ZipEntry::stored("payload.txt", &[b'x'; 600]))
            .build(),
    );
    let report = run(&data, "image/jpeg");
    assert!(report.finding(rules::METADATA_UNREADABLE).is_some());
    assert_eq!(report.verdict, Verdict::Reject, "{:?}", report.findings);
}

#[test]
fn a_tiff_file_is_not_judged_by_the_metadata_rule() {
    // Its IFDs are its image: a broken one fails the probe as malformed, not a note here.
    let report = run(b"II*\0\x08\0\0\0\xFF\x00", "image/tiff");
    assert!(report.finding(rules::METADATA_UNREADABLE).is_none());
}
