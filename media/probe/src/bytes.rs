//! Bounds-checked reads of fixed-size integers from untrusted bytes. Every read returns `None`
//! past the end instead of panicking, so format walkers treat truncation as data, not a bug.

pub(crate) fn array<const N: usize>(d: &[u8], at: usize) -> Option<[u8; N]> {
    d.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn byte(d: &[u8], at: usize) -> Option<u8> {
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

pub(crate) fn le24(d: &[u8], at: usize) -> Option<u32> {
    array::<3>(d, at).map(|[a, b, c]| u32::from_le_bytes([a, b, c, 0]))
}

pub(crate) fn le32(d: &[u8], at: usize) -> Option<u32> {
    array(d, at).map(u32::from_le_bytes)
}

/// `len` bytes at `at`, or `None` when they run past the end.
pub(crate) fn slice(d: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    d.get(at..at.checked_add(len)?)
}

/// Index of the first `needle` byte at or after `from`.
pub(crate) fn find_byte(d: &[u8], from: usize, needle: u8) -> Option<usize> {
    let pos = d.get(from..)?.iter().position(|&b| b == needle)?;
    from.checked_add(pos)
}

/// Index of the first occurrence of `needle` in `d`.
pub(crate) fn find(d: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    d.windows(needle.len()).position(|w| w == needle)
}
