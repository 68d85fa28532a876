//! Guest swap benchmark: prints what a hot swap costs, asserts nothing.
//!
//! Jobs run back to back on `JOB_THREADS` threads (the real pipeline on a 2 MP JPEG, default
//! variants), as a busy worker's do, while the worker's own watcher (`swap::Swapper::watch`,
//! default interval) notices a new release placed by renaming `current` (at its next look, or
//! at once on SIGHUP), verifies, compiles and swaps it. Printed, for a release with one new
//! component, for a rollback with nothing in the compile cache, and for one all cached:
//!   - release → swap: from the rename to the moment new jobs get the new set;
//!   - release → first job served: to the end of the first job that ran on it;
//!   - job latency: median and worst of the jobs that overlapped the swap window, against the
//!     jobs that did not.
//!
//! Run with `make bench-swap` (builds and signs the guests first).

use attachd::audit::Audit;
use attachd::config::{GuestPaths, InputLimits, SandboxLimits};
use attachd::metrics::Metrics;
use attachd::pipeline::Pipeline;
use attachd::sandbox::Sandbox;
use attachd::swap::Swapper;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Job threads: the default worker concurrency.
const JOB_THREADS: usize = attachd::worker::DEFAULT_CONCURRENCY;
/// Jobs run this long before the new release is placed, and at least this long after the
/// swap, so both sides have jobs.
const SIDE: Duration = Duration::from_secs(4);

struct Job {
    start: Instant,
    end: Instant,
    probe_version: String,
}

/// The built guests: `ATTACH_GUEST_DIR` (relative to the workspace, as `make` gives it), else
/// `target/guests`.
fn guest_dir() -> PathBuf {
    let workspace = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    workspace.join(std::env::var_os("ATTACH_GUEST_DIR").unwrap_or_else(|| "target/guests".into()))
}

