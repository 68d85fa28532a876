//! Thumbnail benchmark: prints two tables, asserts nothing (speed targets are read, not tested).
//!
//! Per input (a 24 MP baseline JPEG photo, the same photo as a progressive JPEG, a 12 MP PNG)
//! and per variant set (the default `thumb` alone, and the default `thumb` + `preview` pair,
//! both read from `attachd::variant::defaults`), on one core, the median of `BENCH_RUNS` runs:
//!   (a) through the sandbox, a fresh guest instance per upload, everything attachd does
//!       (fuel, the checks on the variants, their re-probe and re-scan),
//!   (a0) the same without fuel metering, alternated with (a),
//!   (b) the same guest library (media-thumbnail) compiled natively,
//!   (c) sharp (libvips) looping in one Node process, the field's reference, making the same
//!       variants (same boxes, fit, format and quality; one pipeline per variant),
//! with the guest's peak memory and the fuel the thumbnail call burned; then where the time
//! goes, step by step, inside the sandbox and natively; then the cost of instantiating the
//! thumbnail guest alone.
//!
//! The sandboxed steps come from the guest itself: a second sandbox, built with the
//! `test-hooks` feature benches get, loads the thumbnail guest built with its `steps` feature,
//! gives it a moving monotonic clock and hands back its stderr, where that guest writes one
//! `steps:` line. (a) runs the released guest, which reads no clock, in the production
//! sandbox.
//!
//! Run with `make bench` (generates the inputs, builds the guests, pins to one core).

mod common;

use attachd::config::{GuestPaths, SandboxLimits};
use attachd::sandbox::{Fit, Format, Sandbox, TestHooks, VariantSpec};
use common::{median, native_spec, time};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs per measurement when `BENCH_RUNS` is unset. Each of the 6 rows runs this many times
/// (plus a warm-up) in the sandbox with fuel, without, with the guest's clock, natively and in
/// sharp: with 9, `make bench` takes under 2 minutes on this project's machine once built (7
/// took 89 s, the inputs' generation included), inside the 4 minutes it is allowed.
const DEFAULT_RUNS: usize = 9;
/// The JPEG inputs: 24 MP, as a current phone camera writes, at a camera's quality.
const JPEG_SIZE: (u32, u32) = (6000, 4000);
const JPEG_QUALITY: u8 = 90;
const JPEG_SEED: u64 = 24;
/// The PNG input: 12 MP, a large screenshot or an exported photo.
const PNG_SIZE: (u32, u32) = (4000, 3000);
const PNG_SEED: u64 = 12;
/// Instantiations timed for the instantiation line (each takes microseconds).
const INSTANTIATIONS: usize = 1000;

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Writes a generated input unless it is already there (the photos take seconds to render).
fn generate(path: &Path, make: impl FnOnce() -> Vec<u8>) {
    if !path.exists() {
        eprintln!("generating {}", path.display());
        std::fs::write(path, make()).unwrap();
    }
}

fn inputs(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    std::fs::create_dir_all(dir).expect("bench input dir");
    let jpeg = dir.join("photo-24mp.jpg");
    let progressive = dir.join("photo-24mp-progressive.jpg");
    // One photo for both JPEGs: the two differ only in how the encoder ordered the scans.
    let mut photo = None;
    let mut photo = || {
        photo
            .get_or_insert_with(|| attach_fixtures::photo(JPEG_SIZE.0, JPEG_SIZE.1, JPEG_SEED))
            .clone()
    };
    generate(&jpeg, || attach_fixtures::jpeg(&photo(), JPEG_QUALITY));
    generate(&progressive, || {
        attach_fixtures::jpeg_progressive(&photo(), JPEG_QUALITY)
    });
    let png = dir.join("photo-12mp.png");
    generate(&png, || {
        attach_fixtures::png_rgb(&attach_fixtures::photo(PNG_SIZE.0, PNG_SIZE.1, PNG_SEED))
    });
    vec![
        ("24 MP JPEG", jpeg),
        ("24 MP progressive JPEG", progressive),
        ("12 MP PNG", png),
    ]
}

/// The specs as sharp options: `contain` (inside the box) is sharp's `inside`, `cover` its
/// `cover`; sharp has no `auto` format.
fn sharp_specs(specs: &[VariantSpec]) -> String {
    let specs: Vec<_> = specs
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "width": s.max_width,
                "height": s.max_height,
                "fit": match s.fit {
                    Fit::Contain => "inside",
                    Fit::Cover => "cover",
                },
                "format": match s.format {
                    Format::Webp => "webp",
                    Format::Jpeg => "jpeg",
                    Format::Png => "png",
                    Format::Auto => panic!("variant {:?}: sharp has no `auto` format", s.name),
                },
                "quality": s.quality,
            })
        })
        .collect();
    serde_json::Value::from(specs).to_string()
}

