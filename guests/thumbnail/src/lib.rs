//! The `thumbnail` component: `attach:media/thumbnail` over media-thumbnail. Thin by design:
//! decoding, orientation, resizing and encoding live in the library, which is tested and
//! benchmarked natively against this same code inside the sandbox.

wit_bindgen::generate!({ world: "thumbnailer", path: "../../wit" });

use exports::attach::media::thumbnail::{Fit, Format, Guest, Rendered, Thumbnails, VariantSpec};

include!("../../common.rs");

struct Component;

impl Guest for Component {
    fn render(
        data: Vec<u8>,
        specs: Vec<VariantSpec>,
        limits: Limits,
    ) -> Result<Thumbnails, MediaError> {
        #[cfg(feature = "heif")]
        give_up_on_panic();
        let specs: Vec<media_thumbnail::VariantSpec> = specs
            .into_iter()
            .map(|s| media_thumbnail::VariantSpec {
                name: s.name,
                max_width: s.max_width,
                max_height: s.max_height,
                fit: match s.fit {
                    Fit::Contain => media_thumbnail::Fit::Contain,
                    Fit::Cover => media_thumbnail::Fit::Cover,
                },
                format: format_from_wit(s.format),
                quality: s.quality,
            })
            .collect();
        let out = render(&data, &specs, &limits_from_wit(limits)).map_err(error_to_wit)?;
        Ok(Thumbnails {
            variants: out
                .variants
                .into_iter()
                .map(|r| Rendered {
                    name: r.name,
                    format: format_to_wit(r.format),
                    width: r.width,
                    height: r.height,
                    data: r.data,
                })
                .collect(),
            placeholder: out.placeholder,
        })
    }
}

/// The heif guest's decoders (heifer, rav1d) also check their input with assertions: a panic
/// there is the decoder refusing a file it cannot read. It ends the call the way libjpeg's
/// errors end the thumbnail guest's: a failing exit, which the host reports as
/// `malformed-input` with this message, not as a trap (the sandbox stopping a guest that
/// crashed). Running out of memory does not panic (the allocator aborts), so the memory limit
/// still reads as `guest-memory-limit`.
#[cfg(feature = "heif")]
fn give_up_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("malformed-input: the decoder stopped on the input: {info}");
        std::process::exit(1);
    }));
}

/// The release build: no clock is read.
#[cfg(not(feature = "steps"))]
fn render(
    data: &[u8],
    specs: &[media_thumbnail::VariantSpec],
    limits: &media_probe::Limits,
) -> Result<media_thumbnail::Thumbnails, media_probe::MediaError> {
    media_thumbnail::render(data, specs, limits)
}

/// The benchmark's build (feature `steps`): the same render, timed step by step, with one
/// `steps:` line on stderr when the clock moved. The sandbox freezes guests' clocks; only a
/// host built with its `test-hooks` feature (the benchmark, a test) can give a moving one.
#[cfg(feature = "steps")]
fn render(
    data: &[u8],
    specs: &[media_thumbnail::VariantSpec],
    limits: &media_probe::Limits,
) -> Result<media_thumbnail::Thumbnails, media_probe::MediaError> {
    let (out, steps) = media_thumbnail::render_timed(data, specs, limits)?;
    let total =
        steps.probe + steps.decode + steps.resize + steps.orient + steps.encode + steps.placeholder;
    if !total.is_zero() {
        eprintln!("steps: {steps}");
    }
    Ok(out)
}

fn format_from_wit(f: Format) -> media_thumbnail::Format {
    match f {
        Format::Webp => media_thumbnail::Format::Webp,
        Format::Jpeg => media_thumbnail::Format::Jpeg,
        Format::Png => media_thumbnail::Format::Png,
        Format::Auto => media_thumbnail::Format::Auto,
    }
}

fn format_to_wit(f: media_thumbnail::Format) -> Format {
    match f {
        media_thumbnail::Format::Webp => Format::Webp,
        media_thumbnail::Format::Jpeg => Format::Jpeg,
        media_thumbnail::Format::Png => Format::Png,
        media_thumbnail::Format::Auto => Format::Auto,
    }
}

export!(Component);
