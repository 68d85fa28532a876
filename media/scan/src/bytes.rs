//! Bounds-checked reads and searches over untrusted bytes. Every helper returns `None` or
//! `false` instead of panicking, so the rule modules never index directly.
//!
//! In the crate's tests the helpers also count the bytes they examine ([`work`]), so a test
//! can prove a rule's walk is linear by counting its work instead of timing it.

/// Counts the bytes the helpers examine on this thread. Only in the crate's tests: the
/// release build has no counter and no cost.
#[cfg(test)]
pub(crate) mod work {
    use std::cell::Cell;

    thread_local! {
        static EXAMINED: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn add(n: usize) {
        EXAMINED.with(|c| c.set(c.get().saturating_add(n as u64)));
    }

    /// Runs `f` and returns how many bytes the helpers examined meanwhile.
    pub(crate) fn measure(f: impl FnOnce()) -> u64 {
        let before = EXAMINED.with(Cell::get);
        f();
        EXAMINED.with(Cell::get) - before
    }
}

/// Records that a helper examined `n` bytes (a no-op outside the crate's tests).
#[inline(always)]
fn examined(n: usize) {
    #[cfg(test)]
    work::add(n);
    #[cfg(not(test))]
    let _ = n;
}

pub(crate) fn slice(d: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    examined(len);
    d.get(at..at.checked_add(len)?)
}

pub(crate) fn array<const N: usize>(d: &[u8], at: usize) -> Option<[u8; N]> {
    slice(d, at, N)?.try_into().ok()
}

pub(crate) fn byte(d: &[u8], at: usize) -> Option<u8> {
    examined(1);
    d.get(at).copied()
}

pub(crate) fn be16(d: &[u8], at: usize) -> Option<u16> {
    array(d, at).map(u16::from_be_bytes)
}

pub(crate) fn be32(d: &[u8], at: usize) -> Option<u32> {
    array(d, at).map(u32::from_be_bytes)
}

pub(crate) fn le16(d: &[u8], at: usize) -> Option<u16> {
    array(d, at).map(u16::from_le_bytes)
}

pub(crate) fn le32(d: &[u8], at: usize) -> Option<u32> {
    array(d, at).map(u32::from_le_bytes)
}

pub(crate) fn le64(d: &[u8], at: usize) -> Option<u64> {
    array(d, at).map(u64::from_le_bytes)
}

/// Whether `pat` occurs at `at`.
pub(crate) fn has_at(d: &[u8], at: usize, pat: &[u8]) -> bool {
    slice(d, at, pat.len()) == Some(pat)
}

/// Whether `pat` occurs at `at`, ignoring ASCII case.
pub(crate) fn has_at_ci(d: &[u8], at: usize, pat: &[u8]) -> bool {
    slice(d, at, pat.len()).is_some_and(|s| s.eq_ignore_ascii_case(pat))
}

/// First offset >= `from` of `needle`.
pub(crate) fn find_byte(d: &[u8], from: usize, needle: u8) -> Option<usize> {
    let rest = d.get(from..)?;
    let pos = rest.iter().position(|&b| b == needle);
    examined(pos.map_or(rest.len(), |p| p + 1));
    from.checked_add(pos?)
}

/// First offset >= `from` of `pat`. Jumps between occurrences of the first byte, so it
/// costs a byte scan plus at most `pat.len()` per candidate: linear for the short constant
/// patterns this crate uses.
pub(crate) fn find(d: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    let Some(&first) = pat.first() else {
        return Some(from);
    };
    let mut i = from;
    loop {
        let at = find_byte(d, i, first)?;
        if has_at(d, at, pat) {
            return Some(at);
        }
        i = at.checked_add(1)?;
    }
}

/// First offset >= `from` of `pat`, ignoring ASCII case.
pub(crate) fn find_ci(d: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    let Some(first) = pat.first().map(u8::to_ascii_lowercase) else {
        return Some(from);
    };
    let mut i = from;
    loop {
        let rest = d.get(i..)?;
        let pos = rest.iter().position(|b| b.to_ascii_lowercase() == first);
        examined(pos.map_or(rest.len(), |p| p + 1));
        let at = i.checked_add(pos?)?;
        if has_at_ci(d, at, pat) {
            return Some(at);
        }
        i = at.checked_add(1)?;
    }
}

/// `d` without leading and trailing ASCII whitespace.
pub(crate) fn trim(d: &[u8]) -> &[u8] {
    let start = d
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(d.len());
    let end = d
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    d.get(start..end).unwrap_or_default()
}

/// Longest quote of input bytes in a finding's detail: enough to recognise an attribute or
/// a file name, short enough that a hostile file cannot bloat the report.
const MAX_SNIPPET: usize = 64;

/// A printable, bounded rendering of untrusted bytes for a finding's detail.
pub(crate) fn snippet(d: &[u8]) -> String {
    let cut = d.get(..MAX_SNIPPET).unwrap_or(d);
    let mut s: String = cut
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    if cut.len() < d.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_none_not_panics() {
        let d = [1u8, 2, 3];
        assert_eq!(be16(&d, 1), Some(0x0203));
        assert_eq!(be16(&d, 2), None);
        assert_eq!(le32(&d, usize::MAX), None);
        assert_eq!(slice(&d, usize::MAX, 2), None);
        assert!(!has_at(&d, 3, b"x"));
        assert_eq!(find(&d, 10, b"\x01"), None);
    }

    #[test]
    fn case_insensitive_search_finds_mixed_case() {
        assert_eq!(find_ci(b"xx<ScRiPt", 0, b"<script"), Some(2));
        assert!(has_at_ci(b"<HTML", 0, b"<html"));
        assert_eq!(find(b"aaab", 0, b"ab"), Some(2));
        assert_eq!(find_ci(b"xXxY", 1, b"xy"), Some(2));
        assert_eq!(find(b"abc", 0, b""), Some(0));
    }

    #[test]
    fn snippet_is_bounded_and_printable() {
        let s = snippet(&[0u8; 1000]);
        assert!(s.chars().count() <= MAX_SNIPPET + 1);
        assert!(s.starts_with("???"));
        assert_eq!(trim(b"  a b \n"), b"a b");
        assert_eq!(trim(b"   "), b"");
    }
}
