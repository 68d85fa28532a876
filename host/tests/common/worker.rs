//! The queue tests' harness: the `attachd` command for one test's data directory and Redis
//! prefix, the npm `bullmq` side (`tests/interop/bull.mjs`), and a real `attachd worker`
//! process, ready once it prints its ready line, with its stdout lines, its stderr log and
//! its `/metrics`.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A cold start compiles the guests before the ready line: minutes on a loaded 2-core machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a test waits for anything else the worker does.
pub const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// Polls `f` until it returns `Some`, failing the test at the deadline.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on the loopback `port`.
pub fn wait_listening(what: &str, port: u16) {
    wait_for(what, WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
}

/// A `redis-server` of the test's own on the loopback `port`, its files in `dir`, no RDB
/// snapshots, and `extra` arguments (AOF, a password, cluster mode); returned once it listens.
/// The caller stops it.
pub fn spawn_redis_server(port: u16, dir: &Path, extra: &[&str]) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (scripts/setup.sh installs it)");
    wait_listening("redis-server", port);
    child
}

pub fn redis_url() -> String {
    std::env::var("ATTACH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `tests/interop`, where npm `bullmq` is installed (`make test` runs `npm ci` there).
pub fn interop_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop"));
    assert!(
        dir.join("node_modules/bullmq").is_dir(),
        "npm bullmq is not installed: run `cd tests/interop && npm ci`"
    );
    dir
}

/// `attachd` for one test: its own data directory (local store + SQLite) and Redis prefix,
/// the built guests, and none of the caller's storage, database or scanner settings.
pub fn attachd(data: &Path, prefix: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_attachd"));
    for var in [
        "ATTACH_CONFIG",
        "ATTACH_DATABASE_URL",
        "ATTACH_STORAGE",
        "ATTACH_S3_BUCKET",
        "ATTACH_VSCAN_ENDPOINT",
        "ATTACH_AUDIT_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("ATTACH_DATA_DIR", data)
        .env("ATTACH_GUEST_DIR", super::guest_dir())
        .env("ATTACH_CACHE_DIR", super::cache_dir())
        .env("ATTACH_REDIS_URL", redis_url())
        .env("ATTACH_QUEUE_PREFIX", prefix);
    cmd
}

/// `node bull.mjs <command> <args>` (see the commands at the top of that file).
pub fn node_command(command: &str, args: &Value) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(interop_dir())
        .arg("bull.mjs")
        .arg(command)
        .arg(args.to_string())
        .env("ATTACH_REDIS_URL", redis_url());
    cmd
}

/// The last JSON line a finished node command printed; a failed command fails the test.
pub fn parse_node(out: std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().expect("node printed nothing")).unwrap()
}

/// Deletes every Redis key under `prefix`: a test leaves Redis as it found it.
pub fn remove_keys(prefix: &str) -> redis::RedisResult<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = redis::Client::open(redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(())
    })
}

/// A Redis key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("attach-test-{}", uuid::Uuid::new_v4().simple())
}

/// A current-thread runtime, for the blocking tests' few async calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One queue test's world: a data directory (local store + SQLite) and a Redis prefix, both
/// its own, so the tests run in parallel. The prefix's keys go when it drops. Suites add
/// their own methods in an `impl Stack` of their own.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub prefix: String,
}

impl Stack {
    /// Fails at once, rather than in the first node call, when npm `bullmq` is missing.
    pub fn new() -> Stack {
        interop_dir();
        let dir = tempfile::tempdir().unwrap();
        Stack {
            data: dir.path().join("data"),
            prefix: redis_prefix(),
            dir,
        }
    }

    pub fn attachd(&self) -> Command {
        attachd(&self.data, &self.prefix)
    }

