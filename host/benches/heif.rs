//! HEIC and AVIF benchmark: prints one table, asserts nothing.
//!
//! Inputs: one 12 MP photo-like picture (4032×3024, as a phone writes), as a HEIC (heifer's
//! encoder, 512-pixel grid tiles as an iPhone writes them) and as an AVIF (Debian's avifenc,
//! libaom), both generated into `target/bench-inputs` on first use. On one core (`make
//! bench-heif` pins it), the median of `BENCH_RUNS` runs of:
//!   (a) the heif guest in the sandbox, a fresh instance per upload, rendering attachd's
//!       default pair (`thumb` + `preview`) with everything attachd does (fuel, the checks on
//!       the variants, their re-probe and re-scan), its peak guest memory and fuel;
//!   (b) the same library natively: the whole render, and its decode step alone;
//!   (c) Pillow: pillow-heif (libheif with libde265) for HEIC, Pillow's own AVIF plugin
//!       (libavif with dav1d) for AVIF: the decode alone, and the decode plus the same pair;
//!   (d) sharp (libvips): the decode alone, and the same pair (sharp's prebuilt libvips has no
//!       HEVC decoder: HEIC is n/a).
//!
//! Run with `make bench-heif`.

mod common;

use attachd::config::SandboxLimits;
use attachd::sandbox::Sandbox;
use common::{median, native_spec, time};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Runs per measurement when `BENCH_RUNS` is unset: a 12 MP decode takes about a second in
/// the slowest column, so 5 runs keep `make bench-heif` within a few minutes.
const DEFAULT_RUNS: usize = 5;
/// A 12 MP phone photo's size (4:3).
const SIZE: (u32, u32) = (4032, 3024);
const SEED: u64 = 12;
/// heifer's quality for the HEIC (its default); avifenc's quantizer range for the AVIF: a
/// photo at a quality a phone or a web export writes.
const HEIC_QUALITY: u8 = 80;
const AVIF_QUANTIZERS: [&str; 4] = ["--min", "18", "--max", "30"];

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn inputs(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    std::fs::create_dir_all(dir).expect("bench input dir");
    let png = dir.join("photo-12mp-phone.png");
    let heic = dir.join("photo-12mp.heic");
    let avif = dir.join("photo-12mp.avif");
    let mut photo = None;
    let mut photo = || {
        photo
            .get_or_insert_with(|| attach_fixtures::photo(SIZE.0, SIZE.1, SEED))
            .clone()
    };
    if !heic.exists() {
        eprintln!("generating {}", heic.display());
        std::fs::write(&heic, attach_fixtures::heic(&photo(), HEIC_QUALITY)).unwrap();
    }
    if !avif.exists() {
        eprintln!("generating {}", avif.display());
        std::fs::write(&png, attach_fixtures::png_rgb(&photo())).unwrap();
        let out = Command::new("avifenc")
            .args(AVIF_QUANTIZERS)
            .arg(&png)
            .arg(&avif)
            .output()
            .expect("avifenc runs (scripts/setup.sh installs libavif-bin)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    vec![("12 MP HEIC", heic), ("12 MP AVIF", avif)]
}

/// Runs `program args…` and reads the milliseconds it prints (space-separated), or `None`
/// (with its first error line on stderr) when it fails: a peer that cannot read the format.
fn peer(what: &str, program: &Path, args: &[&str]) -> Option<Vec<Duration>> {
    let out = Command::new(program)
        .args(args)
        .env("UV_THREADPOOL_SIZE", "1")
        .env("VIPS_CONCURRENCY", "1")
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        eprintln!("{what}: {line}");
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .map(|v| Duration::from_secs_f64(v / 1000.0))
        })
        .collect()
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RUNS);
    let root = common::root();
    let dir = root.join("target/bench-inputs");
    let paths = common::guest_paths();
    let sandbox =
        Sandbox::load(&paths, SandboxLimits::default()).expect("load guests (run `make guests`)");
    let specs = attachd::variant::defaults();
    let native_specs: Vec<_> = specs.iter().map(native_spec).collect();
    let limits = common::limits();
    let native_limits = media_probe::Limits::default();
    let python = root.join("target/venv-bench/bin/python");
    let pillow = root.join("tests/bench/pillow_decode.py");
    let sharp = root.join("tests/bench/sharp.mjs");
    let sharp_specs = r#"[{"name":"thumb","width":256,"height":256,"fit":"inside","format":"webp","quality":80},{"name":"preview","width":1280,"height":1280,"fit":"inside","format":"jpeg","quality":85}]"#;

    println!("the default pair (thumb 256 px WebP q80 + preview 1280 px JPEG q85); median of {runs} runs, one core");
    println!();
    println!("| input | (a) sandbox, pair | guest peak memory | fuel burned | (b) native, pair | (b) native, decode | (c) Pillow, decode | (c) Pillow, pair | (d) sharp, decode | (d) sharp, pair | a/b | a/c pair | a/d pair |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, file) in inputs(&dir) {
        let data = std::fs::read(&file).unwrap();
        let (info, _) = sandbox.probe(&data, limits).unwrap();
        let pixels = attachd::pipeline::source_pixels(&info.unwrap());
        let (mut peak, mut fuel) = (0, 0);
        let a = time(runs, || {
            let (r, stats) = sandbox.heif(&data, &specs, limits, pixels).unwrap();
            r.unwrap();
            peak = peak.max(stats.peak_memory);
            fuel = fuel.max(stats.fuel_used);
        });
        let mut decodes = Vec::new();
        let b = time(runs, || {
            let (out, steps) =
                media_thumbnail::render_timed(&data, &native_specs, &native_limits).unwrap();
            decodes.push(steps.decode);
            out
        });
        decodes.remove(0);
        let b_decode = median(decodes);
        let file_arg = file.display().to_string();
        let runs_arg = runs.to_string();
        let c = peer(
            "Pillow",
            &python,
            &[&pillow.display().to_string(), &file_arg, &runs_arg],
        );
        let script = sharp.display().to_string();
        let d_decode = peer(
            "sharp",
            Path::new("node"),
            &[&script, &file_arg, &runs_arg, "decode"],
        );
        let d_pair = peer(
            "sharp",
            Path::new("node"),
            &[&script, &file_arg, &runs_arg, sharp_specs],
        );
        let cell = |d: Option<Duration>| d.map_or("n/a".into(), ms);
        let ratio = |d: Option<Duration>| {
            d.map_or("n/a".into(), |d| {
                format!("{:.2}×", a.as_secs_f64() / d.as_secs_f64())
            })
        };
        let c_decode = c.as_ref().and_then(|c| c.first().copied());
        let c_pair = c.as_ref().and_then(|c| c.get(1).copied());
        let d_decode = d_decode.and_then(|d| d.first().copied());
        let d_pair = d_pair.and_then(|d| d.first().copied());
        println!(
            "| {name} ({} KB) | {} | {:.1} MiB | {:.2e} | {} | {} | {} | {} | {} | {} | {:.2}× | {} | {} |",
            data.len() / 1024,
            ms(a),
            peak as f64 / f64::from(1 << 20),
            fuel as f64,
            ms(b),
            ms(b_decode),
            cell(c_decode),
            cell(c_pair),
            cell(d_decode),
            cell(d_pair),
            a.as_secs_f64() / b.as_secs_f64(),
            ratio(c_pair),
            ratio(d_pair),
        );
    }
}
