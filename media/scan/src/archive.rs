//! The archive rules: `archive-bomb` and `archive-malformed`, for ZIP (the whole file, or
//! one appended to another format) and gzip.
//!
//! Nothing is ever decompressed: a bomb is recognised from what its directory declares
//! (sizes, ratios, entry count) and from its layout (entries whose local data overlap,
//! David Fifield's non-recursive bomb, where thousands of entries share one compressed
//! kernel). An extractor trusts those declarations, so they are what decides how much work
//! and disk it spends.

use crate::bytes::{has_at, le16, le32, le64, slice};
use crate::thresholds::{
    MAX_ARCHIVE_ENTRIES, MAX_ARCHIVE_UNCOMPRESSED_BYTES, MAX_COMPRESSION_RATIO,
    RATIO_MIN_UNCOMPRESSED_BYTES,
};
use crate::{rules, Findings, Verdict};

const EOCD_SIG: &[u8] = b"PK\x05\x06";
const EOCD_LEN: usize = 22;
/// The EOCD record ends with a comment of at most 65535 bytes, so it starts within this
/// many bytes of the end: the backwards search never looks further.
const EOCD_SEARCH_WINDOW: usize = EOCD_LEN + 0xFFFF;
const ZIP64_LOCATOR_SIG: &[u8] = b"PK\x06\x07";
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIG: &[u8] = b"PK\x06\x06";
/// Fixed part of the ZIP64 end record; writers add no extensible data in practice, so the
/// record normally sits exactly this far before the locator.
const ZIP64_EOCD_LEN: usize = 56;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const CD_SIG: &[u8] = b"PK\x01\x02";
const CD_LEN: usize = 46;
const LOCAL_SIG: &[u8] = b"PK\x03\x04";
const LOCAL_LEN: usize = 30;
/// A 32-bit size or offset of this value means "see the ZIP64 extra field".
const ZIP64_SENTINEL: u32 = 0xFFFF_FFFF;
/// The gzip header (10 bytes) and trailer (CRC32, ISIZE) around the deflate stream.
const GZIP_OVERHEAD: usize = 18;

/// Verdict Reject for `archive-bomb`: an extractor that believes the declarations exhausts
/// disk, memory or CPU. Verdict Suspicious for `archive-malformed`: broken directories are
/// also what truncated uploads and self-extractors look like, and extractors disagree on
/// them, which is an attack surface but not proof of one.
///
/// `whole_file` says the data is itself a ZIP; for a ZIP found inside another format only
/// bombs are reported, since an unparseable directory there is the polyglot rule's business.
pub(crate) fn check_zip(data: &[u8], whole_file: bool, findings: &mut Findings) {
    let mut walk = Walk::default();
    let result = walk_zip(data, &mut walk);
    let malformed = walk.malformed.take();
    walk.report(findings);
    if let Err(why) = result.and(malformed.map_or(Ok(()), Err)) {
        if whole_file {
            findings.add(rules::ARCHIVE_MALFORMED, Verdict::Suspicious, || why);
        }
    }
}

/// What walking the directory established, reported even when the walk stops early.
#[derive(Default)]
struct Walk {
    /// The first reason the archive is a bomb.
    bomb: Option<String>,
    /// The first local-header problem, which does not stop the walk.
    malformed: Option<String>,
    total_uncompressed: u64,
    /// [start, end) of every entry's local header and data, in file offsets.
    ranges: Vec<(u64, u64)>,
}

impl Walk {
    fn bomb(&mut self, why: impl FnOnce() -> String) {
        if self.bomb.is_none() {
            self.bomb = Some(why());
        }
    }

    fn report(mut self, findings: &mut Findings) {
        if self.total_uncompressed > MAX_ARCHIVE_UNCOMPRESSED_BYTES {
            let total = self.total_uncompressed;
            self.bomb(|| {
                format!("entries declare {total} bytes uncompressed (limit {MAX_ARCHIVE_UNCOMPRESSED_BYTES})")
            });
        }
        self.ranges.sort_unstable();
        let overlap = self.ranges.windows(2).find_map(|w| match w {
            [a, b] if b.0 < a.1 => Some((a.0, b.0)),
            _ => None,
        });
        if let Some((first, second)) = overlap {
            self.bomb(|| format!("entries at offsets {first} and {second} overlap"));
        }
        if let Some(why) = self.bomb {
            findings.add(rules::ARCHIVE_BOMB, Verdict::Reject, || why);
        }
    }
}

