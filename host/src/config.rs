//! Limits and defaults for the sandboxed media pipeline. Every limit is a named constant with
//! the reason for its value; each is a setting (see [`crate::settings`]), so operators tune
//! attachd without rebuilding it.

use std::path::PathBuf;
use std::time::Duration;

/// 64 MiB: far above any photo a phone or a DSLR writes as JPEG (typically 3-15 MB) and the
/// largest image upload common web apps accept; anything larger is rejected unread.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// See [`media_probe::Limits`]: 50 MP keeps a full RGBA decode under 200 MB.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;
/// Animations with more frames than this are refused at the probe.
pub const DEFAULT_MAX_FRAMES: u32 = 1_000;
/// The sum of all frames' areas: four full 50 MP frames' worth.
pub const DEFAULT_MAX_TOTAL_FRAME_AREA: u64 = 200_000_000;
/// 32 MiB for all variants of one upload together: thumbnails and previews are far smaller.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 32 * 1024 * 1024;

/// 1 GiB of linear memory per guest call: a 50 MP image decoded to RGBA is 200 MB, resizing
/// needs a second buffer, and the input itself is copied into the guest. Measured peaks for a
/// 24 MP JPEG thumbnail are far lower thanks to shrink-on-load.
pub const DEFAULT_GUEST_MEMORY_BYTES: u64 = 1024 * 1024 * 1024;
/// 30 s per guest call, wall clock: the backstop behind fuel, not the CPU limit. Fuel stops a
/// guest that computes too long, deterministically; the deadline catches what fuel cannot
/// price (an instruction that misses the cache costs a hundred that hit it) and a machine so
/// loaded that a legitimate call crawls. The largest fuel budget (see
/// [`DEFAULT_FUEL_MAX_PER_CALL`]) burns in 7 to 13 s here and a 24 MP photo renders in about
/// 0.1 s. Whether a hit is the input's fault or the machine's is told by the call's own CPU
/// time (see `sandbox::CPU_SHARE_FOR_PERMANENT`).
pub const DEFAULT_GUEST_DEADLINE: Duration = Duration::from_secs(30);
/// 1 MiB of native stack for wasm frames: the guests do not recurse deeply, and a hard cap
/// turns runaway recursion into a clean `guest-stack-overflow` trap well before the host
/// thread's own stack (2 MiB for tokio's blocking threads) is at risk.
pub const DEFAULT_GUEST_STACK_BYTES: usize = 1024 * 1024;
/// Concurrent guest instances the pooling allocator reserves slots for: enough for the
/// worker's concurrency (default 3) times the three guests of a job, with headroom for the
/// CLI's parallel `process`.
pub const DEFAULT_POOL_INSTANCES: u32 = 32;