/// Release `name` in `root/releases/`: the built guests, the probe from `probe_from` if
/// given, the probe's manifest given `version`, signed with `key`.
fn release(
    root: &Path,
    name: &str,
    probe_from: Option<&str>,
    version: &str,
    key: &minisign::SecretKey,
) {
    let dir = root.join("releases").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for guest in ["probe", "scan", "thumbnail"] {
        let from = match (guest, probe_from) {
            ("probe", Some(sub)) => guest_dir().join(sub),
            _ => guest_dir(),
        };
        for ext in ["json", "wasm"] {
            let f = format!("{guest}.{ext}");
            std::fs::copy(from.join(&f), dir.join(&f)).unwrap();
        }
    }
    let path = dir.join("probe.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["version"] = serde_json::json!(version);
    std::fs::write(&path, m.to_string()).unwrap();
    attachd::release::sign_dir(&dir, key).unwrap();
}

fn switch(root: &Path, name: &str) {
    let tmp = root.join(".current.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("releases").join(name), &tmp).unwrap();
    std::fs::rename(&tmp, root.join("current")).unwrap();
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn quantiles(mut v: Vec<Duration>) -> (Duration, Duration, usize) {
    v.sort();
    let n = v.len();
    (
        v.get(n / 2).copied().unwrap_or_default(),
        v.last().copied().unwrap_or_default(),
        n,
    )
}

/// What makes the worker look at the guest directory.
#[derive(Clone, Copy, PartialEq)]
enum Trigger {
    /// Its own watch, at the next look (up to one interval later).
    Watch,
    /// SIGHUP (`systemctl reload`), sent right after the release is placed.
    Sighup,
}

/// Runs jobs while `to` replaces the running release; returns the table row.
fn measure(
    sandbox: &Arc<Sandbox>,
    root: &Path,
    to: &str,
    version: &str,
    trigger: Trigger,
    jpeg: &Arc<Vec<u8>>,
) -> String {
    let pipeline = Pipeline::new(sandbox.clone(), InputLimits::default());
    let jobs = Arc::new(Mutex::new(Vec::<Job>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..JOB_THREADS)
        .map(|_| {
            let (pipeline, jobs, stop, jpeg) =
                (pipeline.clone(), jobs.clone(), stop.clone(), jpeg.clone());
            std::thread::spawn(move || {
                let specs = attachd::variant::defaults();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let outcome = pipeline.run(&jpeg, "image/jpeg", &specs);
                    assert!(outcome.result.is_ok(), "{:?}", outcome.result.err());
                    let probe_version = outcome
                        .guests
                        .iter()
                        .find(|g| g.name == "probe")
                        .map(|g| g.version.clone())
                        .unwrap();
                    jobs.lock().unwrap().push(Job {
                        start,
                        end: Instant::now(),
                        probe_version,
                    });
                }
            })
        })
        .collect();
    std::thread::sleep(SIDE);
    let released = Instant::now();
    switch(root, to);
    if trigger == Trigger::Sighup {
        // SAFETY: raise(3) only sends this process a signal, which the watcher's handler takes.
        unsafe { libc::raise(libc::SIGHUP) };
    }
    while sandbox
        .loaded()
        .iter()
        .find(|g| g.name == "probe")
        .is_none_or(|g| g.version != version)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let swapped = Instant::now();
    std::thread::sleep(SIDE);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let jobs = std::mem::take(&mut *jobs.lock().unwrap());
    let first_served = jobs
        .iter()
        .filter(|j| j.probe_version == version)
        .map(|j| j.end)
        .min()
        .unwrap();
    let (during, steady): (Vec<&Job>, Vec<&Job>) = jobs
        .iter()
        .partition(|j| j.end >= released && j.start <= swapped);
    let (dm, dw, dn) = quantiles(during.iter().map(|j| j.end - j.start).collect());
    let (sm, sw, sn) = quantiles(steady.iter().map(|j| j.end - j.start).collect());
    format!(
        "| {} | {} | {} / {} ({dn}) | {} / {} ({sn}) |",
        ms(swapped - released),
        ms(first_served - released),
        ms(dm),
        ms(dw),
        ms(sm),
        ms(sw)
    )
}

fn main() {
    let keys = tempfile::tempdir().unwrap();
    let (secret, public) = (keys.path().join("bench.key"), keys.path().join("bench.pub"));
    attachd::release::keygen(&secret, &public, None).unwrap();
    let key = attachd::release::read_secret_key(&secret, None).unwrap();
    let trust = attachd::release::Trust::keys(attachd::release::read_key_file(&public).unwrap());
    let root = tempfile::tempdir().unwrap();
    // v2's probe is another component (built against WIT 0.1.1): the swap compiles it.
    release(root.path(), "v1", None, "1.0.0-bench", &key);
    release(
        root.path(),
        "v2",
        Some("test/next-minor"),
        "2.0.0-bench",
        &key,
    );
    switch(root.path(), "v1");
    // A compile cache of the bench's own, so v2 is compiled for real.
    let cache = tempfile::tempdir().unwrap();
    let paths = GuestPaths {
        dir: root.path().to_path_buf(),
        cache_dir: Some(cache.path().join("c")),
        trust,
    };
    let sandbox = Arc::new(Sandbox::load(&paths, SandboxLimits::default()).expect("load v1"));
    let jpeg = Arc::new(attach_fixtures::jpeg(
        &attach_fixtures::photo(1920, 1080, 3),
        85,
    ));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let swapper = Swapper::new(sandbox.clone(), Metrics::new(&[]), Audit::new(None));
    let interval = attachd::worker::DEFAULT_GUEST_WATCH_INTERVAL;
    rt.spawn({
        let shutdown = shutdown.clone();
        async move {
            let hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
            swapper.watch(hangup, Some(interval), shutdown).await
        }
    });

    println!(
        "\nGuest hot swap: {JOB_THREADS} job threads (2 MP JPEG, default variants), watch every {} ms, {} cores",
        interval.as_millis(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| swap | release → swap (ms) | release → first job on it (ms) | jobs overlapping the swap: median / worst ms (n) | other jobs: median / worst ms (n) |");
    println!("|---|---|---|---|---|");
    let row = measure(
        &sandbox,
        root.path(),
        "v2",
        "2.0.0-bench",
        Trigger::Watch,
        &jpeg,
    );
    println!("| new release noticed by the watch (its probe compiled) {row}");
    // The worst case: nothing in the compile cache, all three guests compiled.
    std::fs::remove_dir_all(cache.path().join("c")).unwrap();
    let row = measure(
        &sandbox,
        root.path(),
        "v1",
        "1.0.0-bench",
        Trigger::Sighup,
        &jpeg,
    );
    println!("| rollback on SIGHUP, compile cache emptied (all three compiled) {row}");
    let row = measure(
        &sandbox,
        root.path(),
        "v2",
        "2.0.0-bench",
        Trigger::Sighup,
        &jpeg,
    );
    println!("| new release on SIGHUP, compiled before (from the cache) {row}");
    shutdown.cancel();
}