/// Where the central directory is and what it declares.
struct Directory {
    entries: u64,
    size: u64,
    offset: u64,
    /// Offset of the record that follows the directory (the ZIP64 or classic EOCD).
    end_record: usize,
}

fn walk_zip(d: &[u8], walk: &mut Walk) -> Result<(), String> {
    let dir = directory(d)?;
    if dir.entries > MAX_ARCHIVE_ENTRIES {
        let n = dir.entries;
        walk.bomb(|| format!("{n} entries declared (limit {MAX_ARCHIVE_ENTRIES})"));
        return Ok(());
    }
    if dir.entries == 0 {
        return Ok(());
    }
    let (cd_start, base) = locate_directory(d, &dir)?;
    // Bounded by MAX_ARCHIVE_ENTRIES, never by the input size.
    walk.ranges
        .reserve(usize::try_from(dir.entries).unwrap_or(0));
    let mut p = cd_start;
    for n in 0..dir.entries {
        p = entry(d, p, base, walk).ok_or_else(|| {
            format!("central directory entry {n} at offset {p} is truncated or invalid")
        })?;
    }
    Ok(())
}

/// The last EOCD record whose comment ends exactly at the end of the data; failing that,
/// the last one whose comment fits (trailing junk after an archive is common).
fn find_eocd(d: &[u8]) -> Option<usize> {
    let last = d.len().checked_sub(EOCD_LEN)?;
    let first = d.len().saturating_sub(EOCD_SEARCH_WINDOW);
    let mut fallback = None;
    for pos in (first..=last).rev() {
        if !has_at(d, pos, EOCD_SIG) {
            continue;
        }
        let Some(comment) = le16(d, pos + 20) else {
            continue;
        };
        let end = pos + EOCD_LEN + usize::from(comment);
        if end == d.len() {
            return Some(pos);
        }
        if end < d.len() && fallback.is_none() {
            fallback = Some(pos);
        }
    }
    fallback
}

fn directory(d: &[u8]) -> Result<Directory, String> {
    let eocd = find_eocd(d).ok_or("no end of central directory record")?;
    let field16 = |off: usize| le16(d, eocd + off).ok_or("truncated end of central directory");
    let field32 = |off: usize| le32(d, eocd + off).ok_or("truncated end of central directory");
    if field16(4)? != 0 || field16(6)? != 0 {
        return Err("multi-disk archive".into());
    }
    let entries = field16(10)?;
    let size = field32(12)?;
    let offset = field32(16)?;
    let mut dir = Directory {
        entries: u64::from(entries),
        size: u64::from(size),
        offset: u64::from(offset),
        end_record: eocd,
    };
    let locator = eocd
        .checked_sub(ZIP64_LOCATOR_LEN)
        .filter(|&l| has_at(d, l, ZIP64_LOCATOR_SIG));
    match locator {
        Some(loc) => {
            // The locator's offset is relative to the archive start, which differs from the
            // file start when something is prepended; the record right before the locator
            // is the usual place either way.
            let declared = le64(d, loc + 8).and_then(|o| usize::try_from(o).ok());
            let z = [declared, loc.checked_sub(ZIP64_EOCD_LEN)]
                .into_iter()
                .flatten()
                .find(|&z| has_at(d, z, ZIP64_EOCD_SIG))
                .ok_or("ZIP64 locator without a ZIP64 end record")?;
            let field64 = |off: usize| le64(d, z + off).ok_or("truncated ZIP64 end record");
            dir = Directory {
                entries: field64(32)?,
                size: field64(40)?,
                offset: field64(48)?,
                end_record: z,
            };
        }
        // 0xFFFF entries may be honest (exactly 65535), and is over the entry limit anyway.
        None if size == ZIP64_SENTINEL || offset == ZIP64_SENTINEL => {
            return Err("ZIP64 sizes without a ZIP64 locator".into());
        }
        None => {}
    }
    Ok(dir)
}

