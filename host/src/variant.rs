//! Variant specs: what the thumbnail guest renders for each upload. Parsed from
//! `name:WxH[:format[:quality[:fit]]]`, e.g. `thumb:256x256:webp:80:contain`.

use crate::pipeline::{VideoVariant, VIDEO_VARIANT};
use crate::sandbox::{Fit, Format, Rendered, VariantSpec};

/// Most variants one upload may ask for: each is a resize and an encode.
pub const MAX_VARIANTS: usize = 8;
/// Largest box edge a variant may ask for; a "preview" is a screen-sized image, not a copy.
pub const MAX_VARIANT_EDGE: u32 = 4096;
/// Quality used when a spec names none: the usual sweet spot for both WebP and JPEG.
pub const DEFAULT_QUALITY: u8 = 82;

/// The defaults: a 256 px WebP thumbnail for lists and a 1280 px JPEG preview for viewers.
pub fn defaults() -> Vec<VariantSpec> {
    vec![
        spec("thumb", 256, Format::Webp, 80),
        spec("preview", 1280, Format::Jpeg, 85),
    ]
}

fn spec(name: &str, edge: u32, format: Format, quality: u8) -> VariantSpec {
    VariantSpec {
        name: name.to_string(),
        max_width: edge,
        max_height: edge,
        fit: Fit::Contain,
        format,
        quality,
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid variant spec {spec:?}: {reason} (expected name:WxH[:webp|jpeg|png|auto[:quality[:contain|cover]]])")]
pub struct SpecError {
    pub spec: String,
    pub reason: String,
}

/// Parses one `name:WxH[:format[:quality[:fit]]]` spec.
pub fn parse(s: &str) -> Result<VariantSpec, SpecError> {
    let err = |reason: &str| SpecError {
        spec: s.to_string(),
        reason: reason.to_string(),
    };
    let mut parts = s.split(':');
    let name = parts.next().unwrap_or_default();
    if name.is_empty()
        || name.len() > 32
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(err("the name must be 1-32 characters of [A-Za-z0-9_-]"));
    }
    let (w, h) = parts
        .next()
        .and_then(|b| b.split_once(['x', 'X']))
        .ok_or_else(|| err("missing WxH box"))?;
    let edge = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_VARIANT_EDGE).contains(n))
            .ok_or_else(|| err(&format!("box edges must be 1..={MAX_VARIANT_EDGE}")))
    };
    let (max_width, max_height) = (edge(w)?, edge(h)?);
    let format = match parts.next().unwrap_or("webp") {
        "webp" => Format::Webp,
        "jpeg" | "jpg" => Format::Jpeg,
        "png" => Format::Png,
        "auto" => Format::Auto,
        _ => return Err(err("unknown format")),
    };
    let quality = match parts.next() {
        None => DEFAULT_QUALITY,
        Some(q) => q
            .parse::<u8>()
            .ok()
            .filter(|q| (1..=100).contains(q))
            .ok_or_else(|| err("quality must be 1..=100"))?,
    };
    let fit = match parts.next().unwrap_or("contain") {
        "contain" => Fit::Contain,
        "cover" => Fit::Cover,
        _ => return Err(err("fit must be contain or cover")),
    };
    if parts.next().is_some() {
        return Err(err("too many fields"));
    }
    Ok(VariantSpec {
        name: name.to_string(),
        max_width,
        max_height,
        fit,
        format,
        quality,
    })
}

/// Parses a list of specs, refusing duplicates and more than [`MAX_VARIANTS`].
pub fn parse_all<S: AsRef<str>>(specs: &[S]) -> Result<Vec<VariantSpec>, SpecError> {
    if specs.len() > MAX_VARIANTS {
        return Err(SpecError {
            spec: format!("{} specs", specs.len()),
            reason: format!("at most {MAX_VARIANTS} variants"),
        });
    }
    let mut out: Vec<VariantSpec> = Vec::with_capacity(specs.len());
    for s in specs {
        let spec = parse(s.as_ref())?;
        if out.iter().any(|o| o.name == spec.name) {
            return Err(SpecError {
                spec: s.as_ref().to_string(),
                reason: "duplicate variant name".into(),
            });
        }
        out.push(spec);
    }
    Ok(out)
}

/// File extension for an encoded format.
pub fn extension(format: Format) -> &'static str {
    match format {
        Format::Webp => "webp",
        Format::Jpeg | Format::Auto => "jpg",
        Format::Png => "png",
    }
}

/// Content type stored with a variant object.
pub fn content_type(format: Format) -> &'static str {
    match format {
        Format::Webp => "image/webp",
        Format::Jpeg | Format::Auto => "image/jpeg",
        Format::Png => "image/png",
    }
}

