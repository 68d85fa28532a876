//! WebP: reads the RIFF header and the first chunk (VP8 lossy, VP8L lossless or VP8X
//! extended); for the extended format walks the remaining chunks for animation frames and
//! metadata.

use super::{canvas, count_chunk, still, Frames};
use crate::bytes::{array, byte, le16, le24, le32, slice};
use crate::{exif, Limits, MediaError, ProbeInfo};

const VP8X_ICC: u8 = 0x20;
const VP8X_ALPHA: u8 = 0x10;
const VP8X_EXIF: u8 = 0x08;
const VP8X_XMP: u8 = 0x04;
const VP8X_ANIMATION: u8 = 0x02;

pub(super) fn probe(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    let riff_size = le32(d, 4).ok_or_else(|| MediaError::malformed("webp header truncated"))?;
    if riff_size < 4 {
        return Err(MediaError::malformed("webp RIFF size too small"));
    }
    // RIFF pads chunks to even sizes, the outer one included.
    let riff_end = usize::try_from(u64::from(riff_size) + 8 + u64::from(riff_size & 1)).ok();
    let end = riff_end.filter(|&e| e <= d.len());
    // Bytes after the RIFF chunk are not part of the image; a cut-off file is walked as far
    // as it goes.
    let d = d.get(..end.unwrap_or(d.len())).unwrap_or(d);

    let mut chunks = Chunks {
        d,
        pos: 12,
        count: 0,
    };
    let Some((fourcc, body)) = chunks.next()? else {
        return Err(MediaError::malformed("webp without an image chunk"));
    };
    match &fourcc {
        b"VP8 " => {
            let (w, h) = vp8_size(body)?;
            canvas(info, w, h, limits)?;
            still(info);
            stray_metadata(&mut chunks, info)?;
        }
        b"VP8L" => {
            let (w, h, alpha) = vp8l_size(body)?;
            canvas(info, w, h, limits)?;
            still(info);
            info.has_alpha = alpha;
            stray_metadata(&mut chunks, info)?;
        }
        b"VP8X" => extended(body, &mut chunks, limits, info)?,
        _ => {
            return Err(MediaError::malformed(
                "webp first chunk is not VP8, VP8L or VP8X",
            ))
        }
    }
    Ok(end)
}

/// A simple (VP8 or VP8L) WebP has no room for metadata by the spec, but chunks after the image
/// are still carried in the file: a metadata chunk there is metadata all the same (the host
/// relies on this flag to prove a variant carries none).
fn stray_metadata(chunks: &mut Chunks<'_>, info: &mut ProbeInfo) -> Result<(), MediaError> {
    while let Some((fourcc, _)) = chunks.next()? {
        match &fourcc {
            b"EXIF" => info.has_exif = true,
            b"XMP " => info.has_xmp = true,
            b"ICCP" => info.has_icc = true,
            _ => {}
        }
    }
    Ok(())
}

fn extended(
    header: &[u8],
    chunks: &mut Chunks<'_>,
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<(), MediaError> {
    let (Some(flags), Some(w), Some(h)) = (byte(header, 0), le24(header, 4), le24(header, 7))
    else {
        return Err(MediaError::malformed("webp VP8X truncated"));
    };
    canvas(info, w + 1, h + 1, limits)?;
    // Flags are a claim; the chunks are the truth. Either one marks the metadata present.
    info.has_icc = flags & VP8X_ICC != 0;
    info.has_alpha = flags & VP8X_ALPHA != 0;
    info.has_exif = flags & VP8X_EXIF != 0;
    info.has_xmp = flags & VP8X_XMP != 0;
    let mut animated = flags & VP8X_ANIMATION != 0;
    let mut frames = Frames::default();
    while let Some((fourcc, body)) = chunks.next()? {
        match &fourcc {
            b"ICCP" => info.has_icc = true,
            b"ALPH" => info.has_alpha = true,
            b"XMP " => info.has_xmp = true,
            b"EXIF" => {
                // As in JPEG, bad EXIF leaves the image decodable: keep what was readable and
                // say the block was not.
                let (e, fault) = exif::parse_partial(exif::tiff_of(body));
                info.has_exif = true;
                info.orientation = e.orientation;
                info.has_gps = e.has_gps;
                info.exif_unreadable = fault.is_some();
            }
            b"ANIM" => animated = true,
            b"ANMF" => {
                let (Some(fw), Some(fh)) = (le24(body, 6), le24(body, 9)) else {
                    return Err(MediaError::malformed("webp ANMF truncated"));
                };
                frames.add(fw + 1, fh + 1, limits)?;
            }
            _ => {}
        }
    }
    if animated {
        if frames.count == 0 {
            return Err(MediaError::malformed("animated webp without frames"));
        }
        frames.record(info);
    } else {
        still(info);
    }
    Ok(())
}

/// A VP8 key frame header: 3-byte frame tag, start code, then 14-bit sizes (the top two bits
/// are an upscaling hint that does not change the stored size).
fn vp8_size(body: &[u8]) -> Result<(u32, u32), MediaError> {
    let malformed = || MediaError::malformed("webp VP8 frame header invalid");
    let tag = byte(body, 0).ok_or_else(malformed)?;
    if tag & 1 != 0 || slice(body, 3, 3) != Some(b"\x9D\x01\x2A") {
        return Err(malformed());
    }
    let (Some(w), Some(h)) = (le16(body, 6), le16(body, 8)) else {
        return Err(malformed());
    };
    let (w, h) = (u32::from(w & 0x3FFF), u32::from(h & 0x3FFF));
    if w == 0 || h == 0 {
        return Err(malformed());
    }
    Ok((w, h))
}

/// A VP8L header: signature byte 0x2F, then 14-bit width-1, 14-bit height-1, an alpha hint
/// bit and a 3-bit version that must be 0.
fn vp8l_size(body: &[u8]) -> Result<(u32, u32, bool), MediaError> {
    let bits = match (byte(body, 0), le32(body, 1)) {
        (Some(0x2F), Some(bits)) if bits >> 29 == 0 => bits,
        _ => return Err(MediaError::malformed("webp VP8L header invalid")),
    };
    Ok((
        (bits & 0x3FFF) + 1,
        ((bits >> 14) & 0x3FFF) + 1,
        (bits >> 28) & 1 == 1,
    ))
}

/// A chunk's fourcc and body.
type Chunk<'a> = ([u8; 4], &'a [u8]);

/// RIFF chunks: fourcc, little-endian size, body padded to an even length.
struct Chunks<'a> {
    d: &'a [u8],
    pos: usize,
    count: u32,
}

impl<'a> Chunks<'a> {
    /// The next whole chunk; `None` at the end or at a chunk cut off by the end.
    fn next(&mut self) -> Result<Option<Chunk<'a>>, MediaError> {
        let (Some(fourcc), Some(size)) = (array::<4>(self.d, self.pos), le32(self.d, self.pos + 4))
        else {
            return Ok(None);
        };
        count_chunk(&mut self.count)?;
        let body_at = self.pos + 8;
        let Some(body) = usize::try_from(size)
            .ok()
            .and_then(|s| slice(self.d, body_at, s))
        else {
            return Ok(None);
        };
        self.pos = body_at + body.len() + body.len() % 2;
        Ok(Some((fourcc, body)))
    }
}
