//! EXIF orientation: turning a stored raster into the way the camera meant it to be seen.
//! Applied to each resized variant rather than the decode, so it moves thumbnail pixels
//! only. Orientation values are EXIF's (TIFF tag 0x0112):
//!
//! | value | transform           |
//! |-------|---------------------|
//! | 1     | none                |
//! | 2     | flip horizontally   |
//! | 3     | rotate 180°         |
//! | 4     | flip vertically     |
//! | 5     | transpose           |
//! | 6     | rotate 90° clockwise |
//! | 7     | transverse          |
//! | 8     | rotate 270° clockwise |
//!
//! Anything else reads as 1, as the probe already does.

use media_probe::MediaError;

use crate::geometry::swaps_axes;
use crate::raster::Raster;

/// Returns `image` as displayed under `orientation`.
pub(crate) fn apply(image: Raster, orientation: u8) -> Result<Raster, MediaError> {
    if !(2..=8).contains(&orientation) {
        return Ok(image);
    }
    let (w, h) = (image.width as usize, image.height as usize);
    let (out_w, out_h) = if swaps_axes(orientation) {
        (h, w)
    } else {
        (w, h)
    };
    let channels = image.layout.channels();
    let mut data = Vec::with_capacity(image.data.len());
    for y in 0..out_h {
        for x in 0..out_w {
            // Where the displayed pixel (x, y) comes from in the stored image.
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x), // 8
            };
            let start = (sy * w + sx) * channels;
            let px = image
                .data
                .get(start..start + channels)
                .ok_or_else(|| MediaError::malformed("orientation: pixel out of range"))?;
            data.extend_from_slice(px);
        }
    }
    Raster::new(out_w as u32, out_h as u32, image.layout, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::Layout;

    /// A 3x2 grey image whose pixel values are 1..=6 in reading order:
    /// ```text
    /// 1 2 3
    /// 4 5 6
    /// ```
    fn numbered() -> Raster {
        let data = (1..=6u8).flat_map(|v| [v, v, v]).collect();
        Raster::new(3, 2, Layout::Rgb, data).unwrap()
    }

    fn values(r: &Raster) -> Vec<u8> {
        r.data.chunks_exact(3).map(|p| p[0]).collect()
    }

    #[test]
    fn each_orientation_moves_pixels_as_exif_defines() {
        let cases: [(u8, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [1, 2, 3, 4, 5, 6]),
            (2, (3, 2), [3, 2, 1, 6, 5, 4]),
            (3, (3, 2), [6, 5, 4, 3, 2, 1]),
            (4, (3, 2), [4, 5, 6, 1, 2, 3]),
            (5, (2, 3), [1, 4, 2, 5, 3, 6]),
            (6, (2, 3), [4, 1, 5, 2, 6, 3]),
            (7, (2, 3), [6, 3, 5, 2, 4, 1]),
            (8, (2, 3), [3, 6, 2, 5, 1, 4]),
        ];
        for (orientation, size, expected) in cases {
            let out = apply(numbered(), orientation).unwrap();
            assert_eq!((out.width, out.height), size, "orientation {orientation}");
            assert_eq!(values(&out), expected, "orientation {orientation}");
        }
    }
}
