//! media-probe owns the first look at an untrusted upload: what it really is (from magic
//! bytes, never the file name or the declared MIME type) and what its headers claim
//! (dimensions, frame count, EXIF orientation, which metadata blocks are present), read
//! without decoding a single pixel. The host checks those claims against its limits before
//! any decoder runs, so a 30000×30000 PNG that is 40 KB on disk never gets inflated.
//!
//! It also owns the vocabulary shared by every media library: [`Kind`], [`Limits`],
//! [`MediaError`] and [`Limit`]. The WIT interfaces in `wit/` mirror these types one to one.
//!
//! Everything here is plain Rust with no I/O, so it builds natively (unit tests, fuzzing,
//! benchmarks) and for wasm32-wasip2 (the `probe` guest component).

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

mod bytes;
mod error;
pub mod exif;
mod kind;
mod limits;

pub use error::{Limit, MediaError};
pub use formats::{
    image_end, HEIF_ALPHA_URNS, MAX_CHUNKS, MAX_GRID_TILES, MAX_HEIF_ITEMS, MAX_JPEG_SCANS,
    MAX_REFERENCE_TARGETS, MAX_TIFF_PAGES,
};
pub use kind::{sniff, Kind, SNIFF_PREFIX};
pub use limits::Limits;

/// What the headers of an upload claim, read before any full decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeInfo {
    pub kind: Kind,
    /// Canonical MIME type of `kind` (not the declared one).
    pub mime: &'static str,
    /// Canvas size in pixels; 0 when the kind has no pixel size (PDF, HTML, ZIP, ...).
    pub width: u32,
    pub height: u32,
    /// Number of frames: 1 for stills, >1 for animations; 0 when not applicable.
    pub frames: u32,
    /// Sum of every frame's own area in pixels (an animation's frames can be smaller than the
    /// canvas, so this is not `frames * width * height`).
    pub total_frame_area: u64,
    /// EXIF orientation 1..=8 (1 = as stored). Out-of-range values read as 1.
    pub orientation: u8,
    pub has_exif: bool,
    /// An EXIF block inside a JPEG, PNG or WebP is present but its structure cannot be walked
    /// (no TIFF header, an IFD outside the block, an IFD loop, over the walk's bounds). The
    /// image is still probed, as browsers and decoders still show it: `orientation` and
    /// `has_gps` are what was read before the fault (orientation 1 when the fault came
    /// first). A TIFF file, whose IFDs are its image, is malformed instead. Not part of the
    /// WIT `probe-info` record (published and frozen): the scan guest reports it as the
    /// `metadata-unreadable` finding.
    pub exif_unreadable: bool,
    pub has_gps: bool,
    pub has_xmp: bool,
    pub has_icc: bool,
    pub has_comment: bool,
    pub has_alpha: bool,
    /// JPEG only: true for progressive (SOF2) frames.
    pub progressive: bool,
    /// JPEG only: number of SOS scans seen.
    pub scans: u32,
    /// JPEG only: the frame header's coding process, which decides which decoder can read it.
    /// `None` for other kinds. (Not part of the probe guest's WIT report: only the libraries
    /// that decode JPEG read it, from their own probe.)
    pub jpeg_process: Option<JpegProcess>,
    /// HEIF only: the declared size (`ispe`) of the largest coded picture a decode of the
    /// primary image reads (its tiles, its alpha plane's); (0, 0) for other kinds. A decoder refuses any picture much larger than this (not part of the
    /// WIT report either: only the libraries that decode HEIF read it, from their own probe).
    pub largest_picture: (u32, u32),
}

/// What a JPEG frame header (SOFn) says about how the image is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegProcess {
    /// Bits per sample: 8 for nearly every photo, 12 for some medical and scientific images,
    /// 2 to 16 for lossless.
    pub precision: u8,
    /// Lossless (SOF3, SOF7, SOF11, SOF15): predictive coding, no DCT.
    pub lossless: bool,
    /// Arithmetic entropy coding (SOF9 to SOF15) instead of Huffman.
    pub arithmetic: bool,
    /// Hierarchical (SOF5 to SOF7, SOF13 to SOF15): a pyramid of frames.
    pub hierarchical: bool,
}

/// Reads `data`'s headers. Checks `limits` against what the headers claim and returns
/// [`MediaError::LimitExceeded`] as soon as one is over, before looking further.
pub fn probe(data: &[u8], limits: &Limits) -> Result<ProbeInfo, MediaError> {
    formats::probe(data, limits)
}

mod formats;