fn sharp(file: &Path, specs: &[VariantSpec], runs: usize) -> Option<Duration> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bench/sharp.mjs");
    let out = Command::new("node")
        .arg(script)
        .arg(file)
        .arg(runs.to_string())
        .arg(sharp_specs(specs))
        .env("UV_THREADPOOL_SIZE", "1")
        .env("VIPS_CONCURRENCY", "1")
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "sharp: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        );
        return None;
    }
    let v: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(Duration::from_secs_f64(v / 1000.0))
}

/// `probe=1.20ms decode=3.40ms …` (media-thumbnail's `Steps` display, which the guest writes
/// after `steps: `) as (step, milliseconds) in order.
fn parse_steps(line: &str) -> Vec<(String, f64)> {
    line.trim()
        .trim_start_matches("steps:")
        .split_whitespace()
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("step {pair:?} in {line:?} is not name=value"));
            let value = value
                .strip_suffix("ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("step {pair:?} in {line:?} is not in ms"));
            (name.to_string(), value)
        })
        .collect()
}

/// The median of each step over runs (each run the same steps in the same order).
fn median_steps(runs: &[Vec<(String, f64)>]) -> Vec<(String, f64)> {
    runs[0]
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            (
                name.clone(),
                median_f64(runs.iter().map(|r| r[i].1).collect()),
            )
        })
        .collect()
}

