//! The `trailing-data` rule: bytes after an image's logical end.
//!
//! Decoders stop at the end marker and ignore the rest, which is exactly why polyglots put
//! their second format there (a ZIP's central directory must sit at the end of the file).
//! This module owns finding that end by walking each format's structure, never by
//! searching for the end marker, which also occurs inside compressed data and inside
//! embedded thumbnails.

use media_probe::Kind;

use crate::bytes::{be16, be32, byte, find_byte, has_at, le32};
use crate::thresholds::TRAILING_SLACK_BYTES;
use crate::{rules, Findings, Verdict};

/// Verdict Suspicious: trailing bytes are also what Motion Photos (an MP4 after the JPEG),
/// MPF depth maps and some phone vendors' metadata blocks look like. Whether the trailing
/// bytes are a payload is decided by the embedded-signature rules, which reject.
pub(crate) fn check(data: &[u8], kind: Kind, findings: &mut Findings) {
    let Some(end) = logical_end(data, kind) else {
        return;
    };
    let extra = data.len().saturating_sub(end);
    if extra > TRAILING_SLACK_BYTES {
        findings.add(rules::TRAILING_DATA, Verdict::Suspicious, || {
            format!(
                "{extra} bytes follow the {} end at offset {end}",
                kind.name()
            )
        });
    }
}

/// Offset just past the logical end of the image, or `None` when the kind has no end
/// marker this module walks to or the structure is broken before the end (then there is
/// no end to measure from; the decoder will refuse the file anyway).
pub(crate) fn logical_end(data: &[u8], kind: Kind) -> Option<usize> {
    match kind {
        Kind::Jpeg => jpeg_end(data),
        Kind::Png => png_end(data),
        Kind::Gif => gif_end(data),
        Kind::Webp => webp_end(data),
        _ => None,
    }
}

const JPEG_SOI: u8 = 0xD8;
const JPEG_EOI: u8 = 0xD9;
const JPEG_SOS: u8 = 0xDA;
/// TEM and RST0..RST7 stand alone: no length field follows them.
fn jpeg_standalone(marker: u8) -> bool {
    marker == 0x01 || (0xD0..=0xD7).contains(&marker)
}

/// Walks the main image's segments to its EOI. Segment lengths skip APPn payloads, so the
/// SOI/EOI pair of an EXIF thumbnail is never mistaken for the end; after each SOS the
/// entropy-coded data is scanned for the first 0xFF that starts a real marker (not a stuffed
/// 0xFF00, not a restart marker, not fill).
fn jpeg_end(d: &[u8]) -> Option<usize> {
    if !has_at(d, 0, &[0xFF, JPEG_SOI]) {
        return None;
    }
    let mut pos = 2usize;
    loop {
        // Decoders skip extraneous bytes before a marker (libjpeg warns and carries on), so
        // the end they reach is found the same way; refusing here would let a few junk bytes
        // between segments hide the trailer from this rule.
        pos = find_byte(d, pos, 0xFF)?;
        // Any number of 0xFF fill bytes may precede a marker.
        while byte(d, pos)? == 0xFF {
            pos = pos.checked_add(1)?;
        }
        let marker = byte(d, pos)?;
        pos = pos.checked_add(1)?;
        match marker {
            JPEG_EOI => return Some(pos),
            // 0xFF00 is not a marker; keep looking.
            0x00 => continue,
            m if jpeg_standalone(m) => continue,
            JPEG_SOI => return None,
            _ => {}
        }
        let len = usize::from(be16(d, pos)?);
        if len < 2 {
            return None;
        }
        pos = pos.checked_add(len)?;
        if pos > d.len() {
            return None;
        }
        if marker == JPEG_SOS {
            pos = entropy_end(d, pos)?;
        }
    }
}

/// Offset of the marker that ends the entropy-coded segment starting at `from`.
fn entropy_end(d: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i = find_byte(d, i, 0xFF)?;
        match byte(d, i.checked_add(1)?)? {
            0x00 => i = i.checked_add(2)?,
            m if (0xD0..=0xD7).contains(&m) => i = i.checked_add(2)?,
            // Fill before a marker: the marker walk skips it.
            _ => return Some(i),
        }
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// PNG chunk lengths are at most 2^31 - 1 (PNG spec, section 5.3).
const PNG_MAX_CHUNK_LEN: u32 = 0x7FFF_FFFF;

/// Walks chunks to the end of IEND (its CRC included).
fn png_end(d: &[u8]) -> Option<usize> {
    if !has_at(d, 0, PNG_SIGNATURE) {
        return None;
    }
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let len = be32(d, pos)?;
        if len > PNG_MAX_CHUNK_LEN {
            return None;
        }
        let is_iend = has_at(d, pos.checked_add(4)?, b"IEND");
        // length + type + data + CRC
        let end = pos
            .checked_add(12)?
            .checked_add(usize::try_from(len).ok()?)?;
        if end > d.len() {
            return None;
        }
        if is_iend {
            return Some(end);
        }
        pos = end;
    }
}