/// The spec string that [`parse`] reads back into `spec`.
pub fn to_spec_string(spec: &VariantSpec) -> String {
    format!(
        "{}:{}x{}:{}:{}:{}",
        spec.name,
        spec.max_width,
        spec.max_height,
        format_name(spec.format),
        spec.quality,
        match spec.fit {
            Fit::Contain => "contain",
            Fit::Cover => "cover",
        }
    )
}

pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Webp => "webp",
        Format::Jpeg => "jpeg",
        Format::Png => "png",
        Format::Auto => "auto",
    }
}

/// One output of an upload, ready to be written: to the object store by the job, to a folder
/// by `attachd process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantFile {
    /// The variant's name (`thumb`, `preview`, [`VIDEO_VARIANT`], …).
    pub name: String,
    /// File extension, without the dot (`webp`, `jpg`, `png`, `mp4`).
    pub extension: &'static str,
    /// What the variant records as its format (`webp`, `jpeg`, `png`, `mp4`).
    pub format: &'static str,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl VariantFile {
    /// `<name>.<extension>`.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.name, self.extension)
    }

    pub fn bytes(&self) -> u64 {
        self.data.len() as u64
    }
}

/// The files to write for what the pipeline produced: every rendered thumbnail, in order, then
/// the video's MP4 if there is one.
pub fn files(rendered: Vec<Rendered>, video: Option<VideoVariant>) -> Vec<VariantFile> {
    let mut files: Vec<VariantFile> = rendered
        .into_iter()
        .map(|v| VariantFile {
            name: v.name,
            extension: extension(v.format),
            format: format_name(v.format),
            content_type: content_type(v.format),
            width: v.width,
            height: v.height,
            data: v.data,
        })
        .collect();
    files.extend(video.map(|mp4| VariantFile {
        name: VIDEO_VARIANT.to_string(),
        extension: "mp4",
        format: "mp4",
        content_type: "video/mp4",
        width: mp4.width,
        height: mp4.height,
        data: mp4.data,
    }));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_spec_parses_every_field() {
        let s = parse("card:600x400:jpeg:70:cover").unwrap();
        assert_eq!(s.name, "card");
        assert_eq!((s.max_width, s.max_height), (600, 400));
        assert_eq!(s.format, Format::Jpeg);
        assert_eq!(s.quality, 70);
        assert_eq!(s.fit, Fit::Cover);
    }

    #[test]
    fn short_spec_takes_webp_default_quality_and_contain() {
        let s = parse("t:64x64").unwrap();
        assert_eq!(s.format, Format::Webp);
        assert_eq!(s.quality, DEFAULT_QUALITY);
        assert_eq!(s.fit, Fit::Contain);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for bad in [
            "",
            "x",
            "t:0x10",
            "t:10x99999",
            "t:10x10:gif",
            "t:10x10:webp:0",
            "t:10x10:webp:80:stretch",
            "t:10x10:webp:80:cover:extra",
            "../evil:10x10",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn spec_strings_round_trip() {
        for s in defaults()
            .iter()
            .chain([&parse("c:10x20:png:5:cover").unwrap()])
        {
            let text = to_spec_string(s);
            assert_eq!(to_spec_string(&parse(&text).unwrap()), text);
        }
    }

    #[test]
    fn duplicate_names_and_too_many_variants_are_refused() {
        assert!(parse_all(&["a:1x1", "a:2x2"]).is_err());
        let many: Vec<String> = (0..=MAX_VARIANTS).map(|i| format!("v{i}:8x8")).collect();
        assert!(parse_all(&many).is_err());
    }

    #[test]
    fn files_list_the_thumbnails_in_order_then_the_video() {
        let rendered = |name: &str, format| Rendered {
            name: name.into(),
            format,
            width: 4,
            height: 3,
            data: vec![1, 2],
        };
        let video = VideoVariant {
            data: vec![0; 5],
            width: 640,
            height: 360,
        };
        let files = files(
            vec![rendered("t", Format::Webp), rendered("p", Format::Jpeg)],
            Some(video),
        );
        let seen: Vec<_> = files
            .iter()
            .map(|f| (f.file_name(), f.format, f.content_type, f.bytes()))
            .collect();
        assert_eq!(
            seen,
            [
                ("t.webp".to_string(), "webp", "image/webp", 2),
                ("p.jpg".to_string(), "jpeg", "image/jpeg", 2),
                ("video.mp4".to_string(), "mp4", "video/mp4", 5),
            ]
        );
        assert_eq!((files[2].width, files[2].height), (640, 360));
    }
}
