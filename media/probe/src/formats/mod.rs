//! formats owns reading each raster format's headers into a [`ProbeInfo`] and checking the
//! claims against [`Limits`] as soon as they are read. Each walker goes forward only, reads
//! through bounds-checked helpers, and stops at the first limit it crosses, so the work done
//! on a hostile file is bounded by its length and by the limits, never by what it claims.

mod bmp;
mod gif;
mod heif;
mod jpeg;
mod png;
mod tiff;
mod webp;

pub use heif::{HEIF_ALPHA_URNS, MAX_GRID_TILES, MAX_HEIF_ITEMS, MAX_REFERENCE_TARGETS};
pub use jpeg::MAX_JPEG_SCANS;
pub use tiff::MAX_TIFF_PAGES;

use crate::{sniff, Kind, Limit, Limits, MediaError, ProbeInfo};

/// Chunks walked in one PNG or WebP file. Every chunk costs at least 8 bytes, so the walk is
/// already linear in the input; this is the backstop. Encoders split IDAT into 8–64 KiB
/// chunks and animations add two or three chunks per frame, so 100,000 is far above any real
/// file within the host's input-size limit.
pub const MAX_CHUNKS: u32 = 100_000;

pub(crate) fn probe(data: &[u8], limits: &Limits) -> Result<ProbeInfo, MediaError> {
    walk(data, limits).map(|(info, _)| info)
}

/// Where the image's own structure ends in `data` (just past JPEG's EOI, PNG's IEND chunk,
/// GIF's trailer, WebP's RIFF chunk), or `None` when the kind has no such end or the data
/// stops before it. Bytes after that offset are not part of the image: a scanner can look
/// there for an appended archive or script.
pub fn image_end(data: &[u8]) -> Option<usize> {
    walk(data, &Limits::UNLIMITED).ok()?.1
}

fn walk(data: &[u8], limits: &Limits) -> Result<(ProbeInfo, Option<usize>), MediaError> {
    let kind = sniff(data);
    let mut info = ProbeInfo {
        kind,
        mime: kind.mime(),
        width: 0,
        height: 0,
        frames: 0,
        total_frame_area: 0,
        orientation: 1,
        has_exif: false,
        exif_unreadable: false,
        has_gps: false,
        has_xmp: false,
        has_icc: false,
        has_comment: false,
        has_alpha: false,
        progressive: false,
        jpeg_process: None,
        largest_picture: (0, 0),
        scans: 0,
    };
    let end = match kind {
        Kind::Jpeg => jpeg::probe(data, limits, &mut info)?,
        Kind::Png => png::probe(data, limits, &mut info)?,
        Kind::Gif => gif::probe(data, limits, &mut info)?,
        Kind::Webp => webp::probe(data, limits, &mut info)?,
        Kind::Tiff => tiff::probe(data, limits, &mut info)?,
        Kind::Bmp => bmp::probe_bmp(data, limits, &mut info)?,
        Kind::Ico => bmp::probe_ico(data, limits, &mut info)?,
        Kind::Heic | Kind::Avif => heif::probe(data, limits, &mut info)?,
        // Kinds without a pixel size the probe reads: the kind is the whole answer.
        _ => return Ok((info, None)),
    };
    check_frames(info.frames, info.total_frame_area, limits)?;
    Ok((info, end))
}

/// Records the canvas size and refuses it if it has more pixels than allowed. Call it as
/// soon as the size is read, before walking further.
pub(crate) fn canvas(
    info: &mut ProbeInfo,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<(), MediaError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(MediaError::limit(Limit::Pixels, pixels, limits.max_pixels));
    }
    info.width = width;
    info.height = height;
    Ok(())
}

/// A still image: one frame covering the canvas.
pub(crate) fn still(info: &mut ProbeInfo) {
    info.frames = 1;
    info.total_frame_area = u64::from(info.width) * u64::from(info.height);
}

fn check_frames(frames: u32, area: u64, limits: &Limits) -> Result<(), MediaError> {
    if frames > limits.max_frames {
        return Err(MediaError::limit(
            Limit::Frames,
            frames.into(),
            limits.max_frames.into(),
        ));
    }
    if area > limits.max_total_frame_area {
        return Err(MediaError::limit(
            Limit::FrameArea,
            area,
            limits.max_total_frame_area,
        ));
    }
    Ok(())
}

/// Frames counted while walking an animation, checked against the limits at every frame so
/// a file with 20,000 frames is refused at frame `max_frames + 1`, not after reading them all.
#[derive(Default)]
pub(crate) struct Frames {
    pub(crate) count: u32,
    pub(crate) area: u64,
}

impl Frames {
    pub(crate) fn add(
        &mut self,
        width: u32,
        height: u32,
        limits: &Limits,
    ) -> Result<(), MediaError> {
        self.count = self.count.saturating_add(1);
        self.area = self
            .area
            .saturating_add(u64::from(width) * u64::from(height));
        check_frames(self.count, self.area, limits)
    }

    pub(crate) fn record(&self, info: &mut ProbeInfo) {
        info.frames = self.count;
        info.total_frame_area = self.area;
    }
}

/// Counts chunks against [`MAX_CHUNKS`].
pub(crate) fn count_chunk(chunks: &mut u32) -> Result<(), MediaError> {
    *chunks = chunks.saturating_add(1);
    if *chunks > MAX_CHUNKS {
        return Err(MediaError::limit(
            Limit::Structure,
            (*chunks).into(),
            MAX_CHUNKS.into(),
        ));
    }
    Ok(())
}
