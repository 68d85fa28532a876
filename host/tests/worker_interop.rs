//! `attachd worker` against the real npm `bullmq` (tests/interop, pinned by its lockfile) and a
//! real Redis: Node produces and observes, the real `attachd` binary consumes. Each test has its
//! own Redis key prefix and data directory (local storage + SQLite), so they run in parallel.
//!
//! Needs: Redis (ATTACH_TEST_REDIS_URL, default redis://127.0.0.1:6379), Node 20 with
//! `npm ci` done in tests/interop, and the guests (`make guests`). `make test` does all three.

mod common;

use attachd::db::{Claim, Db};
use common::worker::{parse_node, runtime, wait_for, Stack, WorkerProcess as Worker, WAIT};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PROCESS: &str = "attachments.process";
const CLEANUP: &str = "attachments.cleanup.orphan";
const SAMPLE: &str = "photo-orientation6.jpg";

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// One test's world: a Redis prefix and a data directory.
type World = Stack;

impl Stack {
    fn objects(&self) -> PathBuf {
        self.data.join("objects")
    }

    /// `attachd ingest` of the sample photo.
    fn ingest(&self, key: &str) -> Value {
        self.ingest_file(key, &[], &repo().join("samples").join(SAMPLE))
    }

    /// Starts `attachd worker` and waits for its ready line. Test speeds: locks of 2 s checked
    /// every second, so a killed worker's job is retaken within seconds; no cleanup schedule
    /// unless asked.
    fn worker(&self, env: &[(&str, &str)]) -> Worker {
        let speeds = [
            ("ATTACH_QUEUE_LOCK_DURATION", "2s"),
            ("ATTACH_QUEUE_STALLED_INTERVAL", "1s"),
            ("ATTACH_WORKER_LOG_LEVEL", "info,attachd=info"),
        ];
        self.start_worker(&[&speeds[..], env].concat())
    }

    /// A node command left running (e.g. watching a job the test is about to unblock).
    fn node_spawn(&self, command: &str, args: Value) -> Child {
        self.node_command(command, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn upload_payload(upload: &Value) -> Value {
    json!({
        "fileKey": upload["fileKey"],
        "mimeType": upload["mimeType"],
        "size": upload["size"],
    })
}

/// Events the stream recorded for the job, in order.
fn stream_events(report: &Value) -> Vec<String> {
    report["stream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

fn count(events: &[String], name: &str) -> usize {
    events.iter().filter(|e| *e == name).count()
}

/// Holds the upload's row as another worker would (`processing` under a foreign token), so
/// attachd's attempts fail with the retryable `attachment-busy` until `lease` runs out.
fn hold_claim(world: &World, key: &str, lease: Duration) {
    let db = world.db();
    let claim = runtime()
        .block_on(db.claim(key, "held-by-the-test", lease))
        .unwrap();
    assert!(matches!(claim, Claim::Claimed(_)), "{claim:?}");
}

/// Holds SQLite's write lock (`BEGIN EXCLUSIVE`) from another connection, as a busy writer
/// would: a job that reaches its first database write waits there (up to the database's
/// 10 s busy timeout), which makes "a job in flight" a state the test controls. Dropping the
/// returned sender releases the lock.
fn hold_db_write_lock(world: &World) -> mpsc::Sender<()> {
    use sqlx::Connection;
    let url = Db::default_url(&world.data);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .unwrap();
            held_tx.send(()).unwrap();
            let _ = tokio::task::spawn_blocking(move || release_rx.recv()).await;
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        })
    });
    held_rx
        .recv_timeout(WAIT)
        .expect("took the database write lock");
    release_tx
}

fn job_state(world: &World, queue: &str, id: &str) -> Value {
    world.node("inspect", json!({ "queue": queue, "jobId": id }))["job"].clone()
}

#[test]
fn node_producer_gets_attachds_summary_for_a_real_upload() {
    let world = World::new();
    let upload = world.ingest("uploads/photo.jpg");
    let worker = world.worker(&[]);
    let report = world.node(
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS, "data": upload_payload(&upload),
            "opts": { "attempts": 3, "backoff": { "type": "exponential", "delay": 1000 } },
            "watch": true,
        }),
    );
    assert_eq!(report["error"], Value::Null, "{report:#}");
    let summary = &report["result"];
    assert_eq!(summary["fileKey"], "uploads/photo.jpg");
    assert_eq!(summary["status"], "ready");
    assert_eq!(summary["checksum"], upload["checksum"]);
    assert_eq!(summary["alreadyDone"], false);
    assert!(!summary["variants"].as_array().unwrap().is_empty());
    // What Node reads back from Redis agrees.
    let job = &report["job"];
    assert_eq!(job["state"], "completed");
    assert_eq!(&job["returnvalue"], summary);
    assert_eq!(job["attemptsMade"], 1);
    assert!(job["processedBy"].as_str().unwrap().starts_with("attachd-"));
    assert_eq!(
        report["counts"],
        json!({ "waiting": 0, "active": 0, "delayed": 0, "completed": 1, "failed": 0, "prioritized": 0 })
    );
    assert_eq!(
        stream_events(&report),
        ["added", "waiting", "active", "completed"]
    );
    // Node's QueueEvents delivered the same events.
    assert_eq!(
        report["events"],
        json!(["added", "waiting", "active", "completed"])
    );

    worker.wait_metric(
        "attachments_jobs_processed_total{queue=\"attachments.process\"}",
        1.0,
    );
    let (_, metrics) = worker.http_get("/metrics");
    assert!(metrics.contains("attachments_job_duration_seconds_count{outcome=\"completed\",queue=\"attachments.process\"} 1"));
    assert!(metrics
        .contains("attachments_queue_depth{queue=\"attachments.process\",state=\"waiting\"} 0"));
    assert_eq!(worker.http_get("/healthz").0, 200);
    assert_eq!(worker.http_get("/readyz"), (200, "ready\n".into()));
    worker.stop();
}

