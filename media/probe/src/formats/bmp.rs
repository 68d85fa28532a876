//! BMP and ICO: fixed-layout headers, read for the size only.

use super::{canvas, still};
use crate::bytes::{byte, le16, le32};
use crate::{Limits, MediaError, ProbeInfo};

/// BMP: the DIB header after the 14-byte file header. OS/2 core headers (12 bytes) have
/// unsigned 16-bit sizes; the later ones signed 32-bit, with a negative height meaning the
/// rows are stored top-down.
pub(super) fn probe_bmp(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    let truncated = || MediaError::malformed("bmp header truncated");
    let header_size = le32(d, 14).ok_or_else(truncated)?;
    let (width, height) = if header_size == 12 {
        let (w, h) = le16(d, 18).zip(le16(d, 20)).ok_or_else(truncated)?;
        (u32::from(w), u32::from(h))
    } else {
        let (w, h) = le32(d, 18).zip(le32(d, 22)).ok_or_else(truncated)?;
        let (w, h) = (w as i32, h as i32);
        if w < 0 {
            return Err(MediaError::malformed("bmp with negative width"));
        }
        let bits = le16(d, 28).ok_or_else(truncated)?;
        let compression = le32(d, 30).ok_or_else(truncated)?;
        // 32-bit pixels carry alpha only when a bitfields mask (BI_BITFIELDS or
        // BI_ALPHABITFIELDS, in a V3+ header) says which bits hold it.
        let alpha_mask = le32(d, 14 + 52).unwrap_or(0);
        info.has_alpha =
            bits == 32 && matches!(compression, 3 | 6) && header_size >= 56 && alpha_mask != 0;
        (w.unsigned_abs(), h.unsigned_abs())
    };
    if width == 0 || height == 0 {
        return Err(MediaError::malformed("bmp with an empty image"));
    }
    canvas(info, width, height, limits)?;
    still(info);
    Ok(None)
}

/// ICO: a directory of images at different sizes. The probe reports the largest, the one a
/// viewer shows; a size byte of 0 means 256.
pub(super) fn probe_ico(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    let count = le16(d, 4).unwrap_or(0);
    let mut largest: Option<(u32, u32)> = None;
    for i in 0..usize::from(count) {
        let entry = 6 + 16 * i;
        let (Some(w), Some(h)) = (byte(d, entry), byte(d, entry + 1)) else {
            break;
        };
        let size = |b: u8| if b == 0 { 256 } else { u32::from(b) };
        let (w, h) = (size(w), size(h));
        if largest.is_none_or(|(lw, lh)| w * h > lw * lh) {
            largest = Some((w, h));
        }
    }
    let (w, h) = largest.ok_or_else(|| MediaError::malformed("ico directory truncated"))?;
    canvas(info, w, h, limits)?;
    still(info);
    // Every icon image carries either 32-bit alpha or a 1-bit AND mask: all can be transparent.
    info.has_alpha = true;
    Ok(None)
}
