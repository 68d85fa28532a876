//! HEIC decoding through heifer, a pure-Rust HEIF container reader and HEVC decoder with no
//! `unsafe` code (MIT or Apache-2.0). It applies the file's own transforms (`clap`, `irot`,
//! `imir`) and converts the samples to sRGB from the embedded ICC profile (Display P3 on
//! iPhones) or the `nclx` colour information, at 8 bits per sample whatever the coded depth.
//!
//! Limits: heifer refuses any picture or grid over the pixel limit given to it (see
//! `picture_limit`) before allocating it, and the probe has already checked every coded
//! picture's `ispe`, the grid's inputs and the area a decode reads. heifer decodes the whole
//! picture (HEVC has no cheaper path to a smaller size) and then the rotation and colour
//! conversion each make one more copy: the guest's linear memory cap must allow about 14 bytes
//! per pixel at the peak (README "HEIC and AVIF").

use media_probe::{Limits, MediaError, ProbeInfo};

use crate::guard::{check_size, padded};
use crate::raster::{Layout, Raster};

pub(crate) fn decode(data: &[u8], info: &ProbeInfo, limits: &Limits) -> Result<Raster, MediaError> {
    let source = (info.width, info.height);
    let options = heifer::Options {
        // One thread: a guest has one, and natively the benchmark compares like with like.
        max_threads: 1,
        // heifer reads 0 as its own default (2^28): never pass it.
        max_pixels: picture_limit(info, limits).max(1),
    };
    let image = heifer::decode_srgb_rgba8(data, &options).map_err(heif_error)?;
    check_size("heic", (image.width, image.height), source)?;
    // Always RGBA; an opaque alpha channel is dropped after every decode.
    Raster::new(image.width, image.height, Layout::Rgba, image.data)
}

/// The most pixels heifer may decode any one picture or grid of this file to: the displayed
/// canvas, or the largest coded picture the primary's decode reads (its `ispe`, as the probe
/// read it), with their padding, never over the limit. So a picture whose bitstream claims
/// more than every declared size is refused instead of decoded, where the pixel limit alone
/// would let it run into the fuel budget of the size it declared.
fn picture_limit(info: &ProbeInfo, limits: &Limits) -> u64 {
    let (w, h) = info.largest_picture;
    padded(w, h)
        .max(padded(info.width, info.height))
        .min(limits.max_pixels)
}

fn heif_error(e: heifer::Error) -> MediaError {
    match e {
        heifer::Error::Unsupported(what) => MediaError::unsupported(format!("heic: {what}")),
        other => MediaError::malformed(format!("heic: {other}")),
    }
}
