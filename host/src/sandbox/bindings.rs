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

impl Kind {
    /// The kind's name as the WIT enum spells it (`quicktime`, `webm`, …): the `kind` of a
    /// report and the probe library's name for the same kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpeg",
            Kind::Png => "png",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Tiff => "tiff",
            Kind::Bmp => "bmp",
            Kind::Ico => "ico",
            Kind::Avif => "avif",
            Kind::Heic => "heic",
            Kind::Svg => "svg",
            Kind::Pdf => "pdf",
            Kind::Html => "html",
            Kind::Zip => "zip",
            Kind::Gzip => "gzip",
            Kind::Mp4 => "mp4",
            Kind::Quicktime => "quicktime",
            Kind::Webm => "webm",
            Kind::Matroska => "matroska",
            Kind::Avi => "avi",
            Kind::Hls => "hls",
            Kind::Elf => "elf",
            Kind::Pe => "pe",
            Kind::Unknown => "unknown",
        }
    }
}

impl Verdict {
    /// The verdict's name as the WIT enum spells it: what reports, rows and metrics carry.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
            Verdict::Reject => "reject",
        }
    }
}
