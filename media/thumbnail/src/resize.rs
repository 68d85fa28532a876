//! Resizing one decoded raster to each plan's size with fast_image_resize.
//!
//! Filter: Lanczos3 convolution. Every resize here is a downscale (the planner never
//! upscales), where Lanczos3 keeps edges and fine texture sharper than CatmullRom or bilinear
//! at the same cost class, and its ringing is invisible at thumbnail sizes.
//!
//! Alpha: colour is premultiplied by alpha before filtering, so fully transparent pixels
//! (whose colour is arbitrary, often black) cannot bleed dark fringes into visible edges. The
//! source is premultiplied once, with fast_image_resize's `MulDiv`, and shared by every plan
//! (the resizer's own `use_alpha` would redo it per call). The way back, dividing by alpha,
//! is done here in scalar Rust on the small output: fast_image_resize's wasm32 SIMD128 path
//! for that step is miscompiled by rustc 1.95 and 1.96 (rust-lang/rust#157456), and the
//! guests are built with `+simd128`.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions};
use media_probe::MediaError;

use crate::geometry::Plan;
use crate::raster::{Layout, Raster};

/// The decoded image, premultiplied if it has alpha, ready to be rendered at many sizes.
pub(crate) struct Source {
    raster: Raster,
    /// Full stored size of the source, which the plans' crop boxes refer to; the raster may be
    /// smaller (JPEG shrink-on-load).
    full: (u32, u32),
    resizer: fast_image_resize::Resizer,
}

fn pixel_type(layout: Layout) -> PixelType {
    match layout {
        Layout::Rgb => PixelType::U8x3,
        Layout::Rgba => PixelType::U8x4,
    }
}

fn resize_error(e: impl core::fmt::Display) -> MediaError {
    // Buffers and sizes are validated before they reach the resizer, so this is a bug in the
    // glue rather than the input; it still must not panic.
    MediaError::EncodeFailed(format!("resize: {e}"))
}

impl Source {
    pub(crate) fn new(mut raster: Raster, full: (u32, u32)) -> Result<Source, MediaError> {
        if raster.layout == Layout::Rgba {
            let (w, h) = (raster.width, raster.height);
            let mut image = Image::from_slice_u8(w, h, &mut raster.data, PixelType::U8x4)
                .map_err(resize_error)?;
            MulDiv::new()
                .multiply_alpha_inplace(&mut image)
                .map_err(resize_error)?;
        }
        Ok(Source {
            raster,
            full,
            resizer: fast_image_resize::Resizer::new(),
        })
    }

    /// Size of the decoded raster.
    pub(crate) fn decoded_size(&self) -> (u32, u32) {
        (self.raster.width, self.raster.height)
    }

    /// Renders `plan`: crop, resize, and return with straight alpha.
    pub(crate) fn render(&mut self, plan: &Plan) -> Result<Raster, MediaError> {
        let src = &self.raster;
        let sx = f64::from(src.width) / f64::from(self.full.0.max(1));
        let sy = f64::from(src.height) / f64::from(self.full.1.max(1));
        // Clamped because scaling by sx/sy can push the far edge a hair past the image, which
        // fast_image_resize rejects.
        let (w, h) = (f64::from(src.width), f64::from(src.height));
        let left = (plan.crop.left * sx).clamp(0.0, w - 1.0);
        let top = (plan.crop.top * sy).clamp(0.0, h - 1.0);
        let crop = (
            left,
            top,
            (plan.crop.width * sx).clamp(1.0, w - left),
            (plan.crop.height * sy).clamp(1.0, h - top),
        );

        let mut out = if let Some(copy) = exact_copy(src, crop, plan) {
            copy
        } else {
            let src_image = ImageRef::new(src.width, src.height, &src.data, pixel_type(src.layout))
                .map_err(resize_error)?;
            let mut dst = Image::new(plan.width, plan.height, pixel_type(src.layout));
            let options = ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
                .crop(crop.0, crop.1, crop.2, crop.3)
                // Already premultiplied once for all plans (see the module docs).
                .use_alpha(false);
            self.resizer
                .resize(&src_image, &mut dst, &options)
                .map_err(resize_error)?;
            Raster::new(plan.width, plan.height, src.layout, dst.into_vec())?
        };
        if out.layout == Layout::Rgba {
            unpremultiply(&mut out.data);
        }
        Ok(out)
    }
}

/// A plan that keeps pixels 1:1 on whole-pixel boundaries (no downscale needed, or the
/// no-upscale cover crop) is a plain copy; running it through the filter would only cost time.
fn exact_copy(src: &Raster, crop: (f64, f64, f64, f64), plan: &Plan) -> Option<Raster> {
    let whole = |v: f64| v >= 0.0 && v.fract() == 0.0;
    let (left, top, w, h) = crop;
    if !(whole(left) && whole(top)) || w != f64::from(plan.width) || h != f64::from(plan.height) {
        return None;
    }
    let (left, top) = (left as usize, top as usize);
    let channels = src.layout.channels();
    let row_len = plan.width as usize * channels;
    let mut data = Vec::with_capacity(row_len * plan.height as usize);
    for row in top..top + plan.height as usize {
        let start = (row * src.width as usize + left) * channels;
        data.extend_from_slice(src.data.get(start..start + row_len)?);
    }
    Raster::new(plan.width, plan.height, src.layout, data).ok()
}

/// Premultiplied RGBA back to straight alpha. Fully transparent pixels become transparent
/// black; their colour carries no information.
fn unpremultiply(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = u32::from(px[3]);
        if a == 0 {
            px[..3].fill(0);
        } else if a < 255 {
            for c in &mut px[..3] {
                *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpremultiply_restores_straight_colour() {
        let mut px = [64, 32, 0, 128, 10, 10, 10, 0, 1, 2, 3, 255];
        unpremultiply(&mut px);
        assert_eq!(px, [128, 64, 0, 128, 0, 0, 0, 0, 1, 2, 3, 255]);
    }

    #[test]
    fn transparent_black_does_not_darken_an_opaque_edge() {
        // Left half opaque white, right half transparent black: after a 2:1 downscale the
        // visible pixels must stay white, not grey.
        let (w, h) = (8u32, 2u32);
        let mut data = Vec::new();
        for _ in 0..h {
            for x in 0..w {
                data.extend_from_slice(if x < 4 {
                    &[255, 255, 255, 255]
                } else {
                    &[0, 0, 0, 0]
                });
            }
        }
        let raster = Raster::new(w, h, Layout::Rgba, data).unwrap();
        let mut source = Source::new(raster, (w, h)).unwrap();
        let plan = Plan::new((w, h), (4, 1), crate::Fit::Contain, 1);
        let out = source.render(&plan).unwrap();
        for px in out.data.chunks_exact(4) {
            if px[3] > 0 {
                assert!(px[0] >= 250, "visible pixel darkened: {px:?}");
            }
        }
    }
}
