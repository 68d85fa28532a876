//! The placeholder: a ThumbHash (a ~25-byte summary a client blurs into a preview while the
//! real variant loads) of the oriented image, as standard base64 with padding so it drops
//! straight into JSON and `data:` handling without a URL-safe variant question.

use media_probe::MediaError;

use crate::raster::Raster;
use crate::PLACEHOLDER_MAX_DIMENSION;

/// ThumbHash of `image`, which the caller has already scaled to at most
/// [`PLACEHOLDER_MAX_DIMENSION`] on each side and oriented.
pub(crate) fn thumbhash_base64(image: &Raster) -> Result<String, MediaError> {
    // thumbhash asserts on larger inputs; checking here turns a would-be panic into an error.
    if image.width > PLACEHOLDER_MAX_DIMENSION || image.height > PLACEHOLDER_MAX_DIMENSION {
        return Err(MediaError::EncodeFailed(format!(
            "placeholder: {}x{} exceeds {PLACEHOLDER_MAX_DIMENSION} px",
            image.width, image.height
        )));
    }
    let rgba = image.clone().into_rgba();
    let hash = thumbhash::rgba_to_thumb_hash(rgba.width as usize, rgba.height as usize, &rgba.data);
    Ok(base64(&hash))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// RFC 4648 base64, standard alphabet, padded.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }
}