/// Fuel (wasmtime counts about one unit per guest instruction) every guest call gets before
/// any allowance for its input: instantiation, start-up, the fixed work of the smallest
/// inputs. Measured (`make bench-fuel`): the largest fixed cost is the thumbnail guest's, about
/// 1 M before any pixel; 50 M leaves room for every tiny input.
pub const DEFAULT_FUEL_BASE: u64 = 50_000_000;
/// Fuel per input byte, for every guest: probe and scan walk the bytes (markers, chunks,
/// archive directories, SVG and PDF text). Measured on inputs of 10 KB and more: scan at most
/// 59 per byte (a JPEG photo), probe 14; 200 is over 3× that.
pub const DEFAULT_FUEL_PER_BYTE: u64 = 200;
/// Fuel per source pixel for the thumbnail guest: decoding and reading every pixel to resize.
/// Measured: at most ~640 per pixel (a 12 MP lossy WebP, decoded in full), PNG ~370, JPEG far
/// less thanks to shrink-on-load; 2000 is 3× the worst.
pub const DEFAULT_FUEL_PER_PIXEL: u64 = 2_000;
/// Fuel per source pixel for the heif guest, in place of [`DEFAULT_FUEL_PER_PIXEL`]: HEVC and
/// AV1 have no shrink-on-load, so every pixel is decoded, then rotated and colour-converted,
/// and their entropy decoding costs by the bit, which the pixel count does not bound.
/// Measured (`make bench-fuel`, `make bench-heif`): 12 MP photos burn about 1,000 per pixel
/// at 1.5 MB (HEIC) and 0.2 MB (AVIF), and 1,700 to 2,100 per pixel at 4 to 10 MB, where
/// each extra byte costs about 1,400. 20,000 covers a picture of up to 4 bytes a pixel (a
/// lossless 10-bit 4:4:4 file) with 3× headroom; the per-call cap bounds the rest.
pub const DEFAULT_FUEL_PER_HEIF_PIXEL: u64 = 20_000;
/// Fuel per output pixel of the thumbnail guest (resample and encode): lossy WebP encoding
/// costs about 4200 per pixel, JPEG about 570; 12,000 is nearly 3× the dearest format.
pub const DEFAULT_FUEL_PER_OUTPUT_PIXEL: u64 = 12_000;
/// No call gets more fuel than this, whatever its input claims: 7 to 13 s of guest work at
/// the rate measured here (10 to 19 × 10⁹ per second, metered: `make bench`'s fuel column
/// over its time), under half the wall-clock backstop, so that fuel, not the clock, ends any call on a machine at least half as fast as
/// this one. The dearest legitimate input measured (a 12 MP lossy WebP, 8.5 × 10⁹) scales to
/// about 3.5 × 10¹⁰ at the 50 MP limit: well inside.
pub const DEFAULT_FUEL_MAX_PER_CALL: u64 = 130_000_000_000;

/// How much CPU a guest call may burn, in fuel: deterministic, so the same bytes pass or fail
/// alike on an idle and on a saturated worker. A call gets
///
/// `base + per_byte × input bytes + per_pixel × source pixels + per_output_pixel × output pixels`
///
/// capped at `max_per_call`, where the source pixels are the `width × height` the probe read
/// (the thumbnail guest decodes one frame), or the frames' total area where larger (see
/// [`crate::pipeline::source_pixels`]), and the output pixels
/// `Σ min(source pixels, box width × box height)` over the requested variants (nothing is
/// upscaled). Probe and scan decode no pixels: they get `base + per_byte × bytes`. With the
/// defaults, the largest accepted image (50 MP, 64 MiB, the two default variants) reaches the
/// cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuelBudget {
    pub base: u64,
    pub per_byte: u64,
    pub per_pixel: u64,
    /// `per_pixel` for the heif guest.
    pub heif_per_pixel: u64,
    pub per_output_pixel: u64,
    pub max_per_call: u64,
}

impl Default for FuelBudget {
    fn default() -> Self {
        FuelBudget {
            base: DEFAULT_FUEL_BASE,
            per_byte: DEFAULT_FUEL_PER_BYTE,
            per_pixel: DEFAULT_FUEL_PER_PIXEL,
            heif_per_pixel: DEFAULT_FUEL_PER_HEIF_PIXEL,
            per_output_pixel: DEFAULT_FUEL_PER_OUTPUT_PIXEL,
            max_per_call: DEFAULT_FUEL_MAX_PER_CALL,
        }
    }
}

impl FuelBudget {
    /// The fuel for one call on `input_bytes` bytes that decodes `source_pixels` and writes
    /// `output_pixels` (both 0 for probe and scan). Saturates instead of overflowing.
    pub fn for_call(&self, input_bytes: u64, source_pixels: u64, output_pixels: u64) -> u64 {
        self.at_per_pixel(self.per_pixel, input_bytes, source_pixels, output_pixels)
    }

    /// [`FuelBudget::for_call`] with `per_pixel` fuel per source pixel in place of the
    /// thumbnail guest's (the heif guest's is `heif_per_pixel`).
    pub fn at_per_pixel(
        &self,
        per_pixel: u64,
        input_bytes: u64,
        source_pixels: u64,
        output_pixels: u64,
    ) -> u64 {
        self.base
            .saturating_add(self.per_byte.saturating_mul(input_bytes))
            .saturating_add(per_pixel.saturating_mul(source_pixels))
            .saturating_add(self.per_output_pixel.saturating_mul(output_pixels))
            .min(self.max_per_call)
    }
}

