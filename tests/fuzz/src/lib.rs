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
    /// Runs the real guest components, so it needs `make guests`.
    pub needs_guests: bool,
}

/// Image and container inputs: the seeds are at most a few KiB, and 64 KiB leaves room for
/// the hostile ones (a PNG inflating to 16 MP fits in 64 KiB).
const MEDIA_MAX_LEN: usize = 64 * 1024;
/// Text a host parser reads: a manifest is capped at 64 KiB, a clamd reply at 4 KiB, a job
/// payload is a few hundred bytes; 16 KiB covers every real one with room for mutations.
const TEXT_MAX_LEN: usize = 16 * 1024;
/// The guest's linear memory limit (`DEFAULT_GUEST_MEMORY_BYTES`, 1 GiB): natively the same
/// code must fit in it too, plus the fuzzer's own few hundred MiB (ASan's shadow and
/// quarantine, the corpus).
const NATIVE_RSS_MB: u32 = 1024 + 512;
/// The sandbox targets hold the guest's memory and the native library's at once.
const SANDBOX_RSS_MB: u32 = 2 * 1024 + 512;

pub const TARGETS: &[Target] = &[
    Target {
        name: "probe",
        run: media::probe,
        max_len: MEDIA_MAX_LEN,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "media.dict",
        needs_guests: false,
    },
    Target {
        name: "scan",
        run: media::scan,
        max_len: MEDIA_MAX_LEN,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "scan.dict",
        needs_guests: false,
    },
    Target {
        name: "thumbnail",
        run: media::thumbnail,
        max_len: MEDIA_MAX_LEN,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "media.dict",
        needs_guests: false,
    },
    Target {
        name: "thumbhash",
        run: media::thumbhash,
        // Two size bytes and up to 100×100 RGBA pixels.
        max_len: 2 + 100 * 100 * 4,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "none.dict",
        needs_guests: false,
    },
    Target {
        name: "payload",
        run: host::payload,
        max_len: TEXT_MAX_LEN,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "payload.dict",
        needs_guests: false,
    },
    Target {
        name: "storage_key",
        run: host::storage_key,
        max_len: 2 * 1024,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "storage_key.dict",
        needs_guests: false,
    },
    Target {
        name: "clamd_reply",
        run: host::clamd_reply,
        max_len: 8 * 1024,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "clamd_reply.dict",
        needs_guests: false,
    },
    Target {
        name: "ffprobe",
        run: host::ffprobe,
        max_len: TEXT_MAX_LEN,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "ffprobe.dict",
        needs_guests: false,
    },
    Target {
        name: "manifest",
        run: host::manifest,
        max_len: TEXT_MAX_LEN,
        timeout_secs: 1,
        rss_limit_mb: NATIVE_RSS_MB,
        dict: "manifest.dict",
        needs_guests: false,
    },
    Target {
        name: "sandbox",
        run: sandbox::pipeline,
        max_len: MEDIA_MAX_LEN,
        // Each input runs the pipeline twice (the determinism check): one second each.
        timeout_secs: 2,
        rss_limit_mb: SANDBOX_RSS_MB,
        dict: "media.dict",
        needs_guests: true,
    },
    Target {
        name: "differential",
        run: sandbox::differential,
        max_len: MEDIA_MAX_LEN,
        // The native library and the guests, one second each.
        timeout_secs: 2,
        rss_limit_mb: SANDBOX_RSS_MB,
        dict: "media.dict",
        needs_guests: true,
    },
];

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
