//! The probe component as a newer release would build it, for the host's tests of which guest
//! versions it binds. It probes exactly like `guests/probe` (same library, same mapping), but
//! against a newer copy of the `attach:media` WIT:
//!
//! - default: `wit/minor`, `attach:media@0.1.1`, whose `probe` interface adds
//!   `capabilities`. A semver-compatible release: a 0.1.0 host must still bind it.
//! - feature `major`: `wit/major`, `attach:media@0.2.0`, otherwise unchanged. An incompatible
//!   release: a 0.1.x host must refuse it and say what it needs.
//! - feature `retyped`: `wit/retyped`, `attach:media@0.1.2`, whose `probe-info` record gains a
//!   field. It claims the host's series but breaks a type the host reads: the host must refuse
//!   it when it loads the release, before any job instantiates it.
//!
//! The copies live in this crate, not in `wit/`, because the host binds `wit/` and must never
//! see them.

#[cfg(not(any(feature = "major", feature = "retyped")))]
wit_bindgen::generate!({ world: "prober", path: "wit/minor" });

#[cfg(feature = "retyped")]
wit_bindgen::generate!({ world: "prober", path: "wit/retyped" });

#[cfg(feature = "major")]
wit_bindgen::generate!({ world: "prober", path: "wit/major" });

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
            #[cfg(feature = "retyped")]
            bits_per_sample: 8,
        })
    }

    #[cfg(not(feature = "major"))]
    fn capabilities() -> Vec<String> {
        media_probe::Kind::ALL
            .iter()
            .filter(|k| **k != media_probe::Kind::Unknown)
            .map(|k| k.name().to_string())
            .collect()
    }
}

include!("../../../guests/common.rs");

export!(Component);
