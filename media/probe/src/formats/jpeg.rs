//! JPEG: walks the marker segments for the frame header, scan count and metadata segments,
//! skipping entropy-coded data without decoding it.

use super::{canvas, still};
use crate::bytes::{be16, byte, find_byte};
use crate::{exif, JpegProcess, Limit, Limits, MediaError, ProbeInfo};

/// Most SOS scans accepted. Baseline JPEGs have one scan and progressive encoders emit about
/// ten (at most a few dozen with custom scan scripts). Each scan makes a decoder pass over the
/// whole coefficient buffer, so thousands of tiny scans turn a small file into a CPU bomb;
/// libjpeg-turbo and browsers bound scans for that reason. 256 is far above real files.
pub const MAX_JPEG_SCANS: u32 = 256;

const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const COM: u8 = 0xFE;

pub(super) fn probe(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    let mut pos = 2; // past SOI
    let mut frame = false;
    let end = loop {
        // libjpeg skips stray bytes between segments with a warning; so do we.
        let Some(mut at) = find_byte(d, pos, 0xFF) else {
            break None;
        };
        // Any number of 0xFF fill bytes may precede a marker code.
        while byte(d, at) == Some(0xFF) {
            at += 1;
        }
        let Some(code) = byte(d, at) else { break None };
        pos = at + 1;
        match code {
            EOI => break Some(pos),
            // Standalone markers (TEM, RST0-7, SOI) carry no length; 0x00 is a stray stuffing.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(len) = be16(d, pos) else { break None };
        let len = usize::from(len);
        if len < 2 {
            return Err(MediaError::malformed("jpeg segment length below 2"));
        }
        let Some(body) = d.get(pos + 2..pos + len) else {
            break None;
        };
        let seg_end = pos + len;
        match code {
            // SOF0-15, except DHT (C4), JPG (C8) and DAC (CC) which share the range.
            // Only the first frame header counts (hierarchical files repeat it).
            0xC0..=0xCF if !matches!(code, 0xC4 | 0xC8 | 0xCC) && !frame => {
                frame = true;
                read_frame_header(body, code, limits, info)?;
            }
            SOS => {
                if !frame {
                    return Err(MediaError::malformed("jpeg scan before frame header"));
                }
                info.scans += 1;
                if info.scans > MAX_JPEG_SCANS {
                    let n = u64::from(info.scans);
                    return Err(MediaError::limit(
                        Limit::Structure,
                        n,
                        MAX_JPEG_SCANS.into(),
                    ));
                }
                pos = skip_entropy_coded(d, seg_end);
                continue;
            }
            APP1 if body.starts_with(b"Exif\0") => {
                // A broken EXIF block must not fail the image: decoders ignore it, so keep
                // what it said before the fault (orientation 1 if nothing), flag it present
                // and say it was unreadable.
                if !info.has_exif {
                    let (e, fault) = exif::parse_partial(exif::tiff_of(body));
                    info.orientation = e.orientation;
                    info.has_gps = e.has_gps;
                    info.exif_unreadable = fault.is_some();
                }
                info.has_exif = true;
            }
            APP1 if body.starts_with(b"http://ns.adobe.com/xap/1.0/\0")
                || body.starts_with(b"http://ns.adobe.com/xmp/extension/\0") =>
            {
                info.has_xmp = true
            }
            APP2 if body.starts_with(b"ICC_PROFILE\0") => info.has_icc = true,
            COM => info.has_comment = true,
            _ => {}
        }
        pos = seg_end;
    };
    if !frame {
        return Err(MediaError::malformed("jpeg without a frame header"));
    }
    Ok(end)
}

fn read_frame_header(
    body: &[u8],
    code: u8,
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<(), MediaError> {
    let (Some(height), Some(width)) = (be16(body, 1), be16(body, 3)) else {
        return Err(MediaError::malformed("jpeg frame header truncated"));
    };
    if height == 0 {
        // The height is deferred to a DNL marker after the first scan; nothing we accept
        // writes that, and it would need decoding to learn the size.
        return Err(MediaError::malformed("jpeg height deferred to DNL"));
    }
    if width == 0 || byte(body, 5).is_none_or(|components| components == 0) {
        return Err(MediaError::malformed(
            "jpeg frame header without width or components",
        ));
    }
    canvas(info, width.into(), height.into(), limits)?;
    still(info);
    // SOF2, SOF6, SOF10 and SOF14 are the progressive processes.
    info.progressive = matches!(code, 0xC2 | 0xC6 | 0xCA | 0xCE);
    info.jpeg_process = Some(JpegProcess {
        precision: byte(body, 0).unwrap_or(0),
        lossless: matches!(code, 0xC3 | 0xC7 | 0xCB | 0xCF),
        arithmetic: code >= 0xC9,
        hierarchical: matches!(code, 0xC5..=0xC7 | 0xCD..=0xCF),
    });
    Ok(())
}

/// The offset of the next marker after entropy-coded data starting at `pos`: the first 0xFF
/// not followed by a stuffed 0x00, a restart marker or another 0xFF fill byte.
fn skip_entropy_coded(d: &[u8], mut pos: usize) -> usize {
    while let Some(ff) = find_byte(d, pos, 0xFF) {
        match byte(d, ff + 1) {
            Some(0x00 | 0xD0..=0xD7) => pos = ff + 2,
            Some(0xFF) => pos = ff + 1,
            _ => return ff,
        }
    }
    d.len()
}