    /// `attachd ingest --key <key> <args> <file>`: the object and its `uploaded` row, as the
    /// API would leave them.
    pub fn ingest_file(&self, key: &str, args: &[&str], file: &Path) -> Value {
        let out = self
            .attachd()
            .args(["ingest", "--key", key])
            .args(args)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ingest: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Starts `attachd worker` with `env` (over the test defaults: metrics on a free port, no
    /// cleanup schedule, no colours) and waits for its ready line.
    pub fn start_worker(&self, env: &[(&str, &str)]) -> WorkerProcess {
        let mut cmd = self.attachd();
        cmd.arg("worker")
            .env("ATTACH_METRICS_ADDR", "127.0.0.1:0")
            .env("ATTACH_CLEANUP_CRON", "off")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        WorkerProcess::start(cmd)
    }

    /// `node bull.mjs <command>` on this test's prefix, finished.
    pub fn node(&self, command: &str, args: Value) -> Value {
        parse_node(self.node_command(command, args).output().unwrap())
    }

    /// `node bull.mjs <command>` on this test's prefix, to run or spawn.
    pub fn node_command(&self, command: &str, mut args: Value) -> Command {
        args["prefix"] = Value::from(self.prefix.as_str());
        node_command(command, &args)
    }

    /// The worker's database (SQLite in the data directory).
    pub fn db(&self) -> attachd::db::Db {
        use attachd::db::Db;
        runtime()
            .block_on(Db::connect(&Db::default_url(&self.data)))
            .unwrap()
    }
}

impl Drop for Stack {
    /// Leaves Redis as it was: the test's keys go with it.
    fn drop(&mut self) {
        let _ = remove_keys(&self.prefix);
    }
}

/// An `attachd` process (a worker, a server) with its stdout lines on a channel and every
/// stderr line kept (the log, and the audit stream unless sent to a file).
pub fn spawn_logged(mut cmd: Command) -> (Child, mpsc::Receiver<String>, Arc<Mutex<Vec<String>>>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn attachd");
    let (tx, stdout) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let sink = stderr.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    (child, stdout, stderr)
}

pub struct WorkerProcess {
    child: Child,
    pub metrics_addr: String,
    stdout: mpsc::Receiver<String>,
    /// Every stderr line so far (the log, and the audit stream unless sent to a file).
    stderr: Arc<Mutex<Vec<String>>>,
}

impl WorkerProcess {
    /// Spawns `cmd` (an `attachd worker` command with its environment set) and waits for the
    /// ready line; a worker that never gets ready fails the test with its log.
    pub fn start(cmd: Command) -> WorkerProcess {
        let mut worker = WorkerProcess::spawn(cmd);
        worker.wait_ready(READY_TIMEOUT);
        worker
    }

    /// Spawns `cmd` without waiting for anything: `metrics_addr` is empty until
    /// [`WorkerProcess::wait_ready`] (or the test sets it).
    pub fn spawn(cmd: Command) -> WorkerProcess {
        let (child, stdout, stderr) = spawn_logged(cmd);
        WorkerProcess {
            child,
            metrics_addr: String::new(),
            stdout,
            stderr,
        }
    }

    /// Waits up to `timeout` for the ready line (the first line on stdout) and takes the
    /// metrics address from it; no ready line fails the test with the worker's log.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let line = self.stdout.recv_timeout(timeout).unwrap_or_else(|_| {
            let _ = self.child.kill();
            panic!(
                "attachd worker did not become ready:\n{}",
                self.stderr.lock().unwrap().join("\n")
            )
        });
        let ready: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(ready["event"], "ready", "{line}");
        self.metrics_addr = ready["metricsAddr"].as_str().unwrap().to_string();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path` on the metrics listener: the status and the body.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(&self.metrics_addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The value of one series in `/metrics` (0 when absent).
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.http_get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    pub fn wait_metric(&self, series: &str, at_least: f64) -> f64 {
        wait_for(series, WAIT, || {
            let v = self.metric(series);
            (v >= at_least).then_some(v)
        })
    }

    /// The stderr lines so far.
    pub fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_log(&self, needle: &str) {
        let found = || {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
        };
        let deadline = Instant::now() + WAIT;
        while !found() {
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(POLL);
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits for the process to exit; its exit code and the lines it printed on stdout.
    pub fn wait_exit(mut self) -> (Option<i32>, Vec<String>) {
        let code = wait_for("attachd to exit", WAIT, || {
            self.child.try_wait().unwrap().map(|s| s.code())
        });
        let lines = self.stdout.try_iter().collect();
        (code, lines)
    }

    /// SIGTERM, then a clean exit.
    pub fn stop(self) {
        self.signal("-TERM");
        let (code, _) = self.wait_exit();
        assert_eq!(code, Some(0));
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
