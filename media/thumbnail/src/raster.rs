//! The in-memory image every stage passes along: 8-bit RGB or RGBA, rows packed with no
//! padding. Two layouts only, because they are what the resizer, the orienter and all three
//! encoders share; every decoder's output is converted into one of them.

use media_probe::MediaError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Rgb,
    /// Straight (not premultiplied) alpha, except inside the resizer, which owns that detail.
    Rgba,
}

impl Layout {
    pub(crate) const fn channels(self) -> usize {
        match self {
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Raster {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) layout: Layout,
    pub(crate) data: Vec<u8>,
}

impl Raster {
    /// Wraps decoder output, checking that the buffer really holds `width × height` pixels:
    /// a decoder that disagrees with itself about the size must not reach code that indexes.
    pub(crate) fn new(
        width: u32,
        height: u32,
        layout: Layout,
        data: Vec<u8>,
    ) -> Result<Raster, MediaError> {
        let expected = byte_len(width, height, layout)?;
        if width == 0 || height == 0 || data.len() != expected {
            return Err(MediaError::malformed(format!(
                "decoder produced {} bytes for a {width}x{height} image",
                data.len()
            )));
        }
        Ok(Raster {
            width,
            height,
            layout,
            data,
        })
    }

    /// Row length in bytes.
    pub(crate) fn stride(&self) -> usize {
        self.width as usize * self.layout.channels()
    }

    /// True when some pixel is not fully opaque.
    pub(crate) fn has_transparency(&self) -> bool {
        match self.layout {
            Layout::Rgb => false,
            Layout::Rgba => self.data.chunks_exact(4).any(|px| px[3] != u8::MAX),
        }
    }

    /// Drops an alpha channel that is opaque everywhere: a quarter less to resize and encode,
    /// and `Format::Auto` then picks JPEG for the PNGs that merely carry an unused alpha.
    pub(crate) fn drop_opaque_alpha(mut self) -> Raster {
        if self.layout != Layout::Rgba || self.has_transparency() {
            return self;
        }
        // In place: a full-size decode can be hundreds of MB, and a second buffer would raise
        // the peak by three quarters of it. Pixel i moves from 4i to 3i, never forward, so
        // nothing is overwritten before it is read.
        let pixels = self.data.len() / 4;
        for i in 0..pixels {
            self.data.copy_within(4 * i..4 * i + 3, 3 * i);
        }
        self.data.truncate(3 * pixels);
        self.data.shrink_to_fit();
        self.layout = Layout::Rgb;
        self
    }

    /// Expands to RGBA (opaque) if needed.
    pub(crate) fn into_rgba(self) -> Raster {
        match self.layout {
            Layout::Rgba => self,
            Layout::Rgb => Raster {
                width: self.width,
                height: self.height,
                layout: Layout::Rgba,
                data: self
                    .data
                    .chunks_exact(3)
                    .flat_map(|px| [px[0], px[1], px[2], u8::MAX])
                    .collect(),
            },
        }
    }
}

/// Bytes needed for a `width × height` image, or an error if that does not fit in memory
/// addressing (possible on wasm32, where usize is 32 bits).
pub(crate) fn byte_len(width: u32, height: u32, layout: Layout) -> Result<usize, MediaError> {
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|px| px.checked_mul(layout.channels()))
        .ok_or_else(|| MediaError::malformed(format!("{width}x{height} image is too large")))
}

/// Grey samples as RGB.
#[cfg(feature = "classic")]
pub(crate) fn gray_to_rgb(gray: &[u8]) -> Vec<u8> {
    gray.iter().flat_map(|&g| [g, g, g]).collect()
}

/// CMYK ink amounts (0 = no ink) as RGB. Without a colour profile the naive subtractive model is the best available and matches what
/// browsers show for untagged CMYK.
#[cfg(feature = "classic")]
pub(crate) fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let channel = |ink: u8, k: u8| -> u8 {
        let v = (255 - u32::from(ink)) * (255 - u32::from(k));
        ((v + 127) / 255) as u8
    };
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            [
                channel(p[0], p[3]),
                channel(p[1], p[3]),
                channel(p[2], p[3]),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_without_ink_is_white_and_full_black_is_black() {
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 0]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 255]), vec![0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 0]), vec![255, 0, 0]);
    }

    #[test]
    fn opaque_alpha_is_dropped_in_place_and_real_alpha_is_kept() {
        let opaque = Raster::new(2, 1, Layout::Rgba, vec![1, 2, 3, 255, 4, 5, 6, 255]).unwrap();
        let rgb = opaque.drop_opaque_alpha();
        assert_eq!(rgb.layout, Layout::Rgb);
        assert_eq!(rgb.data, vec![1, 2, 3, 4, 5, 6]);

        let translucent = Raster::new(1, 1, Layout::Rgba, vec![1, 2, 3, 254]).unwrap();
        assert_eq!(translucent.drop_opaque_alpha().layout, Layout::Rgba);
    }
}
