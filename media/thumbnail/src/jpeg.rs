//! JPEG decoding through libjpeg-turbo's decoder (as vendored by `mozjpeg-sys`, with a faster
//! Huffman bit buffer on wasm32: see `vendor/mozjpeg-sys/ATTACHD.md`). It is the fastest entropy decoder that
//! builds for the guest, and it scales in the DCT domain by any eighth (1/8 to 8/8), so a
//! 24 MP photo rendered to a thumbnail decodes 0.4 MP.
//!
//! libjpeg reports errors through `error_exit`, which must not return: the library has no
//! error path of its own after it. Natively this module unwinds out of it (the C is built with
//! `-fexceptions`) and catches the unwind at the boundary. A wasm guest cannot unwind (Rust's
//! wasm targets abort on panic, and wasi-libc has no `setjmp`), so there `error_exit` writes
//! `malformed-input: jpeg: <libjpeg's message>` to stderr and ends the instance with a failing
//! exit status; the host reads that as the permanent `malformed-input` (a guest instance
//! serves one call, so nothing else is lost). Either way the caller gets `Malformed`.
//!
//! libjpeg recovers from corrupt or truncated entropy-coded data with a warning and grey
//! pixels; browsers show such images, but attachd refuses them, as it did before: a warning
//! that means lost or invented image data is treated like an error, at once (the warning
//! callback leaves through the same non-returning path), so a progressive file does not read
//! its remaining scans first. Warnings about harmless oddities (stray bytes between segments,
//! an unknown JFIF version, a broken ICC chunk, an Adobe marker's colour transform) do not.
//! What libjpeg cannot tell from a valid file is not caught: a progressive file cut at a scan
//! boundary with an end marker appended decodes from the scans it has (jpeg-decoder did the
//! same).
//!
//! Arithmetic-coded JPEGs are refused before libjpeg sees them (`decode.rs`): libjpeg-turbo
//! reads them, but its arithmetic decoder fills missing or truncated data with zeros without a
//! warning (a legal end of an arithmetic scan looks the same), so truncation would go unseen.

use std::ffi::{c_int, c_ulong, CStr};

use media_probe::{Limits, MediaError};
use mozjpeg_sys as sys;

use crate::guard::{budget, check_size};
use crate::raster::{byte_len, cmyk_to_rgb, Layout, Raster};

/// Memory libjpeg may take per pixel of the image: a progressive or multi-scan file keeps
/// every DCT coefficient until the last scan (2 bytes each, up to 4 full-resolution
/// components: 8 bytes per pixel), besides the output rows (4 bytes per pixel at most). Over
/// it, libjpeg stops with an error instead of growing; the guest's memory cap bounds it anyway.
const LIBJPEG_BYTES_PER_PIXEL: u64 = 12;

/// libjpeg's size for one formatted message (`JMSG_LENGTH_MAX` in jpeglib.h).
const MESSAGE_BYTES: usize = 200;

/// Warnings that leave every pixel as the encoder wrote it.
const HARMLESS_WARNINGS: [c_int; 4] = [
    sys::JWRN_EXTRANEOUS_DATA as c_int,
    sys::JWRN_JFIF_MAJOR as c_int,
    sys::JWRN_BOGUS_ICC as c_int,
    sys::JWRN_ADOBE_XFORM as c_int,
];

/// Most scanlines requested per `jpeg_read_scanlines` call. libjpeg returns fewer (its own
/// row group, at most a few rows); the cap only sizes the pointer array on the stack.
const ROWS_PER_CALL: usize = 16;

/// Exit status a guest ends with when libjpeg gives up (`error_exit`): any failing status
/// reads as malformed input to the host; this one is libjpeg's own `EXIT_FAILURE`.
#[cfg(target_family = "wasm")]
const EXIT_MALFORMED: i32 = 1;

/// Decodes a JPEG that libjpeg-turbo can read (8-bit, DCT, Huffman-coded) at the
/// smallest eighth of `source` that is at least `needed` in each dimension.
pub(crate) fn decode(
    data: &[u8],
    source: (u32, u32),
    needed: (u32, u32),
    limits: &Limits,
) -> Result<Raster, MediaError> {
    let mut session = Session::new();
    guarded(|| session.decode(data, source, needed, limits))?
}

/// The decoder and its error manager, boxed so the pointers libjpeg keeps to them stay valid.
/// Nothing here touches the error manager after handing it to libjpeg: what the callbacks
/// learn leaves through `fail`, never through shared state.
struct Session {
    errors: Box<sys::jpeg_error_mgr>,
    cinfo: Box<sys::jpeg_decompress_struct>,
    created: bool,
}

