//! What the benchmarks share: where the guests are and whom to trust, the variant specs in the
//! native library's types, and the limits every benchmark renders under.

#![allow(dead_code)] // Each benchmark uses its own part.

use attachd::config::GuestPaths;
use attachd::sandbox::{Fit, Format, Limits, VariantSpec};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The workspace root (cargo runs benchmarks from the package directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The guest directory (`ATTACH_GUEST_DIR`, relative to the workspace root, else
/// `target/guests`), its compile cache, and the development key `make guests` signs with
/// (`ATTACH_GUEST_TRUSTED_KEYS` overrides it).
pub fn guest_paths() -> GuestPaths {
    let dir = root().join(
        std::env::var_os("ATTACH_GUEST_DIR")
            .map(PathBuf::from)
            .unwrap_or("target/guests".into()),
    );
    GuestPaths {
        dir,
        cache_dir: GuestPaths::default_cache_dir(),
        trust: attachd::release::Trust::parse(&dev_key(), false)
            .expect("the trusted release keys read"),
    }
}

/// `ATTACH_GUEST_TRUSTED_KEYS`, else the development key `make guests` made.
pub fn dev_key() -> String {
    std::env::var("ATTACH_GUEST_TRUSTED_KEYS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/guest-keys/dev.pub").into()
    })
}

/// The limits the benchmarks render under: attachd's defaults.
pub fn limits() -> Limits {
    Limits {
        max_pixels: 50_000_000,
        max_frames: 1000,
        max_total_frame_area: 200_000_000,
        max_output_bytes: 32 << 20,
    }
}

/// A host variant spec as the native library takes it.
pub fn native_spec(s: &VariantSpec) -> media_thumbnail::VariantSpec {
    media_thumbnail::VariantSpec {
        name: s.name.clone(),
        max_width: s.max_width,
        max_height: s.max_height,
        fit: match s.fit {
            Fit::Contain => media_thumbnail::Fit::Contain,
            Fit::Cover => media_thumbnail::Fit::Cover,
        },
        format: match s.format {
            Format::Webp => media_thumbnail::Format::Webp,
            Format::Jpeg => media_thumbnail::Format::Jpeg,
            Format::Png => media_thumbnail::Format::Png,
            Format::Auto => media_thumbnail::Format::Auto,
        },
        quality: s.quality,
    }
}

/// The middle value of `v` (the upper one of an even count).
pub fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

/// The median time of `runs` calls of `f`, after one warm-up call (page-ins, the pool's first
/// slot, caches).
pub fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    f();
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}
