//! Malformed uploads through the real guests: seeded mutations ([`fx::mutate`]: byte flips,
//! truncations, splices, inserted runs) of every supported format go through probe → scan →
//! thumbnail in the sandbox. Each must end `ready`, or with a known permanent code; a guest trap (a decoder
//! panic) or a host panic is a bug. Deterministic: the same seed gives the same inputs.
//! `ATTACH_FUZZ_ROUNDS` (default 40 per sample) and `ATTACH_FUZZ_SEED` run it longer.

mod common;

use attach_fixtures as fx;
use attachd::error::{Class, ErrorCode};

#[test]
fn mutated_uploads_never_trap_a_guest_or_panic_the_host() {
    let rounds: usize = std::env::var("ATTACH_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("ATTACH_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_a77a);
    let photo = fx::photo(96, 64, 3);
    let samples: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "jpeg",
            fx::with_exif_orientation(&fx::jpeg(&photo, 80), 6),
            "image/jpeg",
        ),
        (
            "progressive jpeg",
            fx::jpeg_progressive(&photo, 80),
            "image/jpeg",
        ),
        (
            "png",
            fx::png_with_text_and_exif(&fx::png_rgb(&photo)),
            "image/png",
        ),
        ("png palette", fx::png_palette(&photo), "image/png"),
        (
            "gif",
            fx::gif_animated(&[photo.clone(), fx::photo(96, 64, 4)]),
            "image/gif",
        ),
        ("webp lossy", fx::webp_lossy(&photo, 70), "image/webp"),
        ("webp lossless", fx::webp_lossless(&photo), "image/webp"),
        ("heic", fx::heic_with_metadata(&photo), "image/heic"),
        (
            "heic grid rotated",
            fx::heic_transformed(
                &fx::photo(200, 120, 5),
                1,
                Some(fx::Mirror::LeftRight),
                true,
            ),
            "image/heic",
        ),
        (
            "avif",
            common::avifenc(&fx::png_rgba(&fx::alpha_vignette(&photo)), &[]),
            "image/avif",
        ),
    ];
    let pipeline = common::pipeline();
    let specs = attachd::variant::defaults();
    let mut rng = fx::Rng::new(seed);
    let (mut ready, mut refused) = (0, 0);
    for (name, data, mime) in &samples {
        for round in 0..rounds {
            let input = fx::mutate(&mut rng, data);
            let outcome = pipeline.run(&input, mime, &specs);
            match &outcome.result {
                Ok(_) => ready += 1,
                Err(e) => {
                    refused += 1;
                    assert_eq!(e.class(), Class::Permanent, "{name} round {round}: {e}");
                    assert!(
                        !e.code().starts_with("guest-"),
                        "{name} round {round} (seed {seed}): the sandbox had to stop a guest: {e}"
                    );
                }
            }
        }
    }
    eprintln!(
        "{} mutated uploads: {ready} ready, {refused} refused with a code",
        ready + refused
    );
}
