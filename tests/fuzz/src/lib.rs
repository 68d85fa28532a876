//! The fuzz targets of attachd: one function per parser that sees untrusted bytes, each
//! checking the invariants its callers rely on and panicking when one breaks.
//!
//! The same functions run in two places:
//! - under libFuzzer (`fuzz/`, a pinned nightly, `make fuzz`), coverage-guided, for as long
//!   as someone lets them;
//! - on stable in `make test` (`tests/replay.rs`), which replays every seed, every corpus
//!   input and every regression input through them, so a bug the fuzzer found stays fixed.
//!
//! A target never decides that an input is "bad" and skips it: every input gets a result or a
//! classified error, and the invariants hold for both.

pub mod host;
pub mod media;
pub mod sandbox;
pub mod seeds;

use std::path::PathBuf;

/// One fuzz target: its name (the libFuzzer binary in `fuzz/fuzz_targets/` and its corpus
/// directory), its body, and how `make fuzz` runs it.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    /// Longest input libFuzzer makes (`-max_len`): big enough for every seed of the target,
    /// small enough that one execution stays in the milliseconds.
    pub max_len: usize,
    /// libFuzzer's per-input time limit, in seconds (`-timeout`): a slower input is a hang.
    pub timeout_secs: u32,
    /// libFuzzer's RSS limit (`-rss_limit_mb`).
    pub rss_limit_mb: u32,
    /// The dictionary in `fuzz/dicts/`: the format's markers and chunk names.
    pub dict: &'static str,
}

/// Image and container inputs: room for every seed whole (the largest, the PNG bomb, is
/// 100 KiB), while libFuzzer's length control starts small and grows only where longer
/// inputs find new code.
const MEDIA_MAX_LEN: usize = 128 * 1024;
/// Text a host parser reads: a manifest is capped at 64 KiB, a clamd reply at 4 KiB, a job
/// payload is a few hundred bytes; 16 KiB covers every real one with room for mutations.
const TEXT_MAX_LEN: usize = 16 * 1024;
/// The guest's linear memory limit (`DEFAULT_GUEST_MEMORY_BYTES`, 1 GiB) in MiB: natively, no
/// single allocation may be larger (`-malloc_limit_mb`).
pub const GUEST_MEMORY_MB: u32 = (attachd::config::DEFAULT_GUEST_MEMORY_BYTES >> 20) as u32;
/// Natively the same code must fit in the guest's memory too, plus the fuzzer's own few
/// hundred MiB (ASan's shadow and quarantine, the corpus).
const NATIVE_RSS_MB: u32 = GUEST_MEMORY_MB + 512;
/// The sandbox targets hold the guest's memory and the native library's at once.
const SANDBOX_RSS_MB: u32 = 2 * GUEST_MEMORY_MB + 512;

pub const TARGETS: &[Target] = &[
    native("probe", media::probe, MEDIA_MAX_LEN, "media.dict"),
    native("scan", media::scan, MEDIA_MAX_LEN, "scan.dict"),
    native("thumbnail", media::thumbnail, MEDIA_MAX_LEN, "media.dict"),
    // Two size bytes and up to 100×100 RGBA pixels; raw pixels have no markers.
    native(
        "thumbhash",
        media::thumbhash,
        2 + 100 * 100 * 4,
        "none.dict",
    ),
    native("payload", host::payload, TEXT_MAX_LEN, "payload.dict"),
    native(
        "storage_key",
        host::storage_key,
        2 * 1024,
        "storage_key.dict",
    ),
    native(
        "clamd_reply",
        host::clamd_reply,
        8 * 1024,
        "clamd_reply.dict",
    ),
    native("ffprobe", host::ffprobe, TEXT_MAX_LEN, "ffprobe.dict"),
    native("manifest", host::manifest, TEXT_MAX_LEN, "manifest.dict"),
    through_sandbox("sandbox", sandbox::pipeline),
    through_sandbox("differential", sandbox::differential),
];

/// The per-input time limit of the instrumented build, in seconds. The bar is 1 s in the build
/// users run; AddressSanitizer, coverage counters and debug assertions make the fuzz build 10
/// to 15 times slower (an 89-byte GIF with a 15 MP canvas: 3.0 s here, 0.2 s for a whole
/// `attachd process` of it, guests included), so 5 s here is stricter than 1 s there.
const NATIVE_TIMEOUT_SECS: u32 = 5;

/// A target that runs native code only: [`NATIVE_TIMEOUT_SECS`] per input, the native memory
/// bound.
const fn native(name: &'static str, run: fn(&[u8]), max_len: usize, dict: &'static str) -> Target {
    Target {
        name,
        run,
        max_len,
        timeout_secs: NATIVE_TIMEOUT_SECS,
        rss_limit_mb: NATIVE_RSS_MB,
        dict,
    }
}

/// A target that runs image inputs through the guests as well as natively: the instrumented
/// libraries once and the guests twice per input (the pipeline twice, or the guests beside
/// the libraries), and room for the guest's memory beside the native one.
const fn through_sandbox(name: &'static str, run: fn(&[u8])) -> Target {
    Target {
        name,
        run,
        max_len: MEDIA_MAX_LEN,
        timeout_secs: 2 * NATIVE_TIMEOUT_SECS,
        rss_limit_mb: SANDBOX_RSS_MB,
        dict: "media.dict",
    }
}

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The repository's root (this crate lives in `tests/fuzz`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Where libFuzzer keeps `target`'s minimised corpus, committed so runs build on each other.
pub fn corpus_dir(target: &str) -> PathBuf {
    repo_root().join("fuzz/corpus").join(target)
}

/// Inputs that once broke `target`, each fixed: replayed by `make test` forever.
pub fn regressions_dir(target: &str) -> PathBuf {
    repo_root().join("fuzz/regressions").join(target)
}
