//! Fuel benchmark: what each guest call burns on the fixtures, next to the budget attachd
//! gives it. Prints a table and asserts nothing; the defaults in `config.rs` are derived from
//! these numbers (fuel is counted in guest instructions, so they are the same on every machine
//! and every run for one guest build).
//!
//! Per input: bytes, the source pixels the probe reads and the output pixels of the default
//! variants, the fuel burned by probe, scan and the thumbnail guest (the heif guest for HEIC)
//! (with an unlimited budget),
//! and the largest share of its default budget any of the three calls used.
//!
//! Run with `make bench-fuel`.

use attach_fixtures as fx;
mod common;

use attachd::config::{FuelBudget, SandboxLimits};
use attachd::sandbox::{Kind, Sandbox};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples");
    let mut files: Vec<_> = std::fs::read_dir(samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    for f in files {
        let name = format!("samples/{}", f.file_name().unwrap().to_string_lossy());
        v.push((name, std::fs::read(f).unwrap()));
    }
    for (w, h) in [(64, 48), (320, 240), (1600, 1200), (4000, 3000)] {
        let img = fx::photo(w, h, 5);
        v.push((format!("photo {w}x{h} JPEG q90"), fx::jpeg(&img, 90)));
        v.push((
            format!("photo {w}x{h} progressive JPEG"),
            fx::jpeg_progressive(&img, 90),
        ));
        v.push((format!("photo {w}x{h} PNG"), fx::png_rgb(&img)));
        v.push((
            format!("photo {w}x{h} lossy WebP"),
            fx::webp_lossy(&img, 80),
        ));
        v.push((
            format!("photo {w}x{h} lossless WebP"),
            fx::webp_lossless(&img),
        ));
        if w <= 1600 {
            v.push((format!("photo {w}x{h} GIF"), fx::gif(&img)));
        }
        v.push((format!("photo {w}x{h} HEIC q80"), fx::heic(&img, 80)));
    }
    let frames: Vec<_> = (0..20).map(|i| fx::photo(320, 240, i)).collect();
    v.push(("GIF 20 frames 320x240".into(), fx::gif_animated(&frames)));
    v.push((
        "photo 6000x4000 JPEG q90".into(),
        fx::jpeg(&fx::photo(6000, 4000, 24), 90),
    ));
    v.push(("JPEG + zip appended".into(), fx::jpeg_with_zip_appended()));
    v.push(("PDF".into(), fx::pdf_doc()));
    v.push(("SVG with script".into(), fx::svg_with_script()));
    v.push(("zip bomb (declared)".into(), fx::zip_bomb_declared()));
    v
}

fn main() {
    let unlimited = SandboxLimits {
        fuel: FuelBudget {
            base: u64::MAX / 4,
            per_byte: 0,
            per_pixel: 0,
            heif_per_pixel: 0,
            per_output_pixel: 0,
            max_per_call: u64::MAX,
        },
        ..SandboxLimits::default()
    };
    let paths = common::guest_paths();
    let sandbox = Sandbox::load(&paths, unlimited).expect("load guests");
    let limits = common::limits();
    let specs = attachd::variant::defaults();
    let budget = FuelBudget::default();
    println!(
        "fuel per guest call; thumbnail renders the {} default variants",
        specs.len()
    );
    println!("default budget: {budget:?}");
    println!();
    println!("| input | bytes | source px | output px | probe | /byte | scan | /byte | thumbnail | share of its budget (worst call) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut max_probe_b, mut max_scan_b, mut worst) = (0f64, 0f64, 0f64);
    // Entries into the host per call: each is charged fuel, so the budgets must cover them.
    let mut max_host_calls = 0u64;
    for (name, data) in inputs() {
        let bytes = data.len() as u64;
        let (info, probe) = sandbox.probe(&data, limits).unwrap();
        let (_, scan) = sandbox
            .scan(&data, "application/octet-stream", limits)
            .unwrap();
        max_host_calls = max_host_calls.max(probe.host_calls).max(scan.host_calls);
        let pb = probe.fuel_used as f64 / bytes as f64;
        let sb = scan.fuel_used as f64 / bytes as f64;
        if bytes >= 10_000 {
            max_probe_b = max_probe_b.max(pb);
            max_scan_b = max_scan_b.max(sb);
        }
        let mut share = [probe.fuel_used, scan.fuel_used]
            .into_iter()
            .map(|f| f as f64 / budget.for_call(bytes, 0, 0) as f64)
            .fold(0f64, f64::max);
        let image = info.as_ref().ok().filter(|i| {
            matches!(
                i.kind,
                Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp | Kind::Heic | Kind::Avif
            ) && attachd::pipeline::source_pixels(i) <= limits.max_pixels
        });
        let (src, out, thumb) = match image {
            Some(info) => {
                let src = attachd::pipeline::source_pixels(info);
                let out: u64 = specs
                    .iter()
                    .map(|s| src.min(u64::from(s.max_width) * u64::from(s.max_height)))
                    .sum();
                let (r, stats, given) = if matches!(info.kind, Kind::Heic | Kind::Avif) {
                    let (r, stats) = sandbox.heif(&data, &specs, limits, src).unwrap();
                    (
                        r,
                        stats,
                        budget.at_per_pixel(budget.heif_per_pixel, bytes, src, out),
                    )
                } else {
                    let (r, stats) = sandbox.thumbnail(&data, &specs, limits, src).unwrap();
                    (r, stats, budget.for_call(bytes, src, out))
                };
                r.expect("the fixture renders");
                max_host_calls = max_host_calls.max(stats.host_calls);
                share = share.max(stats.fuel_used as f64 / given as f64);
                (
                    src.to_string(),
                    out.to_string(),
                    stats.fuel_used.to_string(),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        worst = worst.max(share);
        println!(
            "| {name} | {bytes} | {src} | {out} | {} | {pb:.1} | {} | {sb:.1} | {thumb} | {:.1}% |",
            probe.fuel_used,
            scan.fuel_used,
            share * 100.0
        );
    }
    println!();
    println!(
        "inputs of 10 KB or more: probe at most {max_probe_b:.1}/byte, scan {max_scan_b:.1}/byte; \
         the dearest call used {:.1}% of its budget; at most {max_host_calls} entries into the \
         host in one call",
        worst * 100.0
    );
}