/// Where the central directory starts, and the number of bytes prepended to the archive
/// (offsets in the directory are relative to the archive's start: a ZIP appended to a JPEG
/// has all of them short by the JPEG's length unless the tool adjusted them).
fn locate_directory(d: &[u8], dir: &Directory) -> Result<(usize, u64), String> {
    if let Some(at) = usize::try_from(dir.offset)
        .ok()
        .filter(|&o| has_at(d, o, CD_SIG))
    {
        return Ok((at, 0));
    }
    let implied = usize::try_from(dir.size)
        .ok()
        .and_then(|s| dir.end_record.checked_sub(s))
        .filter(|&o| has_at(d, o, CD_SIG))
        .ok_or("central directory not found where the end record says")?;
    let base = (implied as u64)
        .checked_sub(dir.offset)
        .ok_or("central directory offset points past the directory")?;
    Ok((implied, base))
}

/// Reads the central directory entry at `p`; returns the offset of the next one.
fn entry(d: &[u8], p: usize, base: u64, walk: &mut Walk) -> Option<usize> {
    if !has_at(d, p, CD_SIG) {
        return None;
    }
    let mut compressed = u64::from(le32(d, p + 20)?);
    let mut uncompressed = u64::from(le32(d, p + 24)?);
    let name_len = usize::from(le16(d, p + 28)?);
    let extra_len = usize::from(le16(d, p + 30)?);
    let comment_len = usize::from(le16(d, p + 32)?);
    let mut local = u64::from(le32(d, p + 42)?);
    let extra = slice(d, p.checked_add(CD_LEN)?.checked_add(name_len)?, extra_len)?;
    let next = p
        .checked_add(CD_LEN)?
        .checked_add(name_len)?
        .checked_add(extra_len)?
        .checked_add(comment_len)?;
    if next > d.len() {
        return None;
    }

    let sentinel = |v: u64| v == u64::from(ZIP64_SENTINEL);
    if sentinel(uncompressed) || sentinel(compressed) || sentinel(local) {
        // The ZIP64 extra field holds, in this order, only the values whose 32-bit field is
        // the sentinel.
        let mut fields = zip64_extra(extra)?
            .chunks_exact(8)
            .filter_map(|c| le64(c, 0));
        for v in [&mut uncompressed, &mut compressed, &mut local] {
            if sentinel(*v) {
                *v = fields.next()?;
            }
        }
    }

    walk.total_uncompressed = walk.total_uncompressed.saturating_add(uncompressed);
    if uncompressed >= RATIO_MIN_UNCOMPRESSED_BYTES
        && uncompressed > compressed.saturating_mul(MAX_COMPRESSION_RATIO)
    {
        walk.bomb(|| {
            format!(
                "entry at offset {p} declares {uncompressed} bytes from {compressed} \
                 (ratio limit {MAX_COMPRESSION_RATIO}:1)"
            )
        });
    }

    let start = base.saturating_add(local);
    match local_extent(d, start) {
        Some(header) => walk.ranges.push((
            start,
            start.saturating_add(header).saturating_add(compressed),
        )),
        None if walk.malformed.is_none() => {
            walk.malformed = Some(format!(
                "entry at offset {p} points at no local header ({start})"
            ));
        }
        None => {}
    }
    Some(next)
}

/// The body of the ZIP64 extended-information extra field, if present.
fn zip64_extra(mut extra: &[u8]) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let id = le16(extra, 0)?;
        let len = usize::from(le16(extra, 2)?);
        let body = slice(extra, 4, len)?;
        if id == ZIP64_EXTRA_ID {
            return Some(body);
        }
        extra = extra.get(4 + len..)?;
    }
    None
}

/// Length of the local header at `start` (fixed part, name and extra field).
fn local_extent(d: &[u8], start: u64) -> Option<u64> {
    let at = usize::try_from(start).ok()?;
    if !has_at(d, at, LOCAL_SIG) {
        return None;
    }
    let name = u64::from(le16(d, at + 26)?);
    let extra = u64::from(le16(d, at + 28)?);
    Some(LOCAL_LEN as u64 + name + extra)
}

