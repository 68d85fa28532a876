//! Host-side bindings for the guest worlds in `wit/`. All three worlds share
//! `attach:media/types`; the scanner and thumbnailer bindings reuse the prober's copy of those
//! types so a `Limits` or `MediaError` is one Rust type across the host.

pub mod prober {
    wasmtime::component::bindgen!({ world: "prober", path: "../wit" });
}

pub mod thumbnailer {
    wasmtime::component::bindgen!({
        world: "thumbnailer",
        path: "../wit",
        with: { "attach:media/types": super::prober::attach::media::types },
    });
}

pub mod scanner {
    wasmtime::component::bindgen!({
        world: "scanner",
        path: "../wit",
        with: { "attach:media/types": super::prober::attach::media::types },
    });
}

pub use prober::attach::media::types::{Kind, Limit, LimitHit, Limits, MediaError};
pub use prober::exports::attach::media::probe::ProbeInfo;
pub use scanner::exports::attach::media::scan::{Finding, Report, Verdict};
pub use thumbnailer::exports::attach::media::thumbnail::{
    Fit, Format, Rendered, Thumbnails, VariantSpec,
};
