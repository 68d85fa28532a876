//! Lossy WebP encoding through libwebp's simple API. The only `unsafe` in the crate lives
//! here: two FFI calls, each wrapped so that a null or zero-length result becomes an error
//! and the C-allocated buffer is always released.
//!
//! The simple API (`WebPEncodeRGB`/`WebPEncodeRGBA`) writes a bare VP8 bitstream, plus ALPH
//! when there is transparency: it has no way to add EXIF, XMP or ICC chunks, which is why it
//! is used instead of the configurable one.

use std::ffi::c_int;

use media_probe::MediaError;

use crate::raster::{Layout, Raster};

/// libwebp's hard ceiling on either side, from its format (14-bit sizes).
pub(crate) const WEBP_MAX_DIMENSION: u32 = 16383;

pub(crate) fn encode_lossy(image: &Raster, quality: u8) -> Result<Vec<u8>, MediaError> {
    if image.width > WEBP_MAX_DIMENSION || image.height > WEBP_MAX_DIMENSION {
        return Err(MediaError::EncodeFailed(format!(
            "webp: {}x{} exceeds {WEBP_MAX_DIMENSION} px",
            image.width, image.height
        )));
    }
    let to_int = |v: usize| {
        c_int::try_from(v).map_err(|_| MediaError::EncodeFailed("webp: size overflow".into()))
    };
    let width = to_int(image.width as usize)?;
    let height = to_int(image.height as usize)?;
    let stride = to_int(image.stride())?;
    let expected = image
        .stride()
        .checked_mul(image.height as usize)
        .ok_or_else(|| MediaError::EncodeFailed("webp: size overflow".into()))?;
    if image.data.len() != expected {
        return Err(MediaError::EncodeFailed(
            "webp: buffer size mismatch".into(),
        ));
    }

    let mut output: *mut u8 = core::ptr::null_mut();
    // SAFETY: `image.data` holds exactly `height` rows of `stride` bytes (checked above) in
    // the layout matching the function called (3 bytes per pixel for RGB, 4 for RGBA), and
    // libwebp only reads it. `output` is a valid out-pointer; libwebp either leaves it null
    // and returns 0, or points it at a buffer of the returned length that it allocated.
    let len = unsafe {
        match image.layout {
            Layout::Rgb => libwebp_sys::WebPEncodeRGB(
                image.data.as_ptr(),
                width,
                height,
                stride,
                f32::from(quality),
                &mut output,
            ),
            Layout::Rgba => libwebp_sys::WebPEncodeRGBA(
                image.data.as_ptr(),
                width,
                height,
                stride,
                f32::from(quality),
                &mut output,
            ),
        }
    };
    if output.is_null() {
        return Err(MediaError::EncodeFailed("webp: encoder failed".into()));
    }
    let bytes = if len == 0 {
        None
    } else {
        // SAFETY: `output` is non-null and libwebp reported `len` initialised bytes there; the
        // slice is copied out before the buffer is freed below.
        Some(unsafe { core::slice::from_raw_parts(output, len) }.to_vec())
    };
    // SAFETY: `output` was allocated by libwebp's encoder and is freed exactly once, with the
    // matching deallocator; it is not used afterwards.
    unsafe { libwebp_sys::WebPFree(output.cast()) };
    bytes.ok_or_else(|| MediaError::EncodeFailed("webp: encoder produced no output".into()))
}
