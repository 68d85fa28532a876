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
    /// The probe library's kind, which holds each kind's name and MIME type once. The guest
    /// maps the other way; a kind added to the WIT enum fails to compile here until it is
    /// mapped.
    pub fn library(self) -> media_probe::Kind {
        use media_probe::Kind as K;
        match self {
            Kind::Jpeg => K::Jpeg,
            Kind::Png => K::Png,
            Kind::Gif => K::Gif,
            Kind::Webp => K::Webp,
            Kind::Tiff => K::Tiff,
            Kind::Bmp => K::Bmp,
            Kind::Ico => K::Ico,
            Kind::Avif => K::Avif,
            Kind::Heic => K::Heic,
            Kind::Svg => K::Svg,
            Kind::Pdf => K::Pdf,
            Kind::Html => K::Html,
            Kind::Zip => K::Zip,
            Kind::Gzip => K::Gzip,
            Kind::Mp4 => K::Mp4,
            Kind::Quicktime => K::Quicktime,
            Kind::Webm => K::Webm,
            Kind::Matroska => K::Matroska,
            Kind::Avi => K::Avi,
            Kind::Hls => K::Hls,
            Kind::Elf => K::Elf,
            Kind::Pe => K::Pe,
            Kind::Unknown => K::Unknown,
        }
    }

    /// The kind's name as the WIT enum spells it (`quicktime`, `webm`, …): the `kind` of a
    /// report and the probe library's name for the same kind.
    pub fn name(self) -> &'static str {
        self.library().name()
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