/// Input limits: checked against the probe's reading of the headers before any decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    pub max_input_bytes: u64,
    pub max_pixels: u64,
    pub max_frames: u32,
    pub max_total_frame_area: u64,
    pub max_output_bytes: u64,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_frames: DEFAULT_MAX_FRAMES,
            max_total_frame_area: DEFAULT_MAX_TOTAL_FRAME_AREA,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// Per-call sandbox limits, enforced by wasmtime on every guest instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    pub memory_bytes: u64,
    pub deadline: Duration,
    pub stack_bytes: usize,
    pub pool_instances: u32,
    pub fuel: FuelBudget,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: DEFAULT_GUEST_MEMORY_BYTES,
            deadline: DEFAULT_GUEST_DEADLINE,
            stack_bytes: DEFAULT_GUEST_STACK_BYTES,
            pool_instances: DEFAULT_POOL_INSTANCES,
            fuel: FuelBudget::default(),
        }
    }
}

/// Where guests are loaded from, whose signatures they must carry, and where their compiled
/// form is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPaths {
    pub dir: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub trust: crate::release::Trust,
}

impl GuestPaths {
    /// The guest directory: `ATTACH_GUEST_DIR` if set (handled by the CLI), else `guests/`
    /// beside the executable (an installed layout), else the workspace's `target/guests`
    /// that `make guests` fills (a development checkout).
    pub fn default_dir() -> PathBuf {
        if let Some(beside) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|p| p.join("guests")))
            .filter(|p| p.join("probe.json").is_file() || p.join("current").is_dir())
        {
            return beside;
        }
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/guests"))
    }

    /// Compiled components are cached under `$XDG_CACHE_HOME/attachd` (or
    /// `~/.cache/attachd`), so a restart does not pay Cranelift again.
    pub fn default_cache_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("attachd"))
    }
}

/// The data directory of the embedded default: the SQLite database and the local object
/// store live under it.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Where uploads live in the store; the orphan sweep looks only under it.
pub const DEFAULT_UPLOAD_PREFIX: &str = "uploads/";

/// Parses a duration written as a number and a unit: `500ms`, `30s`, `15m`, `2h`, `1d` (a
/// bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 30s, 15m, 2h or 1d"))?;
    let unit_ms = match unit.trim() {
        "" => 1_000,
        unit => UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, ms)| *ms)
            .ok_or_else(|| format!("{s:?}: unknown unit {unit:?} (ms, s, m, h, d)"))?,
    };
    n.checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// Duration units, largest first, in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// The shortest spelling of `d` (in whole milliseconds) that [`parse_duration`] reads back:
/// how the settings print their defaults.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    match UNITS
        .iter()
        .find(|(_, size)| ms > 0 && ms.is_multiple_of(*size))
    {
        Some((unit, size)) => format!("{}{unit}", ms / size),
        None => "0s".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_every_unit_and_refuse_garbage() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "h", "2x", "-1s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_formatted_duration_reads_back_the_same() {
        for ms in [
            0, 1, 500, 1_000, 30_000, 60_000, 90_000, 300_000, 7_200_000, 86_400_000,
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms} ms");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn no_input_gets_more_fuel_than_the_per_call_cap() {
        let f = FuelBudget::default();
        // What a probe lying about a 50 MP canvas (the most the pixel limit lets through) on
        // a 64 MiB input could ask for, and far beyond.
        let claim = f.for_call(
            DEFAULT_MAX_INPUT_BYTES,
            DEFAULT_MAX_PIXELS,
            2 * DEFAULT_MAX_PIXELS,
        );
        assert_eq!(claim, DEFAULT_FUEL_MAX_PER_CALL);
        assert_eq!(
            f.for_call(u64::MAX, u64::MAX, u64::MAX),
            DEFAULT_FUEL_MAX_PER_CALL
        );
        // A small image is far under it: the formula, not the cap, sets its budget.
        assert_eq!(
            f.for_call(1000, 100, 100),
            50_000_000 + 200_000 + 200_000 + 1_200_000
        );
    }
}
