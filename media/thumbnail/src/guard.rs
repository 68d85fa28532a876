//! What every decoder checks before it allocates pixels: a memory budget derived from
//! [`Limits::max_pixels`], that its own reading of the header agrees with the probe's, and
//! (HEIF) how much larger than its declared size a coded picture may be.

#[cfg(feature = "classic")]
use media_probe::Limits;
use media_probe::MediaError;

/// Bytes a decoder may allocate for an image of at most `max_pixels` pixels.
#[cfg(feature = "classic")]
pub(crate) fn budget(limits: &Limits, bytes_per_pixel: u64) -> usize {
    usize::try_from(limits.max_pixels.saturating_mul(bytes_per_pixel)).unwrap_or(usize::MAX)
}

/// Rejects a decoder header that disagrees with the probe.
pub(crate) fn check_size(
    format: &str,
    decoder: (u32, u32),
    probed: (u32, u32),
) -> Result<(), MediaError> {
    if decoder == probed {
        Ok(())
    } else {
        Err(MediaError::malformed(format!(
            "{format}: decoder reads {}x{} where the headers say {}x{}",
            decoder.0, decoder.1, probed.0, probed.1
        )))
    }
}

/// Room a coded picture may have beyond its `ispe` on each side: HEVC codes whole coding
/// blocks (up to 64 pixels) and AV1 whole superblocks (up to 128), and crops the rest.
#[cfg(feature = "heif")]
pub(crate) const PICTURE_PADDING: u32 = 128;

/// `ispe` plus [`PICTURE_PADDING`] on each side, in pixels.
#[cfg(feature = "heif")]
pub(crate) fn padded(width: u32, height: u32) -> u64 {
    u64::from(width.saturating_add(PICTURE_PADDING))
        * u64::from(height.saturating_add(PICTURE_PADDING))
}