const GIF_TRAILER: u8 = 0x3B;
const GIF_EXTENSION: u8 = 0x21;
const GIF_IMAGE: u8 = 0x2C;
/// Header (6) + logical screen descriptor (7).
const GIF_HEADER_LEN: usize = 13;

/// Walks the block stream to the trailer byte.
fn gif_end(d: &[u8]) -> Option<usize> {
    if !has_at(d, 0, b"GIF87a") && !has_at(d, 0, b"GIF89a") {
        return None;
    }
    let packed = byte(d, 10)?;
    let mut pos = GIF_HEADER_LEN.checked_add(color_table_len(packed))?;
    loop {
        match byte(d, pos)? {
            GIF_TRAILER => return pos.checked_add(1),
            GIF_EXTENSION => {
                // Introducer and label, then data sub-blocks.
                pos = skip_sub_blocks(d, pos.checked_add(2)?)?;
            }
            GIF_IMAGE => {
                let packed = byte(d, pos.checked_add(9)?)?;
                // Descriptor (10), local colour table, LZW minimum code size (1), sub-blocks.
                let data = pos.checked_add(10)?.checked_add(color_table_len(packed))?;
                byte(d, data)?;
                pos = skip_sub_blocks(d, data.checked_add(1)?)?;
            }
            _ => return None,
        }
    }
}

/// Size of the colour table a GIF packed field announces, 0 when its flag is clear.
fn color_table_len(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3usize << ((packed & 0x07) + 1)
    }
}

/// Offset after the zero-length block that ends a run of sub-blocks starting at `pos`.
fn skip_sub_blocks(d: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = byte(d, pos)?;
        pos = pos.checked_add(1)?;
        if len == 0 {
            return Some(pos);
        }
        pos = pos.checked_add(usize::from(len))?;
    }
}

/// The RIFF header says how long the WebP is; RIFF pads odd sizes to even.
fn webp_end(d: &[u8]) -> Option<usize> {
    if !has_at(d, 0, b"RIFF") || !has_at(d, 8, b"WEBP") {
        return None;
    }
    let size = usize::try_from(le32(d, 4)?).ok()?;
    let end = size.checked_add(8)?.checked_add(size & 1)?;
    (end <= d.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{tiny_gif, tiny_jpeg, tiny_png, tiny_webp};

    #[test]
    fn jpeg_end_skips_thumbnail_and_stuffed_bytes_to_the_real_eoi() {
        let j = tiny_jpeg();
        assert_eq!(logical_end(&j, Kind::Jpeg), Some(j.len()));
    }

    #[test]
    fn jpeg_end_tolerates_fill_bytes_before_markers() {
        let mut j = tiny_jpeg();
        let eoi = j.len() - 2;
        j.splice(eoi..eoi, [0xFF, 0xFF]);
        assert_eq!(logical_end(&j, Kind::Jpeg), Some(j.len()));
    }

    #[test]
    fn jpeg_end_skips_extraneous_bytes_between_segments_like_decoders() {
        let mut j = tiny_jpeg();
        // Junk between the APP1 segment (its length at 4..6 counts itself) and SOF0.
        let app1_end = 4 + usize::from(u16::from_be_bytes([j[4], j[5]]));
        j.splice(app1_end..app1_end, [0x00, 0x12, 0x34]);
        assert_eq!(logical_end(&j, Kind::Jpeg), Some(j.len()));
    }

    #[test]
    fn png_gif_webp_ends_are_their_last_byte() {
        for (data, kind) in [
            (tiny_png(), Kind::Png),
            (tiny_gif(), Kind::Gif),
            (tiny_webp(), Kind::Webp),
        ] {
            assert_eq!(logical_end(&data, kind), Some(data.len()), "{kind:?}");
        }
    }

    #[test]
    fn trailing_bytes_beyond_the_slack_are_suspicious() {
        for (mut data, kind) in [
            (tiny_jpeg(), Kind::Jpeg),
            (tiny_png(), Kind::Png),
            (tiny_gif(), Kind::Gif),
            (tiny_webp(), Kind::Webp),
        ] {
            data.extend(std::iter::repeat_n(0xAB, TRAILING_SLACK_BYTES + 1));
            let mut f = Findings::default();
            check(&data, kind, &mut f);
            assert_eq!(
                f.verdict_of(rules::TRAILING_DATA),
                Some(Verdict::Suspicious),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn padding_within_the_slack_is_clean() {
        let mut data = tiny_jpeg();
        data.extend(std::iter::repeat_n(0, TRAILING_SLACK_BYTES));
        let mut f = Findings::default();
        check(&data, Kind::Jpeg, &mut f);
        assert!(!f.has(rules::TRAILING_DATA));
    }

    #[test]
    fn truncated_images_have_no_end_to_measure_from() {
        for (data, kind) in [
            (tiny_jpeg(), Kind::Jpeg),
            (tiny_png(), Kind::Png),
            (tiny_gif(), Kind::Gif),
            (tiny_webp(), Kind::Webp),
        ] {
            for cut in 0..data.len() {
                assert_eq!(
                    logical_end(&data[..cut], kind),
                    None,
                    "{kind:?} cut at {cut}"
                );
            }
        }
    }
}
