//! Queue throughput, side by side on one Redis: no-op jobs (carrying a 1 KB upload's payload)
//! through attachd's queue path (`worker::run` with the bullmq adapter, the bytes-in-flight
//! cap, the breaker's accounting, metrics and depth refresh, exactly as `attachd worker` runs
//! them, with the handler replaced by a no-op), through a bare `bullmq-official` Worker, and
//! through a Node `bullmq` Worker (tests/interop), at concurrency 1 and 50.
//!
//! Each run fills a fresh queue with the same jobs (Node `addBulk`), starts the worker and
//! times from the first completed job to the last, read from Redis (`ZCARD …:completed`) the
//! same way for all three. `make bench-queue` runs it (after `npm ci` in tests/interop).
//! Environment: ATTACH_BENCH_JOBS (default 20000), ATTACH_BENCH_ROUNDS (3; the median is shown),
//! ATTACH_REDIS_URL.

use attachd::metrics::Metrics;
use attachd::queue::{BullBackend, RedisTarget};
use attachd::queue::{Failure, Job, Processor, QueueBackend, QueueName};
use attachd::worker::{self, Dependency, Health, WorkerConfig};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const CONCURRENCY: [usize; 2] = [1, 50];
/// How often the completed count is read: fine enough against runs of seconds, cheap enough
/// (a few hundred ZCARDs a second) not to disturb them.
const POLL: Duration = Duration::from_millis(2);
/// A run that has not finished by then is broken, not slow.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Node,
    Bare,
    Attachd,
}

struct Noop;

#[async_trait::async_trait]
impl Processor for Noop {
    async fn process(&self, _job: Job) -> Result<serde_json::Value, Failure> {
        Ok(json!({ "ok": true }))
    }
}

struct AlwaysHealthy;

#[async_trait::async_trait]
impl Health for AlwaysHealthy {
    async fn check(&self, _d: Dependency) -> Result<(), String> {
        Ok(())
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn redis_url() -> String {
    std::env::var("ATTACH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn interop() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop"));
    assert!(
        dir.join("node_modules/bullmq").is_dir(),
        "run `cd tests/interop && npm ci` first"
    );
    dir
}

fn node(args: &[&str]) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(interop())
        .arg("bull.mjs")
        .args(args)
        .env("ATTACH_REDIS_URL", redis_url());
    cmd
}

fn fill(prefix: &str, jobs: usize) {
    let payload = json!({ "fileKey": "uploads/bench/1k.bin", "mimeType": "application/octet-stream", "size": 1024 });
    let args = json!({ "prefix": prefix, "queue": QueueName::Process.as_str(), "name": QueueName::Process.job_name(), "data": payload, "count": jobs });
    let out = node(&["fill", &args.to_string()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Seconds from the first to the last completed job.
async fn time_completion(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    jobs: usize,
) -> f64 {
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut first = None;
    loop {
        let done: usize = redis::cmd("ZCARD")
            .arg(key)
            .query_async(conn)
            .await
            .unwrap();
        let now = Instant::now();
        if done >= 1 && first.is_none() {
            first = Some(now);
        }
        if done >= jobs {
            return (now - first.unwrap()).as_secs_f64();
        }
        assert!(now < deadline, "only {done} of {jobs} jobs completed");
        tokio::time::sleep(POLL).await;
    }
}

async fn run(system: System, concurrency: usize, jobs: usize) -> f64 {
    let prefix = format!("attach-bench-{}", uuid::Uuid::new_v4().simple());
    fill(&prefix, jobs);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let completed = format!("{prefix}:{}:completed", QueueName::Process.as_str());
    let secs = match system {
        System::Node => {
            let args = json!({ "prefix": prefix, "queue": QueueName::Process.as_str(), "concurrency": concurrency });
            let mut child = node(&["worker", &args.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut ready = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut ready)
                .unwrap();
            assert!(ready.contains("ready"), "{ready}");
            child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
            let secs = time_completion(&mut conn, &completed, jobs).await;
            let _ = child.kill();
            let _ = child.wait();
            secs
        }
        System::Bare => {
            let opts = bullmq::WorkerOptions::new()
                .connection(bullmq::options::RedisConnectionOptions::new().url(redis_url()))
                .prefix(prefix.clone())
                .concurrency(concurrency);
            let w = bullmq::Worker::with_options(
                QueueName::Process.as_str(),
                |_job: bullmq::Job, _t| async { Ok(json!({ "ok": true })) },
                opts,
            )
            .await
            .unwrap();
            let secs = time_completion(&mut conn, &completed, jobs).await;
            w.close(5_000).await.unwrap();
            secs
        }
        System::Attachd => {
            let backend: Arc<dyn QueueBackend> = Arc::new(
                BullBackend::connect(&RedisTarget::Server(redis_url()), &prefix)
                    .await
                    .unwrap(),
            );
            let cfg = WorkerConfig {
                concurrency,
                cleanup_schedule: None,
                ..WorkerConfig::default()
            };
            let shutdown = CancellationToken::new();
            let handle = tokio::spawn(worker::run(
                backend,
                vec![(QueueName::Process, Arc::new(Noop) as Arc<dyn Processor>)],
                Arc::new(AlwaysHealthy),
                Metrics::new(&QueueName::labels()),
                cfg,
                || {},
                shutdown.clone(),
            ));
            let secs = time_completion(&mut conn, &completed, jobs).await;
            shutdown.cancel();
            handle.await.unwrap().unwrap();
            secs
        }
    };
    // Leave Redis as it was.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    (jobs - 1) as f64 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let jobs: usize = env_or("ATTACH_BENCH_JOBS", 20_000);
    let rounds: usize = env_or::<usize>("ATTACH_BENCH_ROUNDS", 3).max(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("queue bench: {jobs} no-op jobs (1 KB upload payload) per run, median of {rounds} runs, jobs/s");
    println!();
    println!("| concurrency | Node bullmq 6.7.0 Worker | bare bullmq-official 1.4.4 | attachd worker | attachd vs bare |");
    println!("|---:|---:|---:|---:|---:|");
    for c in CONCURRENCY {
        let mut rates = Vec::new();
        for system in [System::Node, System::Bare, System::Attachd] {
            let runs: Vec<f64> = (0..rounds)
                .map(|_| rt.block_on(run(system, c, jobs)))
                .collect();
            rates.push(median(runs));
        }
        // Time added per job by attachd's path, relative to the bare crate's.
        let overhead = (rates[1] / rates[2] - 1.0) * 100.0;
        println!(
            "| {c} | {:.0} | {:.0} | {:.0} | {:+.1}% per job |",
            rates[0], rates[1], rates[2], overhead
        );
    }
}
