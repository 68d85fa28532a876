//! The real type comes from the bytes, never from a name or a declared MIME type.

mod common;

use common::*;
use media_probe::{sniff, Kind, SNIFF_PREFIX};

const ALL: [Kind; 23] = Kind::ALL;

fn sample(kind: Kind) -> Vec<u8> {
    match kind {
        Kind::Jpeg => small_jpeg(),
        Kind::Png => small_png(),
        Kind::Gif => small_gif(),
        Kind::Webp => webp(&[vp8(2, 2)]),
        Kind::Tiff => tiff_file(false, &[(2, 2)], 1),
        Kind::Bmp => bmp(2, 2, 24),
        Kind::Ico => ico(&[(16, 16)]),
        Kind::Avif => ftyp(b"avif", &[b"avif", b"mif1", b"miaf"]),
        Kind::Heic => ftyp(b"heic", &[b"mif1", b"heic"]),
        Kind::Svg => b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".to_vec(),
        Kind::Pdf => b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec(),
        Kind::Html => b"<!DOCTYPE html>\n<html><body>hi</body></html>".to_vec(),
        Kind::Zip => b"PK\x03\x04\x14\0\0\0\x08\0".to_vec(),
        Kind::Gzip => b"\x1F\x8B\x08\0\0\0\0\0\0\x03".to_vec(),
        Kind::Mp4 => ftyp(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]),
        Kind::Quicktime => ftyp(b"qt  ", &[b"qt  "]),
        Kind::Webm => ebml(b"webm"),
        Kind::Matroska => ebml(b"matroska"),
        Kind::Avi => b"RIFF\x24\0\0\0AVI LIST\x04\0\0\0hdrl".to_vec(),
        Kind::Hls => b"#EXTM3U\n#EXT-X-VERSION:3\n".to_vec(),
        Kind::Elf => b"\x7FELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
        Kind::Pe => pe(),
        Kind::Unknown => b"just some text, nothing to see".to_vec(),
    }
}

#[test]
fn every_kind_is_sniffed_from_a_sample() {
    for kind in ALL {
        assert_eq!(sniff(&sample(kind)), kind, "{}", kind.name());
    }
}

#[test]
fn kind_names_match_the_wit_enum_and_mimes_are_canonical() {
    let wit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit/media.wit"))
        .unwrap();
    let start = wit.find("enum kind {").unwrap() + "enum kind {".len();
    let cases: Vec<&str> = wit[start..wit[start..].find('}').unwrap() + start]
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let names: Vec<&str> = ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names, cases);
    for (kind, mime) in [
        (Kind::Jpeg, "image/jpeg"),
        (Kind::Svg, "image/svg+xml"),
        (Kind::Html, "text/html"),
        (Kind::Pdf, "application/pdf"),
        (Kind::Mp4, "video/mp4"),
        (Kind::Hls, "application/vnd.apple.mpegurl"),
        (Kind::Elf, "application/x-executable"),
        (Kind::Pe, "application/vnd.microsoft.portable-executable"),
        (Kind::Unknown, "application/octet-stream"),
    ] {
        assert_eq!(kind.mime(), mime);
    }
    assert!(ALL.iter().all(|k| k.mime().contains('/')));
}

#[test]
fn html_and_pdf_are_sniffed_whatever_name_the_uploader_gave() {
    // Uploaded as "cat.png" with Content-Type image/png: the name never reaches sniff.
    let html = b"\xEF\xBB\xBF\r\n  <HTML><script>alert(1)</script>".to_vec();
    let info = common::probe(&html).unwrap();
    assert_eq!((info.kind, info.mime), (Kind::Html, "text/html"));
    let pdf = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n".to_vec();
    assert_eq!(common::probe(&pdf).unwrap().mime, "application/pdf");
}

#[test]
fn html_is_recognised_by_its_first_tag_case_insensitively() {
    for text in [
        "<!doctype html>",
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">",
        "  \n\t<html lang=en>",
        "<HEAD><title>x</title>",
        "<body onload=x()>",
        "<script>alert(1)</script>",
        "<iframe src=//evil>",
        "<!-- a comment --><html>",
        "<?xml version=\"1.0\"?><!DOCTYPE html><html xmlns=\"http://www.w3.org/1999/xhtml\">",
    ] {
        assert_eq!(sniff(text.as_bytes()), Kind::Html, "{text}");
    }
}

#[test]
fn svg_is_recognised_after_declaration_comments_and_doctype() {
    let text = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <!-- Generator: a vector editor -->\n\
        <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\" [\n\
          <!ENTITY ns \"http://www.w3.org/2000/svg\">\n]>\n\
        <svg xmlns=\"&ns;\" width=\"10\" height=\"10\"><script>alert(1)</script></svg>";
    assert_eq!(sniff(text.as_bytes()), Kind::Svg);
    assert_eq!(
        sniff(b"<svg:svg xmlns:svg=\"http://www.w3.org/2000/svg\"/>"),
        Kind::Svg
    );
    assert_eq!(sniff(b"<svg>"), Kind::Svg);
}