impl Session {
    fn new() -> Self {
        // SAFETY: both are plain C structs for which all-zero is the state libjpeg expects
        // before `jpeg_std_error` and `jpeg_CreateDecompress` fill them in (null pointers,
        // `None` callbacks, enums at their zero variants).
        let mut errors: Box<sys::jpeg_error_mgr> = Box::new(unsafe { std::mem::zeroed() });
        let cinfo: Box<sys::jpeg_decompress_struct> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: fills in the default handlers; cannot fail.
        unsafe { sys::jpeg_std_error(&mut errors) };
        errors.error_exit = Some(error_exit);
        errors.emit_message = Some(emit_message);
        errors.output_message = Some(output_message);
        Session {
            errors,
            cinfo,
            created: false,
        }
    }

    fn decode(
        &mut self,
        data: &[u8],
        source: (u32, u32),
        needed: (u32, u32),
        limits: &Limits,
    ) -> Result<Raster, MediaError> {
        let cinfo = &mut *self.cinfo;
        cinfo.common.err = &mut *self.errors;
        // SAFETY (this block and the calls below): `cinfo` and its error manager live in boxes
        // that outlive the session; `data` outlives every call that reads it (the source
        // manager only holds the pointer until `jpeg_destroy_decompress` in `drop`); every
        // error inside libjpeg leaves through `error_exit`, which never returns.
        unsafe {
            sys::jpeg_create_decompress(cinfo);
        }
        self.created = true;
        // SAFETY: `mem` was set by `jpeg_create_decompress`.
        unsafe {
            // The whole-image buffers (progressive and multi-scan files keep every coefficient)
            // are bounded like every other decoder's memory; over it, libjpeg stops with an
            // error rather than growing.
            (*cinfo.common.mem).max_memory_to_use =
                c_long_saturating(budget(limits, LIBJPEG_BYTES_PER_PIXEL));
            sys::jpeg_mem_src(cinfo, data.as_ptr(), c_ulong_saturating(data.len()));
            sys::jpeg_read_header(cinfo, 1);
        }
        check_size("jpeg", (cinfo.image_width, cinfo.image_height), source)?;

        let eighths = (1..=8)
            .find(|&s| scaled(source.0, s) >= needed.0 && scaled(source.1, s) >= needed.1)
            .unwrap_or(8);
        cinfo.scale_num = eighths;
        cinfo.scale_denom = 8;
        let cmyk = matches!(
            cinfo.jpeg_color_space,
            sys::J_COLOR_SPACE::JCS_CMYK | sys::J_COLOR_SPACE::JCS_YCCK
        );
        // Grayscale is expanded to RGB by libjpeg itself.
        cinfo.out_color_space = if cmyk {
            sys::J_COLOR_SPACE::JCS_CMYK
        } else {
            sys::J_COLOR_SPACE::JCS_RGB
        };
        // SAFETY: as above.
        unsafe { sys::jpeg_start_decompress(cinfo) };

        let (width, height) = (cinfo.output_width, cinfo.output_height);
        let channels = usize::try_from(cinfo.output_components).unwrap_or(0);
        let expected = if cmyk { 4 } else { 3 };
        if channels != expected {
            return Err(MediaError::malformed(format!(
                "jpeg: decoder gives {channels} channels where {expected} were asked for"
            )));
        }
        let stride = width as usize * channels;
        // CMYK rows are as wide as RGBA ones.
        let mut pixels =
            vec![0u8; byte_len(width, height, if cmyk { Layout::Rgba } else { Layout::Rgb })?];
        while cinfo.output_scanline < height {
            let first = cinfo.output_scanline as usize;
            let count = ROWS_PER_CALL.min(height as usize - first);
            let mut rows = [std::ptr::null_mut::<u8>(); ROWS_PER_CALL];
            for (i, row) in rows.iter_mut().take(count).enumerate() {
                // In bounds: (first + i) < height rows of `stride` bytes each.
                *row = pixels[(first + i) * stride..].as_mut_ptr();
            }
            // SAFETY: each of the `count` pointers has `stride` writable bytes, the width of
            // one output row at `output_components` samples per pixel.
            let read = unsafe { sys::jpeg_read_scanlines(cinfo, rows.as_mut_ptr(), count as _) };
            if read == 0 {
                // Only a suspending source returns no rows; the memory source never suspends.
                return Err(MediaError::malformed("jpeg: decoder made no progress"));
            }
        }
        // SAFETY: as above. Reads up to EOI, so corruption after the last row still counts.
        unsafe { sys::jpeg_finish_decompress(cinfo) };

        if cmyk {
            // Adobe's CMYK is stored inverted (0 = full ink); the converter takes ink amounts.
            // libjpeg's own reading of APP14 decides, as it does for the colour transform.
            if cinfo.saw_Adobe_marker != 0 {
                pixels.iter_mut().for_each(|v| *v = 255 - *v);
            }
            pixels = cmyk_to_rgb(&pixels);
        }
        Raster::new(width, height, Layout::Rgb, pixels)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.created {
            // SAFETY: valid after `jpeg_create_decompress`, also after an error (libjpeg's
            // documented way to clean up after `error_exit`); frees everything libjpeg holds.
            unsafe { sys::jpeg_destroy_decompress(&mut self.cinfo) };
        }
    }
}

