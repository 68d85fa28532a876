//! media-thumbnail owns turning one untrusted raster upload (JPEG, PNG, GIF or WebP with the
//! `classic` feature; HEIC or AVIF with `heif`) into a set of small, metadata-free variants
//! plus a ThumbHash placeholder. Each guest is built with one feature, so it carries only its
//! own decoders (see `decode`).
//!
//! The pipeline, and why it is shaped this way:
//!
//! 1. [`media_probe::probe`] reads the headers and enforces [`Limits`] before any decoder
//!    allocates a pixel, so a 40 KB PNG claiming 30000×30000 never inflates.
//! 2. The image is decoded **once** for every spec, at the smallest size that still serves
//!    the largest one. For JPEG that means DCT-domain scaling (any eighth, 1/8 to 8/8, through
//!    libjpeg-turbo; see `jpeg`): a 24 MP photo rendered to 256 px decodes about 0.4 MP, not
//!    24 MP. Other formats decode at full size
//!    (their codecs have no cheaper path), and animations decode their first frame only.
//! 3. Each variant is resized from that one decode (Lanczos3, alpha premultiplied once),
//!    then EXIF-oriented. Orienting after resizing touches thumbnail pixels, not source
//!    pixels; the box is applied to the oriented image, so for orientations 5..=8 the
//!    geometry swaps axes before resizing.
//! 4. Encoders are given pixels only: no EXIF, XMP, ICC or comment from the input can reach
//!    an output, because nothing but pixels is ever read from the decoders.
//!
//! Invalid [`VariantSpec`]s (empty name, zero or oversized box, quality outside 1..=100, too
//! many specs) are rejected with [`MediaError::Unsupported`]: the input may be fine, but this
//! library does not handle the request as asked. Specs come from the host's configuration, so
//! such an error points at a configuration bug, never at the upload.

#[cfg(feature = "heif")]
mod avif;
#[cfg(feature = "classic")]
mod classic;
mod decode;
mod encode;
mod geometry;
mod guard;
#[cfg(feature = "heif")]
mod heif;
#[cfg(feature = "classic")]
mod jpeg;
mod orient;
mod placeholder;
mod raster;
mod resize;
mod webp;

use std::time::{Duration, Instant};

use media_probe::{Limit, Limits, MediaError};

use crate::geometry::Plan;
use crate::resize::Source;

/// How a variant fits its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Scale down to fit inside the box, keeping the aspect ratio; never upscale.
    Contain,
    /// Scale to cover the box and crop the centre to exactly the box. Never upscales: a
    /// source smaller than the box is cropped to the box's aspect ratio at its own size.
    Cover,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lossy WebP.
    Webp,
    /// Baseline JPEG; transparency is composited over white.
    Jpeg,
    /// 8-bit PNG, RGB or RGBA.
    Png,
    /// JPEG, or PNG when the image has transparency.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantSpec {
    pub name: String,
    pub max_width: u32,
    pub max_height: u32,
    pub fit: Fit,
    pub format: Format,
    /// 1..=100, for lossy formats.
    pub quality: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: String,
    /// The format actually written (never [`Format::Auto`]).
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnails {
    pub variants: Vec<Rendered>,
    /// ThumbHash of the oriented image, standard base64 with padding.
    pub placeholder: String,
}

/// Largest box side a variant may ask for. Variants are thumbnails and previews; 8192 px is
/// above any display's width while keeping one RGBA variant under 256 MB, and below WebP's
/// own 16383 px ceiling, so every format can encode every allowed size.
pub const MAX_VARIANT_DIMENSION: u32 = 8192;

/// Most specs one call renders. A thumbnail set is a handful of sizes; the cap bounds the
/// resize and encode work (and output memory) of a single call.
pub const MAX_VARIANTS: usize = 16;

/// Longest variant name, in bytes. Names end up in storage keys and logs, so they stay short.
pub const MAX_VARIANT_NAME_BYTES: usize = 128;

/// Quality range of the lossy encoders (libwebp and jpeg-encoder both take 1..=100; 0 would
/// be a silently different setting in one of them).
pub const QUALITY_RANGE: core::ops::RangeInclusive<u8> = 1..=100;

/// Largest side of the image the ThumbHash is computed from: the `thumbhash` crate accepts at
/// most 100×100 (more is slower with no benefit to a ~30-byte hash).
pub const PLACEHOLDER_MAX_DIMENSION: u32 = 100;