#[test]
fn retryable_failure_is_retried_with_the_producers_backoff_then_completes() {
    let world = World::new();
    let upload = world.ingest("uploads/busy.jpg");
    let worker = world.worker(&[]);
    // Another holder's claim on the row: attempts fail `attachment-busy` until it is given back,
    // which the test does once three attempts have failed.
    hold_claim(&world, "uploads/busy.jpg", Duration::from_secs(600));
    let id = uuid::Uuid::new_v4().to_string();
    let watcher = world.node_spawn(
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS, "data": upload_payload(&upload),
            "opts": { "jobId": id, "attempts": 10, "backoff": { "type": "exponential", "delay": 400 } },
            "watch": true,
        }),
    );
    wait_for("three failed attempts", WAIT, || {
        let job = job_state(&world, PROCESS, &id);
        (job["attemptsMade"].as_u64() >= Some(3)).then_some(())
    });
    let released = runtime()
        .block_on(
            world
                .db()
                .release("uploads/busy.jpg", "held-by-the-test", "test", "given back"),
        )
        .unwrap();
    assert!(released);
    let report = parse_node(watcher.wait_with_output().unwrap());
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["result"]["status"], "ready");
    let events = stream_events(&report);
    let retries = count(&events, "delayed");
    assert!(retries >= 3, "{events:?}");
    assert_eq!(count(&events, "completed"), 1);
    assert_eq!(count(&events, "failed"), 0);
    // Each retry waited the producer's exponential backoff: 400, 800, 1600 ms...
    let delayed: Vec<&Value> = report["stream"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "delayed")
        .collect();
    for (i, e) in delayed.iter().enumerate() {
        let at: i64 = e["delay"].as_str().unwrap().parse().unwrap();
        let emitted: i64 = e["streamId"]
            .as_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let expected = 400i64 << i;
        assert!(
            (at - emitted - expected).abs() < 250,
            "retry {i}: waits {} ms, expected {expected}",
            at - emitted
        );
    }
    let job = &report["job"];
    assert_eq!(job["state"], "completed");
    assert_eq!(job["attemptsMade"], retries as u64 + 1);
    // The reason of the failed attempts is what Node shows while the job waits to retry.
    assert!(
        job["failedReason"]
            .as_str()
            .unwrap()
            .starts_with("attachment-busy: "),
        "{job:#}"
    );
    worker.wait_metric(
        "attachments_jobs_retried_total{code=\"attachment-busy\",queue=\"attachments.process\"}",
        retries as f64,
    );
    worker.stop();
}

