//! Chaos: several `attachd worker` processes on one Redis, PostgreSQL and S3-protocol server,
//! a Node `bullmq` producer adding a stream of real mixed uploads, while a driver, bounded in
//! time, `kill -9`s workers (and starts new ones), restarts Redis (AOF on, fsync always, as the
//! seed asks Redis to persist), restarts PostgreSQL (immediate shutdown: a crash) and stops the
//! object store for a while. At the end it checks that nothing was lost and nothing was
//! published twice, and prints a table.
//!
//! Every service is this run's own, on free loopback ports: a `redis-server`, a PostgreSQL
//! cluster made with `initdb` (Debian's server binaries; run as the `postgres` user when the
//! test runs as root), and s3s-fs served from this process (a real S3 protocol server with
//! SigV4 checks; stopping it closes the listener and every open connection).
//!
//! `chaos_short` (100 jobs, a few faults) runs in `make test`. `make chaos` runs `chaos_full`
//! (1,000 jobs, every fault, then throughput with 1, 2 and 3 workers) on an optimised build.

mod common;

use attachd::db::Db;
use attachd::storage::{S3Settings, S3Storage, Storage, MIN_PART_SIZE};
use common::worker::{
    free_port, node_command, parse_node, spawn_redis_server, wait_for, WorkerProcess,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const PROCESS: &str = "attachments.process";
const ACCESS_KEY: &str = "attachd-chaos-access-key";
const SECRET_KEY: &str = "attachd-chaos-secret-key";
const REGION: &str = "us-east-1";
/// How long every job may take to end once the faults stop: retries back off up to 16 s
/// (the producer's 5 attempts, exponential from 1 s) and a killed worker's lock lapses in 5 s.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// One chaos run's shape.
#[derive(Clone, Copy)]
struct Shape {
    jobs: usize,
    workers: usize,
    /// Faults are injected for this long (the producer's stream spans most of it).
    fault_window: Duration,
    /// A fault every this long, give or take half.
    fault_every: Duration,
    /// How long the object store stays down.
    s3_outage: Duration,
    seed: u64,
}

// ---------------------------------------------------------------------------------------
// The services.

/// A `redis-server` with AOF on and fsync at every write, so that a `kill -9` loses no
/// acknowledged write (what the seed asks of production Redis).
struct Redis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    fn start(dir: &Path) -> Redis {
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis {
            port: free_port(),
            dir,
            child: None,
        };
        redis.up();
        redis
    }

    fn up(&mut self) {
        self.child = Some(spawn_redis_server(
            self.port,
            &self.dir,
            &["--appendonly", "yes", "--appendfsync", "always"],
        ));
    }

    /// `kill -9`, then the same server again on the same port and data.
    fn crash_and_restart(&mut self) {
        self.down();
        std::thread::sleep(Duration::from_secs(1));
        self.up();
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.down();
    }
}

