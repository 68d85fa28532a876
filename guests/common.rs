// Conversions between media-probe's types and the WIT `attach:media/types` bindings, shared
// by every guest. Each guest generates its bindings at its crate root, so the same paths
// resolve in each; `include!` keeps one copy of this mapping instead of three.

#[allow(unused_imports)]
use attach::media::types::{Kind, Limit, LimitHit, Limits, MediaError};

#[allow(dead_code)]
fn limits_from_wit(l: Limits) -> media_probe::Limits {
    media_probe::Limits {
        max_pixels: l.max_pixels,
        max_frames: l.max_frames,
        max_total_frame_area: l.max_total_frame_area,
        max_output_bytes: l.max_output_bytes,
    }
}

#[allow(dead_code)]
fn error_to_wit(e: media_probe::MediaError) -> MediaError {
    use media_probe::MediaError as E;
    match e {
        E::Malformed(m) => MediaError::Malformed(m),
        E::Unsupported(m) => MediaError::Unsupported(m),
        E::EncodeFailed(m) => MediaError::EncodeFailed(m),
        E::LimitExceeded { limit, actual, max } => MediaError::LimitExceeded(LimitHit {
            limit: match limit {
                media_probe::Limit::InputBytes => Limit::InputBytes,
                media_probe::Limit::Pixels => Limit::Pixels,
                media_probe::Limit::Frames => Limit::Frames,
                media_probe::Limit::FrameArea => Limit::FrameArea,
                media_probe::Limit::OutputBytes => Limit::OutputBytes,
                media_probe::Limit::Structure => Limit::Structure,
            },
            actual,
            max,
        }),
    }
}

#[allow(dead_code)]
fn kind_to_wit(k: media_probe::Kind) -> Kind {
    use media_probe::Kind as K;
    match k {
        K::Jpeg => Kind::Jpeg,
        K::Png => Kind::Png,
        K::Gif => Kind::Gif,
        K::Webp => Kind::Webp,
        K::Tiff => Kind::Tiff,
        K::Bmp => Kind::Bmp,
        K::Ico => Kind::Ico,
        K::Avif => Kind::Avif,
        K::Heic => Kind::Heic,
        K::Svg => Kind::Svg,
        K::Pdf => Kind::Pdf,
        K::Html => Kind::Html,
        K::Zip => Kind::Zip,
        K::Gzip => Kind::Gzip,
        K::Mp4 => Kind::Mp4,
        K::Quicktime => Kind::Quicktime,
        K::Webm => Kind::Webm,
        K::Matroska => Kind::Matroska,
        K::Avi => Kind::Avi,
        K::Hls => Kind::Hls,
        K::Elf => Kind::Elf,
        K::Pe => Kind::Pe,
        K::Unknown => Kind::Unknown,
    }
}
