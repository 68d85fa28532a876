//! What `attachd worker` says about the services it needs: a Redis that is not there at
//! start or goes away while it runs is a warning naming it, its address and the error,
//! repeated while it lasts, with `/readyz` answering 503 with the reason; the worker takes
//! jobs once Redis answers, and exits 0 on SIGTERM even while still waiting. `attachd worker
//! --check` asks every configured service once.
//!
//! Each test runs its own `redis-server` on a free loopback port (Debian's package;
//! `scripts/setup.sh` installs it), so it can stop and start it; the data directory is the
//! test's own (local storage + SQLite).

mod common;

use common::worker::{free_port, spawn_redis_server, Stack, WorkerProcess, READY_TIMEOUT, WAIT};
use std::process::Child;
use std::time::Duration;

/// The password of the tests' own Redis: the worker's log, `/readyz` and `--check` must
/// never show it.
const REDIS_PASSWORD: &str = "s3cret-redis-pw";

/// A throwaway `redis-server` on `port` with [`REDIS_PASSWORD`]: no persistence, gone when
/// dropped.
struct Redis(Child);

impl Redis {
    fn start(port: u16, dir: &std::path::Path) -> Redis {
        Redis(spawn_redis_server(
            port,
            dir,
            &["--appendonly", "no", "--requirepass", REDIS_PASSWORD],
        ))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `attachd worker` on `redis_url`, metrics on `metrics_port`, not waited for.
fn spawn_worker(stack: &Stack, redis_url: &str, metrics_port: u16) -> WorkerProcess {
    let mut cmd = stack.attachd();
    cmd.arg("worker")
        .env("ATTACH_REDIS_URL", redis_url)
        .env("ATTACH_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("ATTACH_CLEANUP_CRON", "off")
        .env("NO_COLOR", "1");
    let mut worker = WorkerProcess::spawn(cmd);
    worker.metrics_addr = format!("127.0.0.1:{metrics_port}");
    worker
}

/// `GET /readyz`, retried while the listener is not up yet.
fn readyz(worker: &WorkerProcess) -> (u16, String) {
    common::worker::wait_for("the metrics listener", READY_TIMEOUT, || {
        std::net::TcpStream::connect(&worker.metrics_addr)
            .ok()
            .map(|_| ())
    });
    worker.http_get("/readyz")
}

/// Waits for `/readyz` to answer `status` with a body containing `needle` (the answer is
/// cached for a moment, so it may take a few polls to change).
fn wait_readyz(worker: &WorkerProcess, status: u16, needle: &str) -> String {
    common::worker::wait_for(&format!("/readyz {status} with {needle:?}"), WAIT, || {
        let (got, body) = readyz(worker);
        (got == status && body.contains(needle)).then_some(body)
    })
}

#[test]
fn a_worker_started_before_redis_says_why_it_waits_then_works_then_says_when_redis_goes_and_comes_back(
) {
    let stack = Stack::new();
    let port = free_port();
    let url = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{port}");
    let mut worker = spawn_worker(&stack, &url, free_port());
    // Said with the password hidden.
    let url = format!("redis://:***@127.0.0.1:{port}");

    // Not there at start: a warning naming the service, its address and the cause ...
    worker.wait_log(&format!("redis at {url} is unreachable: "));
    let line = worker
        .log()
        .into_iter()
        .find(|l| l.contains("is unreachable"))
        .unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.to_lowercase().contains("refused"), "the cause: {line}");
    // ... and /readyz says the same.
    let body = wait_readyz(&worker, 503, "starting: waiting for redis at");
    assert!(body.contains(&url), "{body}");

    // Redis comes up: the worker takes jobs without a restart.
    let redis = Redis::start(port, stack.dir.path());
    worker.wait_ready(Duration::from_secs(60) + READY_TIMEOUT);
    wait_readyz(&worker, 200, "ready");
    worker.wait_log(&format!("redis at {url} answers again after"));
    assert_eq!(
        worker.metric("attachments_dependency_up{dependency=\"redis\"}"),
        1.0
    );
    assert_eq!(
        worker.metric("attachments_dependency_up{dependency=\"database\"}"),
        1.0
    );
    assert_eq!(
        worker.metric("attachments_dependency_up{dependency=\"storage\"}"),
        1.0
    );

    // Redis goes away while the worker runs: said again, and /readyz is 503 with the cause.
    let warnings_before = count(&worker, "is unreachable");
    drop(redis);
    common::worker::wait_for("a second outage warning", WAIT, || {
        (count(&worker, "is unreachable") > warnings_before).then_some(())
    });
    let body = wait_readyz(&worker, 503, &format!("redis at {url}"));
    assert!(body.starts_with("not ready: "), "{body}");
    common::worker::wait_for("attachments_dependency_up 0", WAIT, || {
        (worker.metric("attachments_dependency_up{dependency=\"redis\"}") == 0.0).then_some(())
    });

    // Back: said once, ready again, and SIGTERM still ends it cleanly.
    let backs_before = count(&worker, "answers again after");
    let _redis = Redis::start(port, stack.dir.path());
    common::worker::wait_for("the recovery line", WAIT, || {
        (count(&worker, "answers again after") > backs_before).then_some(())
    });
    wait_readyz(&worker, 200, "ready");
    let log = worker.log().join("\n");
    assert!(
        !log.contains(REDIS_PASSWORD),
        "no password in the log:\n{log}"
    );
    worker.stop();
}

fn count(worker: &WorkerProcess, needle: &str) -> usize {
    worker.log().iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn a_worker_waiting_for_its_database_says_so_without_the_password_and_exits_zero_on_sigterm() {
    let stack = Stack::new();
    let port = free_port();
    let mut cmd = stack.attachd();
    cmd.arg("worker")
        .env(
            "ATTACH_DATABASE_URL",
            format!("postgres://app:pg-s3cret@127.0.0.1:{port}/x"),
        )
        .env("ATTACH_METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("NO_COLOR", "1");
    let metrics_addr = cmd
        .get_envs()
        .find(|(k, _)| *k == "ATTACH_METRICS_ADDR")
        .and_then(|(_, v)| v)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut worker = WorkerProcess::spawn(cmd);
    worker.metrics_addr = metrics_addr;
    let address = format!("postgres://app:***@127.0.0.1:{port}/x");
    worker.wait_log(&format!("database at {address} is unreachable: "));
    let body = wait_readyz(&worker, 503, "starting: waiting for database at");
    assert!(body.contains(&address), "{body}");
    assert!(!worker.log().join("\n").contains("pg-s3cret"));
    assert!(!body.contains("pg-s3cret"));
    worker.signal("-TERM");
    let (code, lines) = worker.wait_exit();
    assert_eq!(code, Some(0));
    assert!(
        lines.iter().any(|l| l.contains("\"beforeReady\":true")),
        "{lines:?}"
    );
}

/// `attachd worker --check` with `env` over the stack's settings: exit code and stdout lines.
fn check(stack: &Stack, env: &[(&str, &str)]) -> (Option<i32>, Vec<String>) {
    let mut cmd = stack.attachd();
    cmd.args(["worker", "--check"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (out.status.code(), lines)
}

#[test]
fn worker_check_prints_a_line_per_service_and_fails_if_any_does_not_answer() {
    let stack = Stack::new();
    let (code, lines) = check(&stack, &[]);
    assert_eq!(code, Some(0), "{lines:#?}");
    let services: Vec<String> = lines
        .iter()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(services, ["ok redis", "ok database", "ok storage"]);

    // A Redis with a password that is not there, and a clamd that is not there either.
    let dead = free_port();
    let (code, lines) = check(
        &stack,
        &[
            (
                "ATTACH_REDIS_URL",
                &format!("redis://:s3cret-pw@127.0.0.1:{dead}"),
            ),
            (
                "ATTACH_VSCAN_ENDPOINT",
                &format!("tcp://127.0.0.1:{}", free_port()),
            ),
        ],
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    let text = lines.join("\n");
    assert!(
        lines[0].starts_with(&format!("FAIL  redis     redis://:***@127.0.0.1:{dead}: ")),
        "{text}"
    );
    assert!(lines[1].starts_with("ok    database"), "{text}");
    assert!(lines[3].starts_with("FAIL  clamd"), "{text}");
    assert!(!text.contains("s3cret-pw"), "no password printed: {text}");
}

#[test]
fn a_secret_in_a_database_url_parameter_is_in_no_output() {
    // sqlx warns of a parameter it does not know, value included: libpq's sslpassword is one.
    let stack = Stack::new();
    let url = format!(
        "postgres://app@127.0.0.1:{}/x?sslpassword=pg-param-s3cret&p%61ssword=pg-encoded-s3cret",
        free_port()
    );
    let out = stack
        .attachd()
        .args(["worker", "--check"])
        .env("ATTACH_DATABASE_URL", &url)
        .env("ATTACH_WORKER_LOG_LEVEL", "debug")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  database"), "{text}");
    assert!(!text.contains("pg-param-s3cret"), "{text}");
    assert!(!text.contains("pg-encoded-s3cret"), "{text}");
}

#[test]
fn log_lines_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    // A journal or a container's log keeps escape sequences as text.
    let stack = Stack::new();
    let url = format!("redis://127.0.0.1:{}", free_port());
    let mut cmd = stack.attachd();
    cmd.arg("worker")
        .env("ATTACH_REDIS_URL", &url)
        .env("ATTACH_METRICS_ADDR", "127.0.0.1:0")
        .env_remove("NO_COLOR");
    let worker = WorkerProcess::spawn(cmd);
    worker.wait_log(&format!("redis at {url} is unreachable"));
    let log = worker.log().join("\n");
    assert!(!log.contains('\u{1b}'), "{log:?}");
    worker.signal("-TERM");
    assert_eq!(worker.wait_exit().0, Some(0));
}

#[test]
fn readiness_names_a_redis_that_accepts_but_never_answers() {
    // /readyz bounds each check under its own 2 s bound on the whole answer, so the answer
    // names the service instead of saying only that the checks timed out.
    use attachd::metrics::Readiness;
    use attachd::queue::RedisTarget;
    use attachd::worker::{HealthChecks, READY_PART_TIMEOUT};
    let rt = common::worker::runtime();
    let data = tempfile::tempdir().unwrap();
    rt.block_on(async {
        // Accepts connections and never writes a byte back.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let db_url = attachd::db::Db::default_url(data.path());
        let db = attachd::db::Db::connect(&db_url).await.unwrap();
        db.migrate().await.unwrap();
        let storage = attachd::storage::LocalStorage::open(&data.path().join("objects"))
            .await
            .unwrap();
        let checks = HealthChecks {
            db,
            database_address: db_url,
            storage: std::sync::Arc::new(storage),
            redis: RedisTarget::Server(format!("redis://127.0.0.1:{port}")),
            storage_prefix: "uploads/".into(),
        };
        let answer = checks.ready().await;
        assert_eq!(
            answer,
            Err(format!(
                "redis at redis://127.0.0.1:{port}: no answer within {} ms",
                READY_PART_TIMEOUT.as_millis()
            ))
        );
    });
}