/// Size of `full` scaled by `eighths`/8, rounded up as libjpeg rounds it.
pub(crate) fn scaled(full: u32, eighths: u32) -> u32 {
    (u64::from(full) * u64::from(eighths)).div_ceil(8) as u32
}

fn c_long_saturating(v: usize) -> std::ffi::c_long {
    std::ffi::c_long::try_from(v).unwrap_or(std::ffi::c_long::MAX)
}

fn c_ulong_saturating(v: usize) -> c_ulong {
    c_ulong::try_from(v).unwrap_or(c_ulong::MAX)
}

/// libjpeg's message for its current error or warning code.
///
/// # Safety
/// `cinfo.err` points at the session's error manager.
unsafe fn message(cinfo: &mut sys::jpeg_common_struct) -> String {
    let mut buf = [0u8; MESSAGE_BYTES];
    if let Some(format) = (*cinfo.err).format_message {
        // mozjpeg-sys declares the buffer as `&[u8; 80]`; libjpeg's `format_message` takes a
        // `char *` and writes up to JMSG_LENGTH_MAX (200) bytes, so it is called through the
        // C signature with a buffer of that size.
        let format: unsafe extern "C-unwind" fn(&mut sys::jpeg_common_struct, *mut u8) =
            std::mem::transmute(format);
        format(cinfo, buf.as_mut_ptr());
    }
    CStr::from_bytes_until_nul(&buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unreadable libjpeg message".into())
}

/// A warning that means lost or invented image data ends the decode like an error (libjpeg
/// allows `emit_message` not to return); others are counted and the decode goes on.
unsafe extern "C-unwind" fn emit_message(cinfo: &mut sys::jpeg_common_struct, level: c_int) {
    // Levels 0 and up are trace messages.
    if level >= 0 {
        return;
    }
    (*cinfo.err).num_warnings += 1;
    if !HARMLESS_WARNINGS.contains(&(*cinfo.err).msg_code) {
        let text = message(cinfo);
        fail(text)
    }
}

/// libjpeg's default prints to stderr; messages are returned to the caller instead.
unsafe extern "C-unwind" fn output_message(_cinfo: &mut sys::jpeg_common_struct) {}

/// What `error_exit` carries to [`guarded`] natively.
#[cfg(not(target_family = "wasm"))]
struct Failed(String);

unsafe extern "C-unwind" fn error_exit(cinfo: &mut sys::jpeg_common_struct) {
    let text = message(cinfo);
    fail(text)
}

/// Leaves libjpeg without returning into it: an unwind to [`guarded`].
#[cfg(not(target_family = "wasm"))]
fn fail(text: String) -> ! {
    // `resume_unwind`, not `panic!`: no panic hook runs (nothing is printed), and the payload
    // is ours to recognise.
    std::panic::resume_unwind(Box::new(Failed(text)))
}

/// Leaves libjpeg without returning into it: the guest instance ends (see the module docs).
#[cfg(target_family = "wasm")]
fn fail(text: String) -> ! {
    use std::io::Write;
    let mut stderr = std::io::stderr();
    let _ = writeln!(stderr, "malformed-input: jpeg: {text}");
    let _ = stderr.flush();
    std::process::exit(EXIT_MALFORMED)
}

/// Runs `f`, turning libjpeg's `error_exit` into `Malformed`.
#[cfg(not(target_family = "wasm"))]
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, MediaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        match payload.downcast::<Failed>() {
            Ok(failed) => MediaError::malformed(format!("jpeg: {}", failed.0)),
            // Not libjpeg's: a bug elsewhere, which must stay a panic.
            Err(other) => std::panic::resume_unwind(other),
        }
    })
}

#[cfg(target_family = "wasm")]
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, MediaError> {
    Ok(f())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_scaling_rounds_up_like_libjpeg() {
        assert_eq!(scaled(4000, 1), 500);
        assert_eq!(scaled(4001, 1), 501);
        assert_eq!(scaled(4001, 3), 1501);
        assert_eq!(scaled(1, 1), 1);
    }
}