/// Probes, decodes once, and renders every spec. See the module docs for the pipeline.
pub fn render(
    data: &[u8],
    specs: &[VariantSpec],
    limits: &Limits,
) -> Result<Thumbnails, MediaError> {
    render_timed(data, specs, limits).map(|(thumbnails, _)| thumbnails)
}

/// The ThumbHash placeholder (standard base64, padded) of `width`×`height` RGBA pixels, as
/// [`render`] computes it from the oriented image: each side at most
/// [`PLACEHOLDER_MAX_DIMENSION`], and `rgba` exactly `width × height × 4` bytes, or
/// [`MediaError::EncodeFailed`]. Public for the fuzz targets, which feed it arbitrary pixels.
pub fn placeholder_of_rgba(width: u32, height: u32, rgba: Vec<u8>) -> Result<String, MediaError> {
    let image = raster::Raster::new(width, height, raster::Layout::Rgba, rgba)
        .map_err(|e| MediaError::EncodeFailed(format!("placeholder: {e}")))?;
    placeholder::thumbhash_base64(&image)
}

/// Where one [`render`] spent its time, step by step (wall-clock, from `std::time::Instant`).
/// Inside the sandbox the guest's clock does not move (a guest must not time anything), so
/// every step reads zero there unless a benchmark gives the guest a real clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steps {
    /// Reading the headers and checking the limits.
    pub probe: Duration,
    /// The one decode (JPEG shrink-on-load included).
    pub decode: Duration,
    /// Every variant's resize (and crop), plus the placeholder's.
    pub resize: Duration,
    /// Applying the EXIF orientation to every variant and the placeholder.
    pub orient: Duration,
    /// Every variant's encode.
    pub encode: Duration,
    /// The ThumbHash itself (its resize is under `resize`).
    pub placeholder: Duration,
}

impl core::fmt::Display for Steps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "probe={:.2}ms decode={:.2}ms resize={:.2}ms orient={:.2}ms encode={:.2}ms placeholder={:.2}ms",
            ms(self.probe),
            ms(self.decode),
            ms(self.resize),
            ms(self.orient),
            ms(self.encode),
            ms(self.placeholder)
        )
    }
}

/// Times consecutive laps of one render.
struct Stopwatch(Instant);

impl Stopwatch {
    fn start() -> Self {
        Stopwatch(Instant::now())
    }

    /// Time since the previous lap (or the start).
    fn lap(&mut self) -> Duration {
        let now = Instant::now();
        let lap = now.saturating_duration_since(self.0);
        self.0 = now;
        lap
    }
}

/// [`render`], also saying where the time went.
pub fn render_timed(
    data: &[u8],
    specs: &[VariantSpec],
    limits: &Limits,
) -> Result<(Thumbnails, Steps), MediaError> {
    let mut steps = Steps::default();
    let mut clock = Stopwatch::start();
    let Prepared {
        mut source,
        plans,
        placeholder_plan,
        orientation,
    } = prepare(data, specs, limits, &mut steps, &mut clock)?;

    let mut variants = Vec::with_capacity(specs.len());
    let mut output_bytes: u64 = 0;
    for (spec, plan) in specs.iter().zip(&plans) {
        let image = source.render(plan)?;
        steps.resize += clock.lap();
        let image = orient::apply(image, orientation)?;
        steps.orient += clock.lap();
        let (format, bytes) = encode::encode(&image, spec.format, spec.quality)?;
        steps.encode += clock.lap();
        // Stop as soon as the running total is over, so a runaway spec list does not keep
        // encoding into memory that will be thrown away.
        output_bytes = output_bytes.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        if output_bytes > limits.max_output_bytes {
            return Err(MediaError::limit(
                Limit::OutputBytes,
                output_bytes,
                limits.max_output_bytes,
            ));
        }
        variants.push(Rendered {
            name: spec.name.clone(),
            format,
            width: image.width,
            height: image.height,
            data: bytes,
        });
    }

    let small = source.render(&placeholder_plan)?;
    steps.resize += clock.lap();
    let small = orient::apply(small, orientation)?;
    steps.orient += clock.lap();
    let placeholder = placeholder::thumbhash_base64(&small)?;
    steps.placeholder += clock.lap();

    Ok((
        Thumbnails {
            variants,
            placeholder,
        },
        steps,
    ))
}

