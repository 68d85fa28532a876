//! Video benchmark: prints a table, asserts nothing (the 3% target is read, not tested).
//!
//! The transcode of a 10 s 1280×720 H.264 + AAC clip, the exact ffmpeg command attachd
//! builds (same arguments, same input and output files), run (a) through the sandbox
//! (namespaces, rlimits, Landlock, seccomp, the pidfd deadline) and (b) bare with
//! `std::process::Command`. Runs alternate a/b so background load hits both alike; the table
//! shows the median and the fastest run of each. A second row times `ffmpeg -version` the
//! same two ways: the sandbox's fixed cost per process.
//!
//! Run with `make bench-video` (generates the clip with ffmpeg's lavfi sources on first run).

use attachd::video::{Container, Video, VideoConfig, WorkDir};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn clip(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("bench input dir");
    let file = dir.join("clip-720p-10s.mp4");
    if !file.exists() {
        eprintln!("generating {}", file.display());
        let ok = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=10"])
            .args(["-f", "lavfi", "-i", "sine=f=440:d=10"])
            .args([
                "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-pix_fmt", "yuv420p",
            ])
            .args(["-c:a", "aac", "-b:a", "160k", "-shortest"])
            .arg(&file)
            .status()
            .expect("ffmpeg is installed");
        assert!(ok.success(), "generating the clip");
    }
    file
}

/// Removes the previous run's outputs: as root the two runs write as different users
/// (sandboxed ffmpeg is `nobody`), and neither may inherit the other's files.
fn clear(out: &Path) {
    for e in std::fs::read_dir(out).unwrap().flatten() {
        let _ = std::fs::remove_file(e.path());
    }
}

fn bare(program: &Path, args: &[OsString]) -> Duration {
    let t = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ffmpeg runs");
    let elapsed = t.elapsed();
    assert!(status.success(), "bare ffmpeg failed");
    elapsed
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target/bench-inputs"));
    let input = std::fs::read(clip(&dir)).unwrap();

    let cfg = VideoConfig::default();
    let video = Video::new(cfg.clone());
    if let Err(e) = video.ready() {
        panic!("the video path is not ready here: {e}");
    }
    let jail = video.jail().unwrap();
    let ffmpeg = video.ffmpeg().unwrap().to_path_buf();
    let work = WorkDir::create(&cfg.work_dir, jail.run_as()).unwrap();
    work.write_input(&input).unwrap();
    let info = video.ffprobe(&work, Container::Mov).unwrap();
    let plan = attachd::video::transcode::plan(&info, &cfg);
    let args =
        attachd::video::transcode::args(&cfg, Container::Mov, work.input(), work.out(), &plan);

    println!(
        "transcode of a 10 s 1280x720 H.264+AAC clip ({} KB) to attachd's MP4 + poster, \
         preset {}, {} threads; {runs} runs each, alternating",
        input.len() / 1024,
        cfg.preset,
        cfg.threads
    );
    println!("jail layers in force: {:?}", jail.layers());
    println!("machine support: {:?}", video.support());
    println!();

    let (mut a, mut b) = (Vec::new(), Vec::new());
    // Warm-up: page cache, the dynamic loader's cache.
    video.run_ffmpeg(&work, &args).unwrap();
    for _ in 0..runs {
        clear(work.out());
        let t = Instant::now();
        video.run_ffmpeg(&work, &args).unwrap();
        a.push(t.elapsed());
        clear(work.out());
        b.push(bare(&ffmpeg, &args));
    }
    let version: Vec<OsString> = vec!["-hide_banner".into(), "-version".into()];
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let t = Instant::now();
        video.run_ffmpeg(&work, &version).unwrap();
        va.push(t.elapsed());
        vb.push(bare(&ffmpeg, &version));
    }

    let row = |name: &str, a: &[Duration], b: &[Duration]| {
        let (ma, mb) = (median(a.to_vec()), median(b.to_vec()));
        let (fa, fb) = (*a.iter().min().unwrap(), *b.iter().min().unwrap());
        println!(
            "| {name} | {} ms | {} ms | {:+.1}% | {} ms | {} ms | {:+.1}% |",
            ms(ma),
            ms(mb),
            (ma.as_secs_f64() / mb.as_secs_f64() - 1.0) * 100.0,
            ms(fa),
            ms(fb),
            (fa.as_secs_f64() / fb.as_secs_f64() - 1.0) * 100.0,
        );
    };
    println!("| command | sandbox, median | bare, median | overhead | sandbox, fastest | bare, fastest | overhead |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    row("transcode (MP4 + poster)", &a, &b);
    row("`ffmpeg -version` (fixed cost)", &va, &vb);
}