#[test]
fn xml_that_is_not_svg_or_html_is_unknown() {
    assert_eq!(
        sniff(b"<?xml version=\"1.0\"?><rss version=\"2.0\">"),
        Kind::Unknown
    );
    assert_eq!(sniff(b"<svgfoo>"), Kind::Unknown);
    assert_eq!(sniff(b"text then <svg>"), Kind::Unknown);
}

#[test]
fn hls_playlist_is_recognised_after_bom_and_whitespace() {
    assert_eq!(sniff(b"\xEF\xBB\xBF \r\n#EXTM3U\n"), Kind::Hls);
}

#[test]
fn pdf_header_is_found_anywhere_in_the_first_kilobyte_only() {
    let mut data = vec![b'x'; 1000];
    data.extend(b"%PDF-1.5\n");
    assert_eq!(sniff(&data), Kind::Pdf);
    let mut late = vec![b'x'; 1020];
    late.extend(b"%PDF-1.5\n");
    assert_eq!(sniff(&late), Kind::Unknown);
}

#[test]
fn magic_at_offset_zero_wins_over_an_embedded_pdf_header() {
    let mut data = small_png();
    data.extend(b"%PDF-1.4");
    assert_eq!(sniff(&data), Kind::Png);
}

#[test]
fn markup_past_the_sniff_prefix_is_not_looked_at() {
    let mut data = b"<!--".to_vec();
    data.extend(vec![b' '; SNIFF_PREFIX]);
    data.extend(b"--><svg>");
    assert_eq!(sniff(&data), Kind::Unknown);
}

#[test]
fn mz_without_a_pe_header_is_not_an_executable() {
    let mut data = pe();
    data[0x80..0x84].copy_from_slice(b"NOPE");
    assert_eq!(sniff(&data), Kind::Unknown);
    assert_eq!(sniff(b"MZ"), Kind::Unknown);
    let mut far = vec![0; 0x20004];
    far[..2].copy_from_slice(b"MZ");
    far[0x3C..0x40].copy_from_slice(&0x20000u32.to_le_bytes());
    far[0x20000..].copy_from_slice(b"PE\0\0");
    assert_eq!(sniff(&far), Kind::Pe);
}

#[test]
fn iso_bmff_brands_pick_the_family_member() {
    assert_eq!(sniff(&ftyp(b"mif1", &[b"mif1", b"avif"])), Kind::Avif);
    assert_eq!(
        sniff(&ftyp(b"mif1", &[b"mif1", b"miaf", b"heic"])),
        Kind::Heic
    );
    assert_eq!(sniff(&ftyp(b"mif1", &[b"mif1"])), Kind::Heic);
    assert_eq!(
        sniff(&ftyp(b"avis", &[b"avis", b"msf1", b"iso8"])),
        Kind::Avif
    );
    assert_eq!(sniff(&ftyp(b"msf1", &[b"iso8", b"heic"])), Kind::Heic);
    assert_eq!(sniff(&ftyp(b"mp42", &[])), Kind::Mp4);
    assert_eq!(sniff(&ftyp(b"XXXX", &[b"isom"])), Kind::Mp4);
    assert_eq!(sniff(&ftyp(b"crx ", &[b"crx "])), Kind::Unknown);
}

#[test]
fn ebml_without_doctype_defaults_to_matroska() {
    let data = [0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0x86, 0x81, 0x01];
    assert_eq!(sniff(&data), Kind::Matroska);
}

/// An element whose 8-byte size runs past every header ends the walk before any DocType:
/// the spec's default, on 32-bit (the guest) and 64-bit targets alike. The size is the
/// same arithmetic in u64 whatever usize is; this test runs the 64-bit side natively, and
/// the differential fuzz target's regression input runs both.
#[test]
fn ebml_element_with_a_size_past_usize_on_wasm32_still_defaults_to_matroska() {
    let data = [
        0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x01, 0xF7, 0x81, 0x42, 0x84, 0x82, 0x81, 0x42,
        0x01, 0x77, 0x65, 0x62, 0x6D, 0x4B,
    ];
    assert_eq!(sniff(&data), Kind::Matroska);
}

#[test]
fn empty_zip_archive_is_a_zip() {
    assert_eq!(
        sniff(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
        Kind::Zip
    );
}

#[test]
fn short_and_empty_inputs_are_unknown() {
    for data in [
        &b""[..],
        b"\xFF",
        b"\xFF\xD8",
        b"GIF8",
        b"RIFF",
        b"BM",
        b"\0\0\x01\0",
    ] {
        assert_eq!(sniff(data), Kind::Unknown, "{data:?}");
    }
}