/// One row of the step table.
struct StepRow {
    input: &'static str,
    variants: String,
    sandbox: Vec<(String, f64)>,
    native: Vec<(String, f64)>,
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RUNS);
    let root = common::root();
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target/bench-inputs"));
    let paths = common::guest_paths();
    let sandbox =
        Sandbox::load(&paths, SandboxLimits::default()).expect("load guests (run `make guests`)");
    // The same guests and limits without fuel metering: what metering costs, side by side.
    let unmetered = Sandbox::load_unmetered_for_benchmarks(&paths, SandboxLimits::default())
        .expect("load guests");
    // The same as (a), but the guests' clock moves and their stderr comes back: the thumbnail
    // guest then writes its steps. Only for the step table; (a) is timed on `sandbox`.
    let said: Arc<Mutex<Vec<String>>> = Arc::default();
    // The thumbnail guest built with its `steps` feature (`make guests` puts it among the test
    // guests, signed with the test key beside the development key): the released one never
    // reads a clock.
    let dev_key = common::dev_key();
    let test_key = PathBuf::from(&dev_key).with_file_name("test.pub");
    let steps_paths = GuestPaths {
        dir: paths.dir.join("test/steps"),
        cache_dir: paths.cache_dir.clone(),
        trust: attachd::release::Trust::parse(&test_key.display().to_string(), false)
            .expect("the test release key reads"),
    };
    let mut clocked = Sandbox::load(&steps_paths, SandboxLimits::default())
        .expect("load the steps guests (run `make guests`)");
    clocked.set_test_hooks(TestHooks {
        real_monotonic_clock: true,
        stderr: Some({
            let said = said.clone();
            Arc::new(move |guest: &'static str, bytes: &[u8]| {
                if guest == "thumbnail" {
                    let text = String::from_utf8_lossy(bytes);
                    let lines = text.lines().filter(|l| l.starts_with("steps:"));
                    said.lock().unwrap().extend(lines.map(str::to_string));
                }
            })
        }),
    });

    let defaults = attachd::variant::defaults();
    let thumb: Vec<VariantSpec> = defaults
        .iter()
        .filter(|s| s.name == "thumb")
        .cloned()
        .collect();
    assert_eq!(thumb.len(), 1, "the default variants have one `thumb`");
    let sets = [thumb, defaults];
    let limits = common::limits();
    let native_limits = media_probe::Limits::default();

    let describe = |s: &VariantSpec| {
        format!(
            "`{}` {}×{} {:?} {:?} q{}",
            s.name, s.max_width, s.max_height, s.fit, s.format, s.quality
        )
    };
    println!(
        "variants (attachd's defaults): {}; median of {runs} runs, one core",
        sets[1].iter().map(describe).collect::<Vec<_>>().join(", ")
    );
    println!();
    println!("| input | variants | (a) sandbox, fresh instance | (a0) same, no fuel metering | fuel cost a/a0 | (b) same library, native | (c) sharp 0.35 | a/b | a/c | guest peak memory | fuel burned |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut step_rows = Vec::new();
    for (name, file) in inputs(&dir) {
        let data = std::fs::read(&file).unwrap();
        let (info, _) = sandbox.probe(&data, limits).unwrap();
        let pixels = attachd::pipeline::source_pixels(&info.unwrap());
        for specs in &sets {
            let variants = specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(" + ");
            let native_specs: Vec<_> = specs.iter().map(native_spec).collect();
            let (mut peak, mut fuel) = (0, 0);
            let mut render = |s: &Sandbox| {
                let (r, stats) = s.thumbnail(&data, specs, limits, pixels).unwrap();
                r.unwrap();
                peak = peak.max(stats.peak_memory);
                // The thumbnail call's own fuel (the re-probe and re-scan are calls of their own).
                fuel = fuel.max(stats.fuel_used);
            };
            // Alternate metered and unmetered halves, so drift on the machine hits both alike.
            let half = runs.div_ceil(2);
            let (mut a, mut a0) = (Vec::new(), Vec::new());
            for _ in 0..2 {
                a.push(time(half, || render(&sandbox)));
                a0.push(time(half, || render(&unmetered)));
            }
            let (a, a0) = (a.into_iter().min().unwrap(), a0.into_iter().min().unwrap());

            // (b), and its steps from the same runs.
            let mut native_steps = Vec::new();
            let b = time(runs, || {
                let (out, steps) =
                    media_thumbnail::render_timed(&data, &native_specs, &native_limits).unwrap();
                native_steps.push(parse_steps(&steps.to_string()));
                out
            });
            native_steps.remove(0); // the warm-up's

            said.lock().unwrap().clear();
            for _ in 0..=runs {
                let (r, _) = clocked.thumbnail(&data, specs, limits, pixels).unwrap();
                r.unwrap();
            }
            let mut guest_steps: Vec<_> = said
                .lock()
                .unwrap()
                .iter()
                .map(|l| parse_steps(l))
                .collect();
            assert_eq!(
                guest_steps.len(),
                runs + 1,
                "the guest writes one steps line per call when its clock moves"
            );
            guest_steps.remove(0); // the warm-up's

            let c = sharp(&file, specs, runs);
            println!(
                "| {name} ({} KB) | {variants} | {} ms | {} ms | {:+.1}% | {} ms | {} | {:.2}× | {} | {:.1} MiB | {:.2e} |",
                data.len() / 1024,
                ms(a),
                ms(a0),
                (a.as_secs_f64() / a0.as_secs_f64() - 1.0) * 100.0,
                ms(b),
                c.map_or("n/a".into(), |c| format!("{} ms", ms(c))),
                a.as_secs_f64() / b.as_secs_f64(),
                c.map_or("n/a".into(), |c| format!(
                    "{:.2}×",
                    a.as_secs_f64() / c.as_secs_f64()
                )),
                peak as f64 / f64::from(1 << 20),
                fuel as f64,
            );
            step_rows.push(StepRow {
                input: name,
                variants,
                sandbox: median_steps(&guest_steps),
                native: median_steps(&native_steps),
            });
        }
    }

    println!();
    println!("where the time goes: each step's median over the same {runs} runs, in ms (the sandbox's from the guest's own clock, which only this benchmark lets move)");
    println!();
    let steps: Vec<&str> = step_rows[0]
        .native
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    println!(
        "| input | variants | where | {} | sum of steps |",
        steps.join(" | ")
    );
    println!("|---|---|---|{}---:|", "---:|".repeat(steps.len()));
    for row in &step_rows {
        for (place, values) in [("sandbox", &row.sandbox), ("native", &row.native)] {
            let cells: Vec<String> = values.iter().map(|(_, v)| format!("{v:.1}")).collect();
            let sum: f64 = values.iter().map(|(_, v)| v).sum();
            println!(
                "| {} | {} | {place} | {} | {sum:.1} |",
                row.input,
                row.variants,
                cells.join(" | ")
            );
        }
    }

    let inst = median(
        (0..INSTANTIATIONS)
            .map(|_| sandbox.instantiate_thumbnail_only().unwrap())
            .collect(),
    );
    println!();
    println!("instantiation of the thumbnail guest (pooling allocator, InstancePre), median of {INSTANTIATIONS}: {:.1} µs", inst.as_secs_f64() * 1e6);
}
