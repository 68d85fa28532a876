//! TIFF files: the first IFD gives the size, orientation and metadata tags; the next-IFD
//! chain gives the page count. Here the IFDs are the image, so every fault is an error.

use std::collections::BTreeSet;

use super::{canvas, Frames};
use crate::exif::{self, Tiff};
use crate::{Limit, Limits, MediaError, ProbeInfo};

/// Pages followed in one file, whatever `max_frames` allows. Multi-page scans and faxes run
/// to hundreds of pages; 10,000 bounds the loop-detection set if the host raises max_frames.
pub const MAX_TIFF_PAGES: u32 = 10_000;

/// Entries read per later page when looking for its size. Tags are sorted, so ImageWidth
/// (0x100) and ImageLength (0x101) come within the first few; an unsorted hostile IFD with
/// 65,535 entries on every page must not cost 65,535 reads per page.
const PAGE_SIZE_SCAN: u16 = 32;

pub(super) fn probe(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    let (tiff, ifd0) = Tiff::new(d)?;
    let first = exif::parse(d)?;
    let (Some(width), Some(height)) = (first.width, first.height) else {
        return Err(MediaError::malformed("tiff without image size"));
    };
    if width == 0 || height == 0 {
        return Err(MediaError::malformed("tiff with an empty image"));
    }
    canvas(info, width, height, limits)?;
    info.orientation = first.orientation;
    info.has_exif = first.has_exif_ifd || first.has_gps;
    info.has_gps = first.has_gps;
    info.has_xmp = first.has_xmp;
    info.has_icc = first.has_icc;

    let mut frames = Frames::default();
    frames.add(width, height, limits)?;
    let mut seen = BTreeSet::from([ifd0]);
    let mut next = tiff.ifd(ifd0)?.next;
    while next != 0 {
        if !seen.insert(next) {
            return Err(MediaError::malformed("tiff ifd loop"));
        }
        if frames.count >= MAX_TIFF_PAGES {
            let n = u64::from(frames.count) + 1;
            return Err(MediaError::limit(
                Limit::Structure,
                n,
                MAX_TIFF_PAGES.into(),
            ));
        }
        let ifd = tiff.ifd(next)?;
        let (mut w, mut h) = (None, None);
        for i in 0..ifd.count.min(PAGE_SIZE_SCAN) {
            let Some(e) = tiff.entry(&ifd, i) else {
                continue;
            };
            match e.tag {
                0x0100 => w = tiff.number(&e),
                0x0101 => h = tiff.number(&e),
                _ => {}
            }
        }
        let (Some(w), Some(h)) = (w, h) else {
            return Err(MediaError::malformed("tiff page without image size"));
        };
        frames.add(w, h, limits)?;
        next = ifd.next;
    }
    frames.record(info);
    Ok(None)
}