/// A PostgreSQL cluster of this run's own (`initdb`), on a free port.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's PostgreSQL server (scripts/setup.sh installs it)")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file())
            .max_by_key(|b| {
                b.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .expect("initdb under /usr/lib/postgresql/*/bin");
        // Not under a 0700 temp dir: the server runs as `postgres` when we are root.
        let dir = std::env::temp_dir().join(format!(
            "attachd-chaos-pg-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = Postgres {
            bin,
            dir,
            port: free_port(),
        };
        if is_root() {
            run_ok(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&pg.dir),
            );
        }
        run_ok(
            pg.as_owner("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(pg.data()),
        );
        pg.up();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// One of the server's programs, as the user who owns the cluster.
    fn as_owner(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run_ok(
            self.as_owner("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(self.dir.join("log"))
                .args(["-w", "start"]),
        );
    }

    fn down_immediate(&self) {
        let _ = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// An immediate shutdown (no checkpoint: crash recovery on the way up), then start.
    fn crash_and_restart(&self) {
        self.down_immediate();
        std::thread::sleep(Duration::from_secs(1));
        self.up();
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.down_immediate();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// s3s-fs on a fixed port, served from this process; it can be stopped (listener and open
/// connections closed) and started again on the same port and files.
struct S3 {
    rt: tokio::runtime::Runtime,
    root: tempfile::TempDir,
    port: u16,
    bucket: String,
    stop: Option<CancellationToken>,
}

impl S3 {
    fn start() -> S3 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let root = tempfile::tempdir().unwrap();
        let bucket = "attachd-chaos".to_string();
        std::fs::create_dir(root.path().join(&bucket)).unwrap();
        let mut s3 = S3 {
            rt,
            root,
            port: free_port(),
            bucket,
            stop: None,
        };
        s3.up();
        s3
    }

    fn up(&mut self) {
        let fs = s3s_fs::FileSystem::new(self.root.path()).expect("s3s-fs");
        let mut service = S3ServiceBuilder::new(fs);
        service.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = service.build();
        let stop = CancellationToken::new();
        let port = self.port;
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("bind the S3 port again");
        let token = stop.clone();
        self.rt.spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = token.cancelled() => {
                        connections.abort_all();
                        return;
                    }
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        let service = service.clone();
                        connections.spawn(async move {
                            let http = ConnBuilder::new(TokioExecutor::new());
                            let _ = http.serve_connection(TokioIo::new(socket), service).await;
                        });
                    }
                }
            }
        });
        self.stop = Some(stop);
    }

    /// Closes the listener and every open connection: clients get refused connections.
    fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
            // Let the task run its cancellation before the port is reused.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn storage(&self) -> S3Storage {
        self.rt
            .block_on(S3Storage::new(S3Settings {
                bucket: self.bucket.clone(),
                endpoint: Some(self.endpoint()),
                region: REGION.to_owned(),
                force_path_style: true,
                credentials: Some((ACCESS_KEY.to_owned(), SECRET_KEY.to_owned())),
                multipart_threshold: MIN_PART_SIZE,
                part_size: MIN_PART_SIZE,
            }))
            .unwrap()
    }
}

/// The three services and the worker's environment for them.
struct World {
    dir: tempfile::TempDir,
    redis: Redis,
    pg: Postgres,
    s3: S3,
    prefix: String,
}

