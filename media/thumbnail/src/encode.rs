//! Encoding a finished variant. Encoders are handed raw pixels and nothing else, so no
//! metadata from the upload (EXIF with its GPS position, XMP, ICC, comments) can reach an
//! output; none of the encoders below is asked to write any of its own either.

use media_probe::MediaError;

use crate::raster::{Layout, Raster};
use crate::Format;

/// Encodes `image` as `format` (resolving `Auto`) and returns the format actually written.
pub(crate) fn encode(
    image: &Raster,
    format: Format,
    quality: u8,
) -> Result<(Format, Vec<u8>), MediaError> {
    let format = match format {
        Format::Auto if image.has_transparency() => Format::Png,
        Format::Auto => Format::Jpeg,
        other => other,
    };
    let bytes = match format {
        Format::Png => encode_png(image)?,
        Format::Webp => crate::webp::encode_lossy(image, quality)?,
        Format::Jpeg | Format::Auto => encode_jpeg(image, quality)?,
    };
    Ok((format, bytes))
}

fn encode_jpeg(image: &Raster, quality: u8) -> Result<Vec<u8>, MediaError> {
    let (width, height) = match (u16::try_from(image.width), u16::try_from(image.height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => {
            return Err(MediaError::EncodeFailed(format!(
                "jpeg: {}x{} exceeds 65535 px",
                image.width, image.height
            )))
        }
    };
    // JPEG has no alpha: composite over white, which is how a transparent image on a typical
    // page looks, instead of letting the encoder drop alpha and expose the hidden colours.
    let rgb;
    let pixels = match image.layout {
        Layout::Rgb => &image.data,
        Layout::Rgba => {
            rgb = over_white(&image.data);
            &rgb
        }
    };
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    // A second pass over a thumbnail's coefficients is cheap and saves a few percent.
    encoder.set_optimized_huffman_tables(true);
    encoder
        .encode(pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| MediaError::EncodeFailed(format!("jpeg: {e}")))?;
    Ok(out)
}

fn over_white(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| {
            let a = u32::from(p[3]);
            let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            [blend(p[0]), blend(p[1]), blend(p[2])]
        })
        .collect()
}

fn encode_png(image: &Raster) -> Result<Vec<u8>, MediaError> {
    let err = |e: png::EncodingError| MediaError::EncodeFailed(format!("png: {e}"));
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
    encoder.set_color(match image.layout {
        Layout::Rgb => png::ColorType::Rgb,
        Layout::Rgba => png::ColorType::Rgba,
    });
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(&image.data).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparency_composites_over_white_for_jpeg() {
        assert_eq!(over_white(&[0, 0, 0, 0]), vec![255, 255, 255]);
        assert_eq!(over_white(&[10, 20, 30, 255]), vec![10, 20, 30]);
        assert_eq!(over_white(&[0, 0, 0, 128]), vec![127, 127, 127]);
    }
}
