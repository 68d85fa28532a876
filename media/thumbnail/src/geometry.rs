//! Box arithmetic: for one spec, which part of the source to render at which size, and how
//! large a decode that needs. Everything here is in the source's *stored* orientation, so the
//! resizer works on decoder output directly and the EXIF transform runs last; the spec's box,
//! which applies to the *displayed* image, is swapped first for orientations 5..=8.

use crate::Fit;

/// Part of the source, in full-resolution stored coordinates. Fractional because a centre
/// crop of a cover fit rarely falls on whole pixels, and the resizer samples sub-pixel
/// offsets correctly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Crop {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// What to render for one spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    pub(crate) crop: Crop,
    /// Output size in stored orientation (swapped again by the EXIF transform for 5..=8).
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// Orientations 5..=8 turn the image a quarter, swapping its axes.
pub(crate) const fn swaps_axes(orientation: u8) -> bool {
    matches!(orientation, 5..=8)
}

impl Plan {
    /// `source` is the full stored size, `bounds` the spec's box as displayed. Both sides of
    /// both are at least 1 (the caller validated them).
    pub(crate) fn new(source: (u32, u32), bounds: (u32, u32), fit: Fit, orientation: u8) -> Plan {
        let (w, h) = (u64::from(source.0.max(1)), u64::from(source.1.max(1)));
        let (bw, bh) = if swaps_axes(orientation) {
            (bounds.1, bounds.0)
        } else {
            bounds
        };
        let (bw, bh) = (u64::from(bw.max(1)), u64::from(bh.max(1)));
        // Comparing w/h with bw/bh without division: true when the source is at least as wide
        // (relative to its height) as the box.
        let source_is_wider = w * bh >= h * bw;
        let full = Crop {
            left: 0.0,
            top: 0.0,
            width: w as f64,
            height: h as f64,
        };

        match fit {
            Fit::Contain if w <= bw && h <= bh => Plan::sized(full, w, h),
            // Width is the limiting side: the other is rounded to the nearest pixel, which
            // keeps the aspect ratio within half a pixel and cannot exceed the box, because
            // the exact value is at most the box side.
            Fit::Contain if source_is_wider => {
                Plan::sized(full, bw, div_round(h * bw, w).clamp(1, bh))
            }
            Fit::Contain => Plan::sized(full, div_round(w * bh, h).clamp(1, bw), bh),
            Fit::Cover if w >= bw && h >= bh => {
                // Scale so the box's short side of the source fills it, then take the centre.
                let (crop_w, crop_h) = if source_is_wider {
                    (h as f64 * bw as f64 / bh as f64, h as f64)
                } else {
                    (w as f64, w as f64 * bh as f64 / bw as f64)
                };
                let crop = Crop {
                    left: (w as f64 - crop_w) / 2.0,
                    top: (h as f64 - crop_h) / 2.0,
                    width: crop_w,
                    height: crop_h,
                };
                Plan::sized(crop, bw, bh)
            }
            Fit::Cover => {
                // Covering would upscale: keep the source's pixels 1:1 and crop its centre to
                // the box's aspect ratio instead. Whole pixels, so it is a plain copy.
                let (cw, ch) = if source_is_wider {
                    (div_round(h * bw, bh).clamp(1, w), h)
                } else {
                    (w, div_round(w * bh, bw).clamp(1, h))
                };
                let crop = Crop {
                    left: ((w - cw) / 2) as f64,
                    top: ((h - ch) / 2) as f64,
                    width: cw as f64,
                    height: ch as f64,
                };
                Plan::sized(crop, cw, ch)
            }
        }
    }

    fn sized(crop: Crop, width: u64, height: u64) -> Plan {
        // Every caller passes values bounded by a u32 source or box side.
        let to_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX).max(1);
        Plan {
            crop,
            width: to_u32(width),
            height: to_u32(height),
        }
    }

    /// The smallest whole-image decode (stored orientation) that still gives this plan at
    /// least one source pixel per output pixel, so a shrink-on-load decoder never makes the
    /// resizer upscale.
    pub(crate) fn needed_source_resolution(&self, source: (u32, u32)) -> (u32, u32) {
        let need = |full: u32, out: u32, crop: f64| -> u32 {
            if crop <= 0.0 {
                return full;
            }
            // The epsilon absorbs float error in exact cases (crop == full, out == full) that
            // would otherwise round up one pixel and defeat the smaller decode.
            let v = (f64::from(full) * f64::from(out) / crop - 1e-6).ceil();
            if v.is_finite() && v >= 1.0 {
                (v as u32).min(full)
            } else {
                1
            }
        };
        (
            need(source.0, self.width, self.crop.width),
            need(source.1, self.height, self.crop.height),
        )
    }
}

/// `num / den` rounded to the nearest integer (halves up); `den` is never 0 here.
fn div_round(num: u64, den: u64) -> u64 {
    let den = den.max(1);
    (num + den / 2) / den
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contain_keeps_aspect_and_stays_in_box() {
        let plan = Plan::new((4000, 3000), (256, 256), Fit::Contain, 1);
        assert_eq!((plan.width, plan.height), (256, 192));
        let plan = Plan::new((3000, 4000), (256, 256), Fit::Contain, 1);
        assert_eq!((plan.width, plan.height), (192, 256));
    }

    #[test]
    fn contain_swaps_the_box_for_quarter_turns() {
        // Stored 4000x3000 with orientation 6 displays as 3000x4000; a 300x200 box displayed
        // means the stored image must fit 200x300.
        let plan = Plan::new((4000, 3000), (300, 200), Fit::Contain, 6);
        assert_eq!((plan.width, plan.height), (200, 150));
    }

    #[test]
    fn contain_never_upscales() {
        let plan = Plan::new((100, 50), (400, 400), Fit::Contain, 1);
        assert_eq!((plan.width, plan.height), (100, 50));
    }

    #[test]
    fn cover_fills_the_box_from_the_centre() {
        let plan = Plan::new((4000, 3000), (200, 200), Fit::Cover, 1);
        assert_eq!((plan.width, plan.height), (200, 200));
        assert_eq!(plan.crop.width, 3000.0);
        assert_eq!(plan.crop.left, 500.0);
    }

    #[test]
    fn cover_of_a_small_source_crops_without_upscaling() {
        let plan = Plan::new((300, 100), (200, 200), Fit::Cover, 1);
        assert_eq!((plan.width, plan.height), (100, 100));
        assert_eq!(plan.crop.left, 100.0);
    }

    #[test]
    fn needed_resolution_matches_the_output_scale() {
        let plan = Plan::new((4000, 3000), (256, 256), Fit::Contain, 1);
        assert_eq!(plan.needed_source_resolution((4000, 3000)), (256, 192));
        let plan = Plan::new((4000, 3000), (200, 200), Fit::Cover, 1);
        assert_eq!(plan.needed_source_resolution((4000, 3000)), (267, 200));
    }
}