/// `archive-bomb` for gzip, from the ISIZE trailer: the uncompressed size modulo 2^32 of
/// the last member. The modulus means a bomb of exactly k·4 GiB plus a little looks small;
/// that blind spot is accepted (nothing here inflates it, and the extractor's own limits
/// still apply), while every honest gzip under 4 GiB is judged by its real size.
pub(crate) fn check_gzip(d: &[u8], findings: &mut Findings) {
    if d.len() < GZIP_OVERHEAD || !has_at(d, 0, b"\x1F\x8B") {
        return;
    }
    let Some(isize) = d
        .len()
        .checked_sub(4)
        .and_then(|at| le32(d, at))
        .map(u64::from)
    else {
        return;
    };
    let compressed = ((d.len() - GZIP_OVERHEAD) as u64).max(1);
    if isize > MAX_ARCHIVE_UNCOMPRESSED_BYTES {
        findings.add(rules::ARCHIVE_BOMB, Verdict::Reject, || {
            format!(
                "gzip declares {isize} bytes uncompressed (limit {MAX_ARCHIVE_UNCOMPRESSED_BYTES})"
            )
        });
    } else if isize >= RATIO_MIN_UNCOMPRESSED_BYTES
        && isize > compressed.saturating_mul(MAX_COMPRESSION_RATIO)
    {
        findings.add(rules::ARCHIVE_BOMB, Verdict::Reject, || {
            format!(
                "gzip declares {isize} bytes from {compressed} (ratio limit {MAX_COMPRESSION_RATIO}:1)"
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{Zip, ZipEntry};

    fn run(data: &[u8], whole_file: bool) -> Findings {
        let mut f = Findings::default();
        check_zip(data, whole_file, &mut f);
        f
    }

    #[test]
    fn honest_zip_is_clean() {
        let zip = Zip::new()
            .entry(ZipEntry::stored("a.txt", b"hello"))
            .entry(ZipEntry::stored("b/c.txt", b"x"))
            .build();
        assert!(run(&zip, true)
            .into_report(media_probe::Kind::Zip)
            .findings
            .is_empty());
    }

    #[test]
    fn declared_ten_gigabytes_is_a_bomb() {
        let mut e = ZipEntry::stored("big.bin", &[0; 64]);
        e.uncompressed = u32::MAX as u64 - 1;
        let zip = Zip::new()
            .entry(e.clone())
            .entry(e.clone())
            .entry(e)
            .build();
        assert_eq!(
            run(&zip, true).verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject)
        );
    }

    #[test]
    fn zip64_sizes_are_read_from_the_extra_field() {
        let mut e = ZipEntry::stored("huge.bin", &[0; 64]);
        e.uncompressed = 10 * (1 << 30);
        let zip = Zip::new().entry(e).build();
        let f = run(&zip, true);
        assert_eq!(f.verdict_of(rules::ARCHIVE_BOMB), Some(Verdict::Reject));
        assert!(!f.has(rules::ARCHIVE_MALFORMED));
    }

    #[test]
    fn zip64_end_records_are_followed() {
        let zip = Zip::new()
            .entry(ZipEntry::stored("a", b"a"))
            .zip64_end()
            .build();
        let f = run(&zip, true);
        assert!(f.into_report(media_probe::Kind::Zip).findings.is_empty());
        let mut e = ZipEntry::stored("a", b"a");
        e.uncompressed = 2 << 30;
        let zip = Zip::new().entry(e).zip64_end().build();
        assert!(run(&zip, true).has(rules::ARCHIVE_BOMB));
    }

    #[test]
    fn high_ratio_entry_is_a_bomb_but_small_ones_are_not() {
        let mut e = ZipEntry::deflated("zeros", &[0; 1000]);
        e.uncompressed = 1000 * 1000 * 5;
        let zip = Zip::new().entry(e).build();
        assert_eq!(
            run(&zip, true).verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject)
        );

        let mut small = ZipEntry::deflated("zeros", &[0; 10]);
        small.uncompressed = 100_000;
        let zip = Zip::new().entry(small).build();
        assert!(!run(&zip, true).has(rules::ARCHIVE_BOMB));
    }

    #[test]
    fn too_many_entries_is_a_bomb() {
        let zip = Zip::new()
            .entry(ZipEntry::stored("a", b"a"))
            .declared_entries(60_000)
            .build();
        assert_eq!(
            run(&zip, true).verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject)
        );
    }

    #[test]
    fn entries_sharing_one_local_header_are_an_overlap_bomb() {
        let zip = Zip::new()
            .entry(ZipEntry::stored("a", b"kernel"))
            .alias(0, "b")
            .alias(0, "c")
            .build();
        let f = run(&zip, true);
        assert_eq!(f.verdict_of(rules::ARCHIVE_BOMB), Some(Verdict::Reject));
        assert!(f.into_report(media_probe::Kind::Zip).findings[0]
            .detail
            .contains("overlap"));
    }

    #[test]
    fn entries_whose_data_covers_the_next_header_are_an_overlap_bomb() {
        // Fifield's construction: each entry's data range runs over the following entry's
        // header into the shared kernel.
        let zip = Zip::new()
            .entry(ZipEntry::stored("a", b"1111"))
            .entry(ZipEntry::stored("b", b"2222"))
            .stretch(0, 20)
            .build();
        assert_eq!(
            run(&zip, true).verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject)
        );
    }

    #[test]
    fn zip_appended_to_another_file_is_walked_with_shifted_offsets() {
        let mut data = vec![0x55u8; 1000];
        let mut e = ZipEntry::stored("big", b"x");
        e.uncompressed = 5 << 30;
        data.extend(Zip::new().entry(e).build());
        assert_eq!(
            run(&data, false).verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject)
        );

        let mut data = vec![0x55u8; 1000];
        data.extend(
            Zip::new()
                .entry(ZipEntry::stored("a", b"x"))
                .alias(0, "b")
                .build(),
        );
        assert_eq!(
            run(&data, false).verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject)
        );
    }

    #[test]
    fn broken_directories_are_malformed_only_for_whole_zips() {
        let mut zip = Zip::new().entry(ZipEntry::stored("a", b"a")).build();
        let cd = zip.windows(4).position(|w| w == CD_SIG).unwrap();
        zip[cd] = b'X';
        assert_eq!(
            run(&zip, true).verdict_of(rules::ARCHIVE_MALFORMED),
            Some(Verdict::Suspicious)
        );
        assert!(!run(&zip, false).has(rules::ARCHIVE_MALFORMED));
        assert_eq!(
            run(b"PK\x03\x04 no directory", true).verdict_of(rules::ARCHIVE_MALFORMED),
            Some(Verdict::Suspicious)
        );
    }

    #[test]
    fn zip64_sentinel_without_extra_field_is_malformed() {
        let mut e = ZipEntry::stored("a", b"a");
        e.uncompressed = u64::from(ZIP64_SENTINEL);
        e.omit_zip64_extra = true;
        let zip = Zip::new().entry(e).build();
        assert!(run(&zip, true).has(rules::ARCHIVE_MALFORMED));
    }

    #[test]
    fn every_truncation_of_a_zip_is_handled() {
        let zip = Zip::new()
            .entry(ZipEntry::stored("a", b"abc"))
            .alias(0, "b")
            .zip64_end()
            .build();
        for cut in 0..zip.len() {
            let _ = run(&zip[..cut], true);
            let _ = run(&zip[cut..], true);
        }
    }

    fn gzip(payload_len: usize, isize: u32) -> Vec<u8> {
        let mut g = vec![0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3];
        g.extend(std::iter::repeat_n(0xAA, payload_len));
        g.extend_from_slice(&[0, 0, 0, 0]);
        g.extend_from_slice(&isize.to_le_bytes());
        g
    }

    #[test]
    fn gzip_isize_ratio_and_size_are_judged() {
        let mut f = Findings::default();
        check_gzip(&gzip(1000, 10 << 20), &mut f);
        assert_eq!(
            f.verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject),
            "ratio"
        );

        let mut f = Findings::default();
        check_gzip(&gzip(20 << 20, 2 << 30), &mut f);
        assert_eq!(
            f.verdict_of(rules::ARCHIVE_BOMB),
            Some(Verdict::Reject),
            "size"
        );

        let mut f = Findings::default();
        check_gzip(&gzip(1000, 5000), &mut f);
        assert!(!f.has(rules::ARCHIVE_BOMB));
        check_gzip(b"\x1F\x8B", &mut f);
        assert!(!f.has(rules::ARCHIVE_BOMB));
    }
}
