//! Decoding: one upload in, one [`Raster`] out, at the smallest size that serves every spec.
//!
//! Each build carries the decoders of one guest: `classic` (JPEG, PNG, GIF, WebP: the
//! thumbnail guest) and `heif` (HEIC and AVIF: the heif guest). A kind whose decoder is not in the
//! build is refused as unsupported, so each guest decodes only what it was released for.
//!
//! Every decoder checks its own reading of the header against the size the probe reported
//! before it trusts it: the probe and the decoder parse headers independently, and a file on
//! which they disagree is treated as malformed rather than trusted on the decoder's word.

use media_probe::{Kind, Limits, MediaError, ProbeInfo};

use crate::raster::Raster;

/// Decodes `data` (already probed as `info`) so that the result is at least `needed` pixels in
/// each dimension (or full size, for formats that cannot decode smaller). Animations yield
/// their first frame.
#[cfg_attr(not(feature = "classic"), allow(unused_variables))]
pub(crate) fn decode(
    data: &[u8],
    info: &ProbeInfo,
    needed: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    let source = (info.width, info.height);
    let raster = match info.kind {
        #[cfg(feature = "classic")]
        Kind::Jpeg => crate::classic::decode_jpeg(data, info.jpeg_process, source, needed, limits)?,
        #[cfg(feature = "classic")]
        Kind::Png => crate::classic::decode_png(data, source, limits)?,
        #[cfg(feature = "classic")]
        Kind::Gif => crate::classic::decode_gif(data, source, limits)?,
        #[cfg(feature = "classic")]
        Kind::Webp => crate::classic::decode_webp(data, source, limits)?,
        #[cfg(feature = "heif")]
        Kind::Heic => crate::heif::decode(data, info, limits)?,
        #[cfg(feature = "heif")]
        Kind::Avif => crate::avif::decode(data, source, limits)?,
        other => {
            return Err(MediaError::unsupported(format!(
                "this build has no decoder for {}",
                other.name()
            )))
        }
    };
    Ok(raster.drop_opaque_alpha())
}

/// Whether this build decodes `kind`.
pub(crate) fn decodes(kind: Kind) -> bool {
    let classic = matches!(kind, Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp);
    let heif = matches!(kind, Kind::Heic | Kind::Avif);
    (classic && cfg!(feature = "classic")) || (heif && cfg!(feature = "heif"))
}