#[test]
fn permanent_failure_fails_at_once_with_its_code_and_reason_visible_to_node() {
    let world = World::new();
    let worker = world.worker(&[]);
    let report = world.node(
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS,
            "data": { "fileKey": "uploads/never-uploaded.jpg", "mimeType": "image/jpeg", "size": 10 },
            "opts": { "attempts": 5, "backoff": { "type": "fixed", "delay": 100 } },
            "watch": true,
        }),
    );
    let reason = "object-not-found: object `uploads/never-uploaded.jpg` does not exist";
    // Node's waitUntilFinished rejects with the failedReason.
    assert_eq!(report["error"], reason, "{report:#}");
    let job = &report["job"];
    assert_eq!(job["state"], "failed");
    assert_eq!(job["failedReason"], reason);
    assert_eq!(job["attemptsMade"], 1, "no retry despite 5 attempts");
    let events = stream_events(&report);
    assert_eq!(events, ["added", "waiting", "active", "failed"]);
    assert_eq!(report["counts"]["failed"], 1);
    worker.wait_metric(
        "attachments_jobs_failed_total{code=\"object-not-found\",queue=\"attachments.process\"}",
        1.0,
    );
    worker.stop();
}

#[test]
fn exhausted_attempts_end_failed_with_retries_exhausted_as_node_expects() {
    let world = World::new();
    let a = world.ingest("uploads/held-a.jpg");
    let b = world.ingest("uploads/held-b.jpg");
    // Jobs that set no attempts get the worker's default policy (3 here, fixed 200 ms).
    let worker = world.worker(&[
        ("ATTACH_QUEUE_DEFAULT_ATTEMPTS", "3"),
        ("ATTACH_QUEUE_DEFAULT_BACKOFF", "fixed:200ms"),
    ]);
    hold_claim(&world, "uploads/held-a.jpg", Duration::from_secs(600));
    hold_claim(&world, "uploads/held-b.jpg", Duration::from_secs(600));
    let producer_set = world.node_spawn(
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS, "data": upload_payload(&a),
            "opts": { "attempts": 3, "backoff": { "type": "fixed", "delay": 200 } },
            "watch": true,
        }),
    );
    let defaulted = world.node_spawn(
        "add",
        json!({ "queue": PROCESS, "name": PROCESS, "data": upload_payload(&b), "opts": {}, "watch": true }),
    );

    for (report, who) in [
        (
            parse_node(producer_set.wait_with_output().unwrap()),
            "producer's attempts",
        ),
        (
            parse_node(defaulted.wait_with_output().unwrap()),
            "default attempts",
        ),
    ] {
        let error = report["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("attachment-busy: "), "{who}: {report:#}");
        let job = &report["job"];
        assert_eq!(job["state"], "failed", "{who}");
        assert_eq!(job["failedReason"], error, "{who}");
        assert_eq!(job["attemptsStarted"], 3, "{who}");
        let events = stream_events(&report);
        assert_eq!(count(&events, "delayed"), 2, "{who}: {events:?}");
        assert_eq!(count(&events, "active"), 3, "{who}: {events:?}");
        // Node's worker emits `failed` then `retries-exhausted` on the last attempt.
        assert_eq!(
            events[events.len() - 2..],
            ["failed".to_string(), "retries-exhausted".to_string()],
            "{who}"
        );
        let listened = report["events"].as_array().unwrap();
        assert_eq!(listened.last().unwrap(), "retries-exhausted", "{who}");
    }
    worker.wait_metric(
        "attachments_jobs_failed_total{code=\"attachment-busy\",queue=\"attachments.process\"}",
        2.0,
    );
    worker.stop();
}

#[test]
fn a_killed_workers_job_is_recovered_by_another_and_completed_once() {
    let world = World::new();
    let upload = world.ingest("uploads/slow.jpg");
    let first = world.worker(&[]);
    let lock = hold_db_write_lock(&world);
    let added = world.node(
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS, "data": upload_payload(&upload),
            "opts": { "attempts": 3, "backoff": { "type": "fixed", "delay": 500 } },
        }),
    );
    let id = added["jobId"].as_str().unwrap().to_string();
    let watcher = world.node_spawn("watch", json!({ "queue": PROCESS, "jobId": id }));
    // In flight on the first worker: active, waiting for the database.
    wait_for("the job to be active", WAIT, || {
        (job_state(&world, PROCESS, &id)["state"] == "active").then_some(())
    });
    first.signal("-KILL");
    let (code, _) = first.wait_exit();
    assert_eq!(code, None, "killed by a signal");
    drop(lock);

    let second = world.worker(&[]);
    let report = parse_node(watcher.wait_with_output().unwrap());
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["result"]["status"], "ready");
    assert_eq!(report["result"]["alreadyDone"], false);
    let events = stream_events(&report);
    // Recovered through the stalled check, completed exactly once, never failed.
    assert_eq!(count(&events, "stalled"), 1, "{events:?}");
    assert_eq!(count(&events, "completed"), 1, "{events:?}");
    assert_eq!(count(&events, "failed"), 0, "{events:?}");
    let job = &report["job"];
    assert_eq!(job["state"], "completed");
    assert_eq!(job["attemptsStarted"], 2, "{job:#}");
    assert_eq!(job["attemptsMade"], 1, "the stall cost no attempt");
    assert_eq!(report["counts"]["completed"], 1);
    assert_eq!(report["counts"]["active"], 0);
    second.wait_metric(
        "attachments_jobs_stalled_total{queue=\"attachments.process\"}",
        1.0,
    );
    let row = runtime()
        .block_on(world.db().get("uploads/slow.jpg"))
        .unwrap()
        .unwrap();
    assert_eq!(row.status.as_str(), "ready");
    second.stop();
}