/// Width and height of the raster `render` would decode `data` to for `specs`: the
/// shrink-on-load result (smaller than the source for JPEG when the specs allow it). It runs
/// the same probe, validation and decode as [`render`], without resizing or encoding, so it
/// serves diagnostics and tests that the JPEG decode really is scaled down.
pub fn decoded_size(
    data: &[u8],
    specs: &[VariantSpec],
    limits: &Limits,
) -> Result<(u32, u32), MediaError> {
    let mut steps = Steps::default();
    let mut clock = Stopwatch::start();
    Ok(prepare(data, specs, limits, &mut steps, &mut clock)?
        .source
        .decoded_size())
}

/// Everything the variants are rendered from: the one decode, each spec's geometry, and the
/// orientation to apply after resizing.
struct Prepared {
    source: Source,
    plans: Vec<Plan>,
    placeholder_plan: Plan,
    orientation: u8,
}

fn prepare(
    data: &[u8],
    specs: &[VariantSpec],
    limits: &Limits,
    steps: &mut Steps,
    clock: &mut Stopwatch,
) -> Result<Prepared, MediaError> {
    let info = media_probe::probe(data, limits)?;
    if !decode::decodes(info.kind) {
        return Err(MediaError::unsupported(format!(
            "cannot render thumbnails of {}",
            info.kind.name()
        )));
    }
    validate_specs(specs)?;
    if info.width == 0 || info.height == 0 {
        return Err(MediaError::malformed("image has a zero width or height"));
    }
    let orientation = if (1..=8).contains(&info.orientation) {
        info.orientation
    } else {
        1
    };

    let source = (info.width, info.height);
    let plans: Vec<Plan> = specs
        .iter()
        .map(|spec| {
            Plan::new(
                source,
                (spec.max_width, spec.max_height),
                spec.fit,
                orientation,
            )
        })
        .collect();
    let placeholder_plan = Plan::new(
        source,
        (PLACEHOLDER_MAX_DIMENSION, PLACEHOLDER_MAX_DIMENSION),
        Fit::Contain,
        orientation,
    );
    // The decode has to serve the most demanding plan; the placeholder is included so a call
    // with no specs still decodes something it can hash.
    let needed = plans
        .iter()
        .chain(core::iter::once(&placeholder_plan))
        .map(|plan| plan.needed_source_resolution(source))
        .fold((1, 1), |acc, need| (acc.0.max(need.0), acc.1.max(need.1)));

    steps.probe += clock.lap();
    let raster = decode::decode(data, &info, needed, limits)?;
    steps.decode += clock.lap();
    Ok(Prepared {
        source: Source::new(raster, source)?,
        plans,
        placeholder_plan,
        orientation,
    })
}

fn validate_specs(specs: &[VariantSpec]) -> Result<(), MediaError> {
    if specs.len() > MAX_VARIANTS {
        return Err(MediaError::unsupported(format!(
            "{} variant specs requested, at most {MAX_VARIANTS} allowed",
            specs.len()
        )));
    }
    for spec in specs {
        let problem = if spec.name.is_empty() {
            Some("has an empty name".to_string())
        } else if spec.name.len() > MAX_VARIANT_NAME_BYTES {
            Some(format!(
                "has a name longer than {MAX_VARIANT_NAME_BYTES} bytes"
            ))
        } else if !(1..=MAX_VARIANT_DIMENSION).contains(&spec.max_width)
            || !(1..=MAX_VARIANT_DIMENSION).contains(&spec.max_height)
        {
            Some(format!(
                "asks for a {}x{} box; each side must be 1..={MAX_VARIANT_DIMENSION}",
                spec.max_width, spec.max_height
            ))
        } else if !QUALITY_RANGE.contains(&spec.quality) {
            Some(format!(
                "asks for quality {}; it must be {}..={}",
                spec.quality,
                QUALITY_RANGE.start(),
                QUALITY_RANGE.end()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            // Name is cut so a hostile spec cannot blow up the error message.
            let name: String = spec.name.chars().take(32).collect();
            return Err(MediaError::unsupported(format!(
                "variant spec {name:?} {problem}"
            )));
        }
    }
    Ok(())
}
