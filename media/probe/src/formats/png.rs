//! PNG and APNG: reads IHDR, then walks the chunk list for animation control, transparency
//! and metadata chunks. CRCs are not checked: a decoder checks them, and a bad CRC does not
//! change what the headers claim.

use super::{canvas, count_chunk, still, Frames};
use crate::bytes::{array, be32};
use crate::{exif, Limit, Limits, MediaError, ProbeInfo};

const SIGNATURE_LEN: usize = 8;
/// PNG caps lengths and dimensions at 2^31 - 1 so they fit signed 32-bit integers.
const PNG_MAX: u32 = i32::MAX as u32;
const XMP_KEYWORD: &[u8] = b"XML:com.adobe.xmp";

pub(super) fn probe(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    let ihdr = SIGNATURE_LEN + 8;
    if be32(d, SIGNATURE_LEN) != Some(13) || d.get(SIGNATURE_LEN + 4..ihdr) != Some(b"IHDR") {
        return Err(MediaError::malformed("png does not start with IHDR"));
    }
    let (Some(width), Some(height), Some([depth, colour, compression, filter, interlace])) =
        (be32(d, ihdr), be32(d, ihdr + 4), array::<5>(d, ihdr + 8))
    else {
        return Err(MediaError::malformed("png IHDR truncated"));
    };
    if !(1..=PNG_MAX).contains(&width) || !(1..=PNG_MAX).contains(&height) {
        return Err(MediaError::malformed("png dimensions out of range"));
    }
    let depth_ok = match colour {
        0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(depth, 8 | 16),
        _ => false,
    };
    if !depth_ok || compression != 0 || filter != 0 || interlace > 1 {
        return Err(MediaError::malformed("png IHDR fields invalid"));
    }
    canvas(info, width, height, limits)?;
    still(info);
    info.has_alpha = matches!(colour, 4 | 6);

    let mut pos = ihdr + 13 + 4;
    let mut chunks = 1;
    let mut declared_frames = None;
    let mut frames = Frames::default();
    // A missing IEND or a chunk cut short is left for the decoder to report: everything the
    // probe needs comes before it.
    let end = loop {
        let (Some(len), Some(ty)) = (be32(d, pos), array::<4>(d, pos + 4)) else {
            break None;
        };
        if len > PNG_MAX {
            return Err(MediaError::malformed("png chunk length out of range"));
        }
        count_chunk(&mut chunks)?;
        let body_at = pos + 8;
        let Some(body_end) = usize::try_from(len)
            .ok()
            .and_then(|l| body_at.checked_add(l))
        else {
            break None;
        };
        let Some(body) = d.get(body_at..body_end) else {
            break None;
        };
        let Some(next) = body_end.checked_add(4) else {
            break None;
        };
        match &ty {
            b"IEND" => break (next <= d.len()).then_some(next),
            b"IHDR" => return Err(MediaError::malformed("png with a second IHDR")),
            b"acTL" => {
                let n = be32(body, 0).ok_or_else(|| MediaError::malformed("png acTL truncated"))?;
                if n == 0 {
                    return Err(MediaError::malformed("apng with zero frames"));
                }
                if n > limits.max_frames {
                    return Err(MediaError::limit(
                        Limit::Frames,
                        n.into(),
                        limits.max_frames.into(),
                    ));
                }
                declared_frames = Some(n);
            }
            b"fcTL" => {
                let (Some(w), Some(h)) = (be32(body, 4), be32(body, 8)) else {
                    return Err(MediaError::malformed("png fcTL truncated"));
                };
                frames.add(w, h, limits)?;
            }
            b"tRNS" => info.has_alpha = true,
            b"iCCP" => info.has_icc = true,
            b"eXIf" => {
                // As in JPEG, bad EXIF leaves the image decodable: keep what was readable and
                // say the block was not.
                let (e, fault) = exif::parse_partial(exif::tiff_of(body));
                info.has_exif = true;
                info.orientation = e.orientation;
                info.has_gps = e.has_gps;
                info.exif_unreadable = fault.is_some();
            }
            b"tEXt" | b"zTXt" | b"iTXt" => {
                let keyword = body.split(|&b| b == 0).next().unwrap_or_default();
                if keyword == XMP_KEYWORD {
                    info.has_xmp = true;
                } else {
                    info.has_comment = true;
                }
            }
            _ => {}
        }
        pos = next;
    };
    if let Some(n) = declared_frames {
        // The larger of the declared and the seen frame count: either can lie.
        info.frames = n.max(frames.count);
        if frames.count > 0 {
            info.total_frame_area = frames.area;
        }
    }
    Ok(end)
}
