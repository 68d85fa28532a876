//! The `probe` component: `attach:media/probe` over media-probe. Thin by design: every
//! decision lives in the library, which is tested and fuzzed natively.

wit_bindgen::generate!({ world: "prober", path: "../../wit" });

use exports::attach::media::probe::{Guest, ProbeInfo};

struct Component;

impl Guest for Component {
    fn probe(data: Vec<u8>, limits: Limits) -> Result<ProbeInfo, MediaError> {
        let info = media_probe::probe(&data, &limits_from_wit(limits)).map_err(error_to_wit)?;
        Ok(ProbeInfo {
            kind: kind_to_wit(info.kind),
            mime: info.mime.to_string(),
            width: info.width,
            height: info.height,
            frames: info.frames,
            total_frame_area: info.total_frame_area,
            orientation: info.orientation,
            has_exif: info.has_exif,
            has_gps: info.has_gps,
            has_xmp: info.has_xmp,
            has_icc: info.has_icc,
            has_comment: info.has_comment,
            has_alpha: info.has_alpha,
            progressive: info.progressive,
            scans: info.scans,
        })
    }
}

include!("../../common.rs");

export!(Component);
