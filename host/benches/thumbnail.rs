//! Thumbnail benchmark: prints a table, asserts nothing (speed targets are read, not tested).
//!
//! Per image, on one core, the median of `BENCH_RUNS` runs of the `thumb` variant (256 px box,
//! WebP q80) from a 24 MP JPEG and a 12 MP PNG:
//!   (a) through the sandbox, a fresh guest instance per image,
//!   (b) the same guest library (media-thumbnail) compiled natively,
//!   (c) sharp (libvips) looping in one Node process, the field's reference,
//! plus the cost of instantiating the thumbnail guest alone.
//!
//! Run with `make bench` (generates the inputs, builds the guests, pins to one core).

use attachd::config::{GuestPaths, SandboxLimits};
use attachd::sandbox::{Fit, Format, Limits, Sandbox, VariantSpec};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    f(); // warm-up: page-ins, the pool's first slot, caches
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

fn inputs(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    std::fs::create_dir_all(dir).expect("bench input dir");
    let jpeg = dir.join("photo-24mp.jpg");
    if !jpeg.exists() {
        eprintln!("generating {}", jpeg.display());
        std::fs::write(
            &jpeg,
            attach_fixtures::jpeg(&attach_fixtures::photo(6000, 4000, 24), 90),
        )
        .unwrap();
    }
    let png = dir.join("photo-12mp.png");
    if !png.exists() {
        eprintln!("generating {}", png.display());
        std::fs::write(
            &png,
            attach_fixtures::png_rgb(&attach_fixtures::photo(4000, 3000, 12)),
        )
        .unwrap();
    }
    vec![("24 MP JPEG", jpeg), ("12 MP PNG", png)]
}

fn sharp(file: &Path, runs: usize) -> Option<Duration> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bench/sharp.mjs");
    let out = Command::new("node")
        .arg(script)
        .arg(file)
        .arg(runs.to_string())
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

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target/bench-inputs"));
    // cargo runs benches from the package directory; a relative guest dir means the workspace's.
    let guests = root.join(
        std::env::var_os("ATTACH_GUEST_DIR")
            .map(PathBuf::from)
            .unwrap_or("target/guests".into()),
    );
    let paths = GuestPaths {
        dir: guests,
        cache_dir: GuestPaths::default_cache_dir(),
        trust: attachd::release::Trust::parse(
            &std::env::var("ATTACH_GUEST_TRUSTED_KEYS").unwrap_or_else(|_| {
                concat!(env!("CARGO_MANIFEST_DIR"), "/../target/guest-keys/dev.pub").into()
            }),
            false,
        )
        .expect("the trusted release keys read"),
    };
    let sandbox =
        Sandbox::load(&paths, SandboxLimits::default()).expect("load guests (run `make guests`)");
    // The same guests and limits without fuel metering: what metering costs, side by side.
    let unmetered = Sandbox::load_unmetered_for_benchmarks(&paths, SandboxLimits::default())
        .expect("load guests");

    let spec = VariantSpec {
        name: "thumb".into(),
        max_width: 256,
        max_height: 256,
        fit: Fit::Contain,
        format: Format::Webp,
        quality: 80,
    };
    let native_spec = media_thumbnail::VariantSpec {
        name: "thumb".into(),
        max_width: 256,
        max_height: 256,
        fit: media_thumbnail::Fit::Contain,
        format: media_thumbnail::Format::Webp,
        quality: 80,
    };
    let limits = Limits {
        max_pixels: 50_000_000,
        max_frames: 1000,
        max_total_frame_area: 200_000_000,
        max_output_bytes: 32 << 20,
    };
    let native_limits = media_probe::Limits::default();

    println!("thumb variant (256 px WebP q80), median of {runs} runs, one core");
    println!();
    println!("| input | (a) sandbox, fresh instance | (a0) same, no fuel metering | fuel cost a/a0 | (b) same library, native | (c) sharp 0.35 | a/b | a/c | guest peak memory | fuel burned |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, file) in inputs(&dir) {
        let data = std::fs::read(&file).unwrap();
        let (info, _) = sandbox.probe(&data, limits).unwrap();
        let pixels = attachd::pipeline::source_pixels(&info.unwrap());
        let (mut peak, mut fuel) = (0, 0);
        let mut render = |s: &Sandbox| {
            let (r, stats) = s
                .thumbnail(&data, std::slice::from_ref(&spec), limits, pixels)
                .unwrap();
            r.unwrap();
            peak = stats.peak_memory;
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
        let b = time(runs, || {
            media_thumbnail::render(&data, std::slice::from_ref(&native_spec), &native_limits)
                .unwrap()
        });
        let c = sharp(&file, runs);
        println!(
            "| {name} ({} KB) | {} ms | {} ms | {:+.1}% | {} ms | {} | {:.2}× | {} | {} MB | {:.2e} |",
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
            peak / (1 << 20),
            fuel as f64,
        );
    }
    let inst = median(
        (0..1000)
            .map(|_| sandbox.instantiate_thumbnail_only().unwrap())
            .collect(),
    );
    println!();
    println!("instantiation of the thumbnail guest (pooling allocator, InstancePre), median of 1000: {:.1} µs", inst.as_secs_f64() * 1e6);
}