#[test]
fn sigterm_lets_the_job_in_flight_finish_takes_no_new_one_and_exits_zero() {
    let world = World::new();
    let upload = world.ingest("uploads/in-flight.jpg");
    let worker = world.worker(&[("ATTACH_SHUTDOWN_GRACE", "60s")]);
    let lock = hold_db_write_lock(&world);
    let added = world.node(
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS, "data": upload_payload(&upload),
            "opts": { "attempts": 3 },
        }),
    );
    let id = added["jobId"].as_str().unwrap().to_string();
    wait_for("the job to be active", WAIT, || {
        (job_state(&world, PROCESS, &id)["state"] == "active").then_some(())
    });
    worker.signal("-TERM");
    worker.wait_log("shutting down: taking no new jobs");
    // Added after the signal: must stay waiting for another worker.
    let later = world.node(
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS,
            "data": { "fileKey": "uploads/later.jpg", "mimeType": "image/jpeg", "size": 1 },
            "opts": { "attempts": 3 },
        }),
    );
    drop(lock);
    let (code, stdout) = worker.wait_exit();
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(stdout.last().unwrap()).unwrap(),
        json!({ "event": "stopped", "cutOff": 0 })
    );
    let job = job_state(&world, PROCESS, &id);
    assert_eq!(job["state"], "completed", "{job:#}");
    assert_eq!(job["returnvalue"]["status"], "ready");
    let later = job_state(&world, PROCESS, later["jobId"].as_str().unwrap());
    assert_eq!(later["state"], "waiting", "{later:#}");
}

#[test]
fn cleanup_schedule_runs_once_per_period_with_two_workers() {
    let world = World::new();
    // An orphan: uploaded three hours ago and never processed.
    world.ingest("uploads/orphan.jpg");
    let db = world.db();
    let three_hours_ago = chrono::Utc::now() - chrono::Duration::hours(3);
    assert!(runtime()
        .block_on(db.backdate("uploads/orphan.jpg", three_hours_ago))
        .unwrap());

    let env = [("ATTACH_CLEANUP_CRON", "1s")];
    let first = world.worker(&env);
    let second = world.worker(&env);
    let runs = 4;
    let seen = wait_for("cleanup runs", WAIT, || {
        let r = world.node("inspect", json!({ "queue": CLEANUP, "completed": true }));
        (r["counts"]["completed"].as_u64().unwrap() >= runs).then_some(r)
    });
    assert_eq!(seen["schedulersCount"], 1, "{seen:#}");
    assert_eq!(seen["schedulers"][0]["every"], 1000);
    assert_eq!(seen["schedulers"][0]["name"], CLEANUP);
    assert!(seen["counts"]["delayed"].as_u64().unwrap() <= 1, "{seen:#}");
    // One job per period: scheduler job ids are `repeat:<id>:<slot millis>`, and no slot
    // was run twice (which N independent schedules would do).
    let mut slots: Vec<u64> = seen["completedIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            id.as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    slots.sort();
    for pair in slots.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= 1000 && gap % 1000 == 0, "slots {slots:?}");
    }
    // The runs did the work.
    assert!(runtime()
        .block_on(db.get("uploads/orphan.jpg"))
        .unwrap()
        .is_none());
    assert!(!world.objects().join("uploads/orphan.jpg").exists());
    let total = first.metric("attachments_cleanup_runs_total{outcome=\"ok\"}")
        + second.metric("attachments_cleanup_runs_total{outcome=\"ok\"}");
    assert!(total >= 1.0);
    // A worker restarting does not add a schedule either.
    second.stop();
    let third = world.worker(&env);
    let after = world.node("inspect", json!({ "queue": CLEANUP }));
    assert_eq!(after["schedulersCount"], 1);
    third.stop();
    first.stop();
}

