//! GIF: reads the logical screen, then walks extension and image blocks, skipping their data
//! sub-blocks without decompressing them, counting frames as it goes.

use super::{canvas, Frames};
use crate::bytes::{byte, le16, slice};
use crate::{Limits, MediaError, ProbeInfo};

const EXTENSION: u8 = 0x21;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;
const GRAPHIC_CONTROL: u8 = 0xF9;
const COMMENT: u8 = 0xFE;
const APPLICATION: u8 = 0xFF;

pub(super) fn probe(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    let (Some(width), Some(height), Some(flags)) = (le16(d, 6), le16(d, 8), byte(d, 10)) else {
        return Err(MediaError::malformed("gif screen descriptor truncated"));
    };
    if width == 0 || height == 0 {
        return Err(MediaError::malformed("gif with an empty screen"));
    }
    canvas(info, width.into(), height.into(), limits)?;
    let mut pos = 13 + colour_table_len(flags);
    let mut frames = Frames::default();
    let end = loop {
        let Some(block) = byte(d, pos) else {
            break None;
        };
        match block {
            EXTENSION => {
                let Some(label) = byte(d, pos + 1) else {
                    break None;
                };
                let data = pos + 2;
                match label {
                    // Block size, then packed fields whose lowest bit is "transparent colour".
                    GRAPHIC_CONTROL if byte(d, data + 1).is_some_and(|p| p & 1 == 1) => {
                        info.has_alpha = true
                    }
                    COMMENT => info.has_comment = true,
                    APPLICATION => match slice(d, data + 1, 11) {
                        Some(b"XMP DataXMP") => info.has_xmp = true,
                        Some(b"ICCRGBG1012") => info.has_icc = true,
                        _ => {}
                    },
                    _ => {}
                }
                let Some(next) = skip_sub_blocks(d, data) else {
                    break None;
                };
                pos = next;
            }
            IMAGE => {
                let (Some(w), Some(h), Some(flags)) =
                    (le16(d, pos + 5), le16(d, pos + 7), byte(d, pos + 9))
                else {
                    break None;
                };
                frames.add(w.into(), h.into(), limits)?;
                // Descriptor, local colour table, LZW minimum code size, then image data.
                let data = pos + 10 + colour_table_len(flags) + 1;
                let Some(next) = skip_sub_blocks(d, data) else {
                    break None;
                };
                pos = next;
            }
            TRAILER => break Some(pos + 1),
            // Browsers stop at an unknown block and show the frames before it.
            _ if frames.count > 0 => break None,
            _ => return Err(MediaError::malformed("gif block of unknown type")),
        }
    };
    if frames.count == 0 {
        return Err(MediaError::malformed("gif without frames"));
    }
    frames.record(info);
    Ok(end)
}

/// Bytes of the global or local colour table that `flags` announces.
fn colour_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    }
}

/// The offset after the sub-block chain starting at `pos` (each a length byte and that many
/// bytes, ended by a zero length), or `None` when the data ends first.
fn skip_sub_blocks(d: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = usize::from(byte(d, pos)?);
        pos += 1;
        if len == 0 {
            return Some(pos);
        }
        pos += len;
    }
}