impl World {
    fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let redis = Redis::start(dir.path());
        let pg = Postgres::start();
        let s3 = S3::start();
        let world = World {
            dir,
            redis,
            pg,
            s3,
            prefix: common::worker::redis_prefix(),
        };
        let out = world.attachd().arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "attachd migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        world
    }

    /// `attachd` with this world's services and nothing of the caller's.
    fn attachd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_attachd"));
        for var in [
            "ATTACH_VSCAN_ENDPOINT",
            "ATTACH_AUDIT_LOG",
            "ATTACH_STORAGE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("ATTACH_DATA_DIR", self.dir.path().join("data"))
            .env("ATTACH_GUEST_DIR", common::guest_dir())
            .env("ATTACH_CACHE_DIR", common::cache_dir())
            .env("ATTACH_REDIS_URL", self.redis.url())
            .env("ATTACH_QUEUE_PREFIX", &self.prefix)
            .env("ATTACH_DATABASE_URL", self.pg.url())
            .env("ATTACH_S3_BUCKET", &self.s3.bucket)
            .env("ATTACH_S3_ENDPOINT", self.s3.endpoint())
            .env("ATTACH_S3_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("NO_COLOR", "1");
        cmd
    }

    /// A worker: metrics on any port, no cleanup schedule, a dead worker's jobs retaken
    /// within seconds (the claim on their uploads follows the lock, as by default).
    fn worker(&self) -> WorkerProcess {
        let mut cmd = self.attachd();
        cmd.arg("worker")
            .env("ATTACH_METRICS_ADDR", "127.0.0.1:0")
            .env("ATTACH_CLEANUP_CRON", "off")
            .env("ATTACH_QUEUE_LOCK_DURATION", "5s")
            .env("ATTACH_QUEUE_STALLED_INTERVAL", "2s");
        WorkerProcess::start(cmd)
    }

    fn node(&self, command: &str, mut args: Value) -> Value {
        args["prefix"] = Value::from(self.prefix.as_str());
        let out = node_command(command, &args)
            .env("ATTACH_REDIS_URL", self.redis.url())
            .output()
            .unwrap();
        parse_node(out)
    }

    fn node_spawn(&self, command: &str, mut args: Value) -> Child {
        args["prefix"] = Value::from(self.prefix.as_str());
        node_command(command, &args)
            .env("ATTACH_REDIS_URL", self.redis.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// The uploads.

/// What kind of upload, for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Photo,
    Png,
    Gif,
    Video,
    Hostile,
}

struct Upload {
    key: String,
    mime: &'static str,
    size: usize,
    kind: Kind,
}

/// The distinct files the uploads are made of: photos of several sizes, PNG and GIF, a short
/// video, and hostile files (a decompression bomb, a truncated JPEG, an HTML page sent as an
/// image).
fn files(dir: &Path) -> Vec<(Kind, &'static str, Vec<u8>)> {
    use attach_fixtures as fx;
    let mut out = Vec::new();
    for (i, (w, h)) in [(640, 480), (1600, 1200), (3000, 2000), (1200, 1600)]
        .into_iter()
        .enumerate()
    {
        out.push((
            Kind::Photo,
            "image/jpeg",
            fx::jpeg(&fx::photo(w, h, i as u64), 85),
        ));
    }
    out.push((Kind::Png, "image/png", fx::png_rgb(&fx::photo(800, 600, 9))));
    out.push((Kind::Gif, "image/gif", fx::gif(&fx::photo(200, 150, 10))));
    out.push((Kind::Video, "video/mp4", common::clips::h264_clip(dir)));
    out.push((Kind::Hostile, "image/png", fx::png_bomb_30000()));
    let photo = fx::jpeg(&fx::photo(800, 600, 11), 85);
    out.push((Kind::Hostile, "image/jpeg", fx::truncated(&photo, 0.5)));
    out.push((Kind::Hostile, "image/jpeg", fx::html_page()));
    out
}

/// `n` uploads put in the object store with their `uploaded` rows, as the API leaves them:
/// mostly photos, some PNG and GIF, a few videos and hostile files.
fn ingest(world: &World, n: usize, rng: &mut attach_fixtures::Rng, tag: &str) -> Vec<Upload> {
    let files = files(world.dir.path());
    let picks = (0..n)
        .map(|_| {
            // 1 in 25 a video, 1 in 25 hostile, 1 in 10 PNG or GIF, the rest photos.
            match rng.below(50) {
                0 | 1 => 6,
                2 => 7,
                3 => 8,
                4 => 9,
                5..=7 => 4,
                8 | 9 => 5,
                _ => rng.below(4),
            }
        })
        .collect::<Vec<_>>();
    put_uploads(world, &files, &picks, tag)
}

/// Puts `files[pick]` for each pick in the store with its `uploaded` row.
fn put_uploads(
    world: &World,
    files: &[(Kind, &'static str, Vec<u8>)],
    picks: &[usize],
    tag: &str,
) -> Vec<Upload> {
    let n = picks.len();
    let storage = world.s3.storage();
    let db = world.s3.rt.block_on(Db::connect(&world.pg.url())).unwrap();
    let mut uploads = Vec::with_capacity(n);
    for (i, &pick) in picks.iter().enumerate() {
        let (kind, mime, bytes) = &files[pick];
        let key = format!("uploads/{tag}/{i:05}");
        world.s3.rt.block_on(async {
            storage
                .put(&key, bytes::Bytes::from(bytes.clone()), mime)
                .await
                .unwrap();
            db.upsert_uploaded(&attachd::db::NewAttachment {
                file_key: key.clone(),
                mime_type: mime.to_string(),
                size: bytes.len() as i64,
                checksum: None,
            })
            .await
            .unwrap();
        });
        uploads.push(Upload {
            key,
            mime,
            size: bytes.len(),
            kind: *kind,
        });
    }
    world.s3.rt.block_on(db.close());
    uploads
}

/// One job per upload, and a second job for 1 in 30 of them (a client that submitted twice).
fn payloads(uploads: &[Upload], rng: &mut attach_fixtures::Rng) -> Vec<Value> {
    let mut out = Vec::new();
    for u in uploads {
        let p = json!({ "fileKey": u.key, "mimeType": u.mime, "size": u.size });
        if rng.below(30) == 0 {
            out.push(p.clone());
        }
        out.push(p);
    }
    out
}

// ---------------------------------------------------------------------------------------
// The run.

#[derive(Default)]
struct Faults {
    kills: usize,
    redis_restarts: usize,
    pg_restarts: usize,
    s3_outages: usize,
}

struct Report {
    shape: Shape,
    elapsed: Duration,
    jobs: usize,
    completed: usize,
    failed_by_code: BTreeMap<String, usize>,
    rows_by_status: BTreeMap<String, usize>,
    kinds: BTreeMap<Kind, usize>,
    faults: Faults,
    problems: Vec<String>,
    /// Jobs beyond those the producer was acknowledged for: adds resent after a Redis crash.
    added_again: usize,
    /// Good uploads that failed with an outage's code (their attempts ran out during it).
    good_failed_in_outages: usize,
    clean_exits: usize,
    exits: usize,
}

fn chaos(shape: Shape) -> Report {
    let mut world = World::start();
    let mut rng = attach_fixtures::Rng::new(shape.seed);
    let uploads = ingest(&world, shape.jobs, &mut rng, "chaos");
    let payloads = payloads(&uploads, &mut rng);
    let payload_file = world.dir.path().join("payloads.json");
    std::fs::write(&payload_file, serde_json::to_vec(&payloads).unwrap()).unwrap();

    let mut workers: Vec<WorkerProcess> = (0..shape.workers).map(|_| world.worker()).collect();
    let started = Instant::now();
    // The stream spans about two thirds of the fault window.
    let interval_ms = (shape.fault_window.as_millis() as usize * 2 / 3 / payloads.len()).max(1);
    let producer = world.node_spawn(
        "stream",
        json!({
            "queue": PROCESS, "name": PROCESS, "payloadsFile": payload_file,
            "intervalMs": interval_ms,
            "opts": { "attempts": 5, "backoff": { "type": "exponential", "delay": 1000 } },
        }),
    );

    let mut faults = Faults::default();
    let mut exits = Vec::new();
    // Every kind of fault in each round of four, in a shuffled order: even a short run has
    // each of them.
    let mut order = [0, 1, 2, 3];
    let mut round = 0;
    while started.elapsed() < shape.fault_window || round < 4 {
        let every = shape.fault_every.as_millis() as usize;
        std::thread::sleep(Duration::from_millis((every / 2 + rng.below(every)) as u64));
        if round % 4 == 0 {
            for i in (1..4).rev() {
                order.swap(i, rng.below(i + 1));
            }
        }
        let fault = order[round % 4];
        round += 1;
        match fault {
            0 => {
                let victim = workers.remove(rng.below(workers.len()));
                victim.signal("-KILL");
                let (code, _) = victim.wait_exit();
                assert_eq!(code, None, "killed by a signal");
                faults.kills += 1;
                workers.push(world.worker());
            }
            1 => {
                world.redis.crash_and_restart();
                faults.redis_restarts += 1;
            }
            2 => {
                world.pg.crash_and_restart();
                faults.pg_restarts += 1;
            }
            _ => {
                world.s3.down();
                std::thread::sleep(shape.s3_outage);
                world.s3.up();
                faults.s3_outages += 1;
            }
        }
    }
    let produced = producer.wait_with_output().unwrap();
    assert!(
        produced.status.success(),
        "producer: {}",
        String::from_utf8_lossy(&produced.stderr)
    );
    let ids: Vec<String> = serde_json::from_slice::<Value>(
        produced
            .stdout
            .split(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), payloads.len(), "every add was acknowledged");

    // Every job ends: completed, or failed with its reason.
    // Every job ends. Not a count of the ids: a producer whose reply was lost to a Redis
    // crash sends its add again (ioredis does), which makes one more job for the upload.
    wait_for("every job to finish", DRAIN_TIMEOUT, || {
        quiet(&world).then_some(())
    });
    let elapsed = started.elapsed();
    for w in workers {
        w.signal("-TERM");
        exits.push(w.wait_exit().0);
    }

    let mut report = Report {
        shape,
        elapsed,
        jobs: ids.len(),
        completed: 0,
        failed_by_code: BTreeMap::new(),
        rows_by_status: BTreeMap::new(),
        kinds: BTreeMap::new(),
        faults,
        problems: Vec::new(),
        added_again: 0,
        good_failed_in_outages: 0,
        clean_exits: exits.iter().filter(|c| **c == Some(0)).count(),
        exits: exits.len(),
    };
    for u in &uploads {
        *report.kinds.entry(u.kind).or_default() += 1;
    }
    check(&world, &uploads, &ids, &mut report);
    report
}

/// No job waiting, active, delayed or prioritized.
fn quiet(world: &World) -> bool {
    let counts = &world.node("inspect", json!({ "queue": PROCESS }))["counts"];
    ["waiting", "active", "delayed", "prioritized"]
        .iter()
        .all(|state| counts[state].as_u64() == Some(0))
}

/// The end state, against the jobs Node sees, the rows, the objects and the audit table.
fn check(world: &World, uploads: &[Upload], ids: &[String], report: &mut Report) {
    let problems = &mut report.problems;
    let jobs = world.node("jobs", json!({ "queue": PROCESS }))["jobs"]
        .as_array()
        .unwrap()
        .clone();
    let seen: BTreeSet<&str> = jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    for id in ids {
        if !seen.contains(id.as_str()) {
            problems.push(format!("job {id} lost"));
        }
    }
    // Per upload: its completed jobs that did the work (not `alreadyDone`), and its failures.
    let mut did_work: BTreeMap<String, usize> = BTreeMap::new();
    let mut job_status: BTreeMap<String, String> = BTreeMap::new();
    let mut failure_code: BTreeMap<String, String> = BTreeMap::new();
    report.jobs = jobs.len();
    report.added_again = jobs.len().saturating_sub(ids.len());
    for j in &jobs {
        let key = j["data"]["fileKey"].as_str().unwrap().to_string();
        match j["state"].as_str().unwrap() {
            "completed" => {
                report.completed += 1;
                let summary = &j["returnvalue"];
                if summary["alreadyDone"] != Value::Bool(true) {
                    *did_work.entry(key.clone()).or_default() += 1;
                }
                job_status.insert(key, summary["status"].as_str().unwrap_or("?").to_string());
            }
            "failed" => {
                let reason = j["failedReason"].as_str().unwrap_or("");
                if reason.is_empty() {
                    problems.push(format!("job {} failed without a reason", j["id"]));
                }
                let code = reason.split(':').next().unwrap_or("").to_string();
                *report.failed_by_code.entry(code.clone()).or_default() += 1;
                failure_code.insert(key.clone(), code);
                job_status.entry(key).or_insert_with(|| "failed".into());
            }
            other => problems.push(format!("job {} stuck {other}", j["id"])),
        }
    }
    for (key, n) in &did_work {
        if *n > 1 {
            problems.push(format!("{key}: {n} jobs completed it, not idempotently"));
        }
    }

    let rt = &world.s3.rt;
    let storage = world.s3.storage();
    let pool = rt.block_on(sqlx::PgPool::connect(&world.pg.url())).unwrap();
    let rows: Vec<(String, String, serde_json::Value)> = rt
        .block_on(
            sqlx::query_as("SELECT file_key, status, variants FROM attachments ORDER BY file_key")
                .fetch_all(&pool),
        )
        .unwrap();
    let published: Vec<(String, i64)> = rt
        .block_on(
            sqlx::query_as(
                "SELECT file_key, count(*) FROM attachment_events
                 WHERE decision = 'published' GROUP BY file_key",
            )
            .fetch_all(&pool),
        )
        .unwrap();
    let published: BTreeMap<String, i64> = published.into_iter().collect();
    let mut objects: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = rt
            .block_on(storage.list("variants/", after.as_deref(), 1000))
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|o| o.key.clone());
        objects.extend(page.into_iter().map(|o| o.key));
    }
    let mut by_owner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in objects {
        let owner = key
            .strip_prefix("variants/")
            .and_then(|k| k.rsplit_once('/'))
            .map(|(owner, _)| owner.to_string())
            .unwrap_or_default();
        by_owner.entry(owner).or_default().insert(key);
    }

    let rows: BTreeMap<&str, (&str, &Value)> = rows
        .iter()
        .map(|(key, status, variants)| (key.as_str(), (status.as_str(), variants)))
        .collect();
    for upload in uploads {
        let key = upload.key.as_str();
        let Some(&(status, variants)) = rows.get(key) else {
            problems.push(format!("{key}: its row is gone"));
            continue;
        };
        *report.rows_by_status.entry(status.to_string()).or_default() += 1;
        let listed: BTreeSet<String> = variants
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["key"].as_str().unwrap().to_string())
            .collect();
        let stored = by_owner.remove(key).unwrap_or_default();
        match status {
            "ready" => {
                if listed != stored {
                    problems.push(format!(
                        "{key}: ready with variants {listed:?}, storage holds {stored:?}"
                    ));
                }
                // More than one event is possible without a double publish: the event is
                // written before the row changes, so an attempt cut off in between (a
                // database crash, a lost claim) writes it again; double work shows in
                // `did_work` above.
                if !published.contains_key(key) {
                    problems.push(format!("{key}: ready without a published event"));
                }
            }
            "failed" | "quarantined" => {
                if !stored.is_empty() {
                    problems.push(format!("{key}: {status} but storage holds {stored:?}"));
                }
            }
            other => problems.push(format!("{key}: row left {other}")),
        }
        match job_status.get(key) {
            Some(s) if s == status => {}
            Some(s) => problems.push(format!("{key}: row {status}, its job says {s}")),
            None => problems.push(format!("{key}: no job")),
        }
        // A good file may fail only for an outage that outlasted its attempts; any other
        // code on it is a bug the faults exposed.
        if upload.kind != Kind::Hostile && status != "ready" {
            let code = failure_code.get(key).map(String::as_str).unwrap_or("");
            let outage = attachd::error::Code::ALL
                .iter()
                .find(|c| c.as_str() == code)
                .is_some_and(|c| {
                    c.dependency().is_some() || *c == attachd::error::Code::AttachmentBusy
                });
            if outage {
                report.good_failed_in_outages += 1;
            } else {
                problems.push(format!(
                    "{key}: a good {:?} ended {status} ({code})",
                    upload.kind
                ));
            }
        }
    }
    for (owner, objects) in by_owner {
        problems.push(format!(
            "{owner}: variant objects without a row: {objects:?}"
        ));
    }
    rt.block_on(pool.close());
}

impl Report {
    fn print(&self) {
        let s = &self.shape;
        println!();
        println!(
            "chaos: {} uploads ({}), {} workers, seed {}, faults for {} s",
            self.kinds.values().sum::<usize>(),
            self.kinds
                .iter()
                .map(|(k, n)| format!("{n} {k:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            s.workers,
            s.seed,
            s.fault_window.as_secs()
        );
        println!("| what | count |");
        println!("|---|---:|");
        let f = &self.faults;
        for (what, n) in [
            ("workers killed (kill -9) and replaced", f.kills),
            ("Redis crashes (kill -9) and restarts", f.redis_restarts),
            (
                "PostgreSQL crashes (immediate stop) and restarts",
                f.pg_restarts,
            ),
            ("object store outages", f.s3_outages),
            ("jobs in the queue at the end", self.jobs),
            (
                "of which adds the producer resent after a Redis crash",
                self.added_again,
            ),
            ("jobs completed", self.completed),
        ] {
            println!("| {what} | {n} |");
        }
        for (code, n) in &self.failed_by_code {
            println!("| jobs failed: {code} | {n} |");
        }
        for (status, n) in &self.rows_by_status {
            println!("| rows {status} | {n} |");
        }
        println!(
            "| good uploads failed by an outage longer than their attempts | {} |",
            self.good_failed_in_outages
        );
        println!(
            "| workers that exited 0 on SIGTERM | {} of {} |",
            self.clean_exits, self.exits
        );
        println!(
            "| lost, stuck or double-published | {} |",
            self.problems.len()
        );
        println!(
            "| time to the last job | {:.1} s |",
            self.elapsed.as_secs_f64()
        );
        for p in &self.problems {
            println!("problem: {p}");
        }
    }

    fn assert_clean(&self) {
        assert!(self.problems.is_empty(), "{:#?}", self.problems);
        let f = &self.faults;
        assert!(
            f.kills > 0 && f.redis_restarts > 0 && f.pg_restarts > 0 && f.s3_outages > 0,
            "every kind of fault happened"
        );
        assert_eq!(
            self.clean_exits, self.exits,
            "every worker exits 0 on SIGTERM"
        );
        assert_eq!(
            self.completed + self.failed_by_code.values().sum::<usize>(),
            self.jobs
        );
    }
}

fn seed() -> u64 {
    std::env::var("ATTACH_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        })
}

#[test]
fn chaos_short_run_loses_no_upload_and_publishes_none_twice() {
    let report = chaos(Shape {
        jobs: 100,
        workers: 3,
        fault_window: Duration::from_secs(40),
        fault_every: Duration::from_secs(7),
        s3_outage: Duration::from_secs(5),
        seed: seed(),
    });
    report.print();
    report.assert_clean();
}

/// `make chaos`: the full run, then throughput with 1, 2 and 3 workers on the same load, then
/// memory per concurrent job.
#[test]
#[ignore = "minutes long: make chaos runs it on an optimised build"]
fn chaos_full() {
    let report = chaos(Shape {
        jobs: 1000,
        workers: 3,
        fault_window: Duration::from_secs(240),
        fault_every: Duration::from_secs(15),
        s3_outage: Duration::from_secs(20),
        seed: seed(),
    });
    report.print();
    report.assert_clean();

    println!();
    println!("| workers | jobs | seconds | jobs/s | memory per worker: idle, peak (MiB) |");
    println!("|---:|---:|---:|---:|---|");
    for workers in 1..=3 {
        let load = throughput(workers, 300);
        println!(
            "| {workers} | {} | {:.1} | {:.1} | {} |",
            load.jobs,
            load.secs,
            load.jobs as f64 / load.secs,
            load.memory
                .iter()
                .map(|(idle, peak)| format!("{idle}, {peak}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    sizing();
}

/// Memory per concurrent job: one worker at concurrency 1 and 3 on a load of one kind only
/// (24 MP photos with the default variants, or 1-second H.264 clips), its resident memory
/// once ready and at its peak. ffmpeg's own memory is another process's (bounded by
/// `ATTACH_VIDEO_MEMORY`) and not in these figures.
fn sizing() {
    use attach_fixtures as fx;
    let photo = fx::jpeg(&fx::photo(6000, 4000, 1), 90);
    println!();
    println!("| load | concurrency | idle (MiB) | peak (MiB) | per concurrent job (MiB) |");
    println!("|---|---:|---:|---:|---:|");
    for (label, kind, mime, bytes) in [
        ("24 MP JPEG photos", Kind::Photo, "image/jpeg", photo),
        ("1 s H.264 clips", Kind::Video, "video/mp4", Vec::new()),
    ] {
        for concurrency in [1usize, 3] {
            let world = World::start();
            let bytes = if kind == Kind::Video {
                common::clips::h264_clip(world.dir.path())
            } else {
                bytes.clone()
            };
            let files = vec![(kind, mime, bytes)];
            let uploads = put_uploads(&world, &files, &[0; 12], "size");
            let mut cmd = world.attachd();
            cmd.arg("worker")
                .env("ATTACH_METRICS_ADDR", "127.0.0.1:0")
                .env("ATTACH_CLEANUP_CRON", "off")
                .env("ATTACH_QUEUE_CONCURRENCY", concurrency.to_string());
            let worker = WorkerProcess::start(cmd);
            let idle = memory_mib(worker.pid()).0;
            run_load(&world, &uploads);
            let peak = memory_mib(worker.pid()).1;
            println!(
                "| {label} | {concurrency} | {idle} | {peak} | {} |",
                peak.saturating_sub(idle) / concurrency as u64
            );
            worker.stop();
        }
    }
}

/// One job per upload, added at once by the Node producer; returns when no job is left to
/// run.
fn run_load(world: &World, uploads: &[Upload]) {
    let payloads: Vec<Value> = uploads
        .iter()
        .map(|u| json!({ "fileKey": u.key, "mimeType": u.mime, "size": u.size }))
        .collect();
    let file = world.dir.path().join("load.json");
    std::fs::write(&file, serde_json::to_vec(&payloads).unwrap()).unwrap();
    world.node(
        "stream",
        json!({ "queue": PROCESS, "name": PROCESS, "payloadsFile": file, "intervalMs": 0 }),
    );
    wait_for("the load to finish", DRAIN_TIMEOUT, || {
        quiet(world).then_some(())
    });
}

/// A process's resident memory now and at its peak, in MiB (Linux `/proc`).
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Load {
    jobs: usize,
    secs: f64,
    /// Each worker's resident memory once ready, and its peak under the load (MiB).
    memory: Vec<(u64, u64)>,
}

/// The same load (`n` uploads, the chaos mix, fixed seed) through `workers` workers, no
/// faults: jobs and seconds from the first add to the last job's end, and each worker's
/// memory.
fn throughput(workers: usize, n: usize) -> Load {
    let world = World::start();
    let mut rng = attach_fixtures::Rng::new(7);
    let uploads = ingest(&world, n, &mut rng, "load");
    let running: Vec<WorkerProcess> = (0..workers).map(|_| world.worker()).collect();
    let idle: Vec<u64> = running.iter().map(|w| memory_mib(w.pid()).0).collect();
    let started = Instant::now();
    run_load(&world, &uploads);
    let secs = started.elapsed().as_secs_f64();
    let memory = running
        .iter()
        .zip(idle)
        .map(|(w, idle)| (idle, memory_mib(w.pid()).1))
        .collect();
    for w in running {
        w.stop();
    }
    Load {
        jobs: n,
        secs,
        memory,
    }
}