#[test]
fn requeue_sends_failed_uploads_back_once_and_a_worker_completes_them() {
    let world = World::new();
    let (lost, bad) = ("uploads/abandoned.jpg", "uploads/bad.jpg");
    world.ingest(lost);
    world.ingest(bad);
    // As cleanup leaves an abandoned upload, and an upload that failed for its own reasons.
    let db = world.db();
    for (key, code) in [(lost, "processing-abandoned"), (bad, "malformed-input")] {
        let sql = format!(
            "UPDATE attachments SET status = 'failed', error_code = '{code}', \
             error_message = 'test' WHERE file_key = '{key}'"
        );
        assert_eq!(runtime().block_on(db.execute_unchecked(&sql)).unwrap(), 1);
    }
    let requeue = |extra: &[&str]| -> Vec<Value> {
        let out = world
            .attachd()
            .args(["requeue", "--code", "processing-abandoned"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    let dry = requeue(&["--dry-run"]);
    assert_eq!(dry[0]["fileKey"], lost);
    assert_eq!(dry[0]["jobId"], Value::Null);
    assert_eq!(dry.last().unwrap()["enqueued"], 0);
    let counts = &world.node("inspect", json!({ "queue": PROCESS }))["counts"];
    assert_eq!(counts["waiting"], 0, "a dry run enqueues nothing");

    let first = requeue(&[]);
    assert_eq!(
        first.len(),
        2,
        "only the abandoned upload, then the summary: {first:?}"
    );
    let id = first[0]["jobId"].as_str().unwrap().to_string();
    let again = requeue(&[]);
    assert_eq!(
        again[0]["jobId"],
        id.as_str(),
        "the same job, not a second one"
    );
    let counts = &world.node("inspect", json!({ "queue": PROCESS }))["counts"];
    assert_eq!(counts["waiting"], 1, "{counts}");

    let worker = world.worker(&[]);
    wait_for("the requeued upload to be ready", WAIT, || {
        let row = runtime().block_on(db.get(lost)).unwrap().unwrap();
        (row.status.as_str() == "ready").then_some(())
    });
    let job = job_state(&world, PROCESS, &id);
    assert_eq!(job["state"], "completed", "{job:#}");
    let other = runtime().block_on(db.get(bad)).unwrap().unwrap();
    assert_eq!(
        other.status.as_str(),
        "failed",
        "other failures are left alone"
    );
    worker.stop();
}

/// Makes `keys`' rows an hour old, past any test's orphan age.
fn make_stale(world: &World, keys: &[&str]) {
    let db = world.db();
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    for key in keys {
        assert!(
            runtime().block_on(db.backdate(key, hour_ago)).unwrap(),
            "{key}"
        );
    }
}

/// Whether the local store holds `key` (asked through the store: object files are not named
/// after their keys one to one).
fn object_exists(world: &World, key: &str) -> bool {
    runtime().block_on(async {
        let store = attachd::storage::LocalStorage::open(&world.objects())
            .await
            .unwrap();
        attachd::storage::Storage::head(&store, key)
            .await
            .unwrap()
            .is_some()
    })
}

fn row_status(world: &World, key: &str) -> Option<String> {
    let db = world.db();
    runtime()
        .block_on(db.get(key))
        .unwrap()
        .map(|r| r.status.as_str().to_string())
}

#[test]
fn cleanup_keeps_uploads_whose_jobs_wait_in_a_paused_queue_and_they_then_process() {
    let world = World::new();
    let (orphan, queued, retry) = (
        "uploads/never-enqueued.jpg",
        "uploads/queued.jpg",
        "uploads/scanner-retry.jpg",
    );
    world.ingest(orphan);
    let upload = world.ingest(queued);
    let retried = world.ingest(retry);
    // The API's process job, under an id only the API knows, in a paused queue; and a scanner
    // retry due in an hour.
    assert_eq!(
        world.node("pause", json!({ "queue": PROCESS }))["paused"],
        true
    );
    let added = world.node(
        "add",
        json!({ "queue": PROCESS, "name": PROCESS, "data": upload_payload(&upload),
                "opts": { "jobId": "api-7f3a", "attempts": 3 } }),
    );
    assert_eq!(added["jobId"], "api-7f3a");
    let mut retry_data = upload_payload(&retried);
    retry_data["scanTries"] = json!(1);
    let vscan = "attachments.vscan.retry";
    world.node(
        "add",
        json!({ "queue": vscan, "name": vscan, "data": retry_data,
                "opts": { "delay": 3_600_000 } }),
    );
    // All three untouched for an hour: by age alone, all three are orphans.
    make_stale(&world, &[orphan, queued, retry]);

    let worker = world.worker(&[
        ("ATTACH_ORPHAN_MAX_AGE", "2s"),
        ("ATTACH_CLEANUP_CRON", "1s"),
        // The scanner backoff must stay below the orphan age (the policy's own check).
        ("ATTACH_VSCAN_RETRY_CAP", "1s"),
        ("ATTACH_VSCAN_RETRY_BASE", "1s"),
    ]);
    wait_for("cleanup to remove the never-enqueued upload", WAIT, || {
        row_status(&world, orphan).is_none().then_some(())
    });
    assert!(!object_exists(&world, orphan));
    // A run after that one too: keeping them is not a matter of timing.
    let runs = worker.metric("attachments_cleanup_runs_total{outcome=\"ok\"}");
    worker.wait_metric("attachments_cleanup_runs_total{outcome=\"ok\"}", runs + 1.0);
    for key in [queued, retry] {
        assert_eq!(
            row_status(&world, key).as_deref(),
            Some("uploaded"),
            "{key}"
        );
        assert!(object_exists(&world, key), "{key}");
    }

    assert_eq!(
        world.node("resume", json!({ "queue": PROCESS }))["paused"],
        false
    );
    wait_for("the queued upload to be processed", WAIT, || {
        (row_status(&world, queued).as_deref() == Some("ready")).then_some(())
    });
    let job = job_state(&world, PROCESS, "api-7f3a");
    assert_eq!(job["state"], "completed", "{job:#}");
    worker.stop();
}

#[test]
fn cleanup_command_keeps_queued_uploads_and_deletes_nothing_without_redis() {
    let world = World::new();
    let (orphan, queued) = ("uploads/never-enqueued.jpg", "uploads/queued.jpg");
    world.ingest(orphan);
    let upload = world.ingest(queued);
    // Waiting: no worker runs.
    world.node(
        "add",
        json!({ "queue": PROCESS, "name": PROCESS, "data": upload_payload(&upload) }),
    );
    make_stale(&world, &[orphan, queued]);
    let cleanup = |redis: Option<&str>| {
        let mut cmd = world.attachd();
        cmd.args(["cleanup", "--max-age", "2s"]);
        if let Some(url) = redis {
            cmd.env("ATTACH_REDIS_URL", url);
        }
        cmd.output().unwrap()
    };

    // Redis unreachable: the queue cannot be read, so nothing may go.
    let down = cleanup(Some("redis://127.0.0.1:1"));
    assert!(!down.status.success(), "{down:?}");
    for key in [orphan, queued] {
        assert_eq!(
            row_status(&world, key).as_deref(),
            Some("uploaded"),
            "{key}"
        );
    }

    let out = cleanup(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rowsRemoved"], 1, "{report:#}");
    assert_eq!(report["queuedKept"], 1, "{report:#}");
    assert_eq!(report["queueScanIncomplete"], false);
    assert_eq!(row_status(&world, orphan), None);
    assert_eq!(row_status(&world, queued).as_deref(), Some("uploaded"));
    assert!(object_exists(&world, queued));
    assert!(!object_exists(&world, orphan));
}

#[test]
fn a_worker_without_an_antivirus_endpoint_warns_at_start_and_audits_it() {
    use sqlx::Connection;
    let world = World::new();
    // The harness removes ATTACH_VSCAN_ENDPOINT from the worker's environment.
    let worker = world.worker(&[]);
    worker.wait_log("security setting: ATTACH_VSCAN_ENDPOINT is unset");
    let warn = worker
        .log()
        .into_iter()
        .find(|l| l.contains("security setting: ATTACH_VSCAN_ENDPOINT is unset"))
        .unwrap();
    assert!(warn.contains("WARN"), "{warn}");
    let url = Db::default_url(&world.data);
    let stored: i64 = runtime().block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM attachment_events \
             WHERE decision = 'config-weakened' AND reason LIKE '%ATTACH_VSCAN_ENDPOINT is unset%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    });
    assert_eq!(stored, 1);
    worker.stop();
}
