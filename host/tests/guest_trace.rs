//! Tracing uploads to the guest releases that processed them, and processing them again: the
//! job records the releases on the row and in its summary, a re-process job re-opens only the
//! rows a release touched, and `attachd requeue --guest-digest` finds and enqueues them. Real
//! guests (`ATTACH_GUEST_DIR`), real PostgreSQL and SQLite, real Redis for the queue.

mod common;

use attach_fixtures as fx;
use attachd::db::{Attachment, Backend, Db, GuestDigest, Status};
use attachd::error::{Class, ErrorCode};
use attachd::job::{Handler, HandlerDeps, ProcessPayload, Summary};
use attachd::queue::{BullBackend, RedisTarget};
use attachd::sandbox::GuestRef;
use attachd::storage::{self, LocalStorage, Storage};
use attachd::vscan;
use common::db::TestDb;
use common::job::{photo_jpeg, sha256};
use common::worker::{runtime, wait_for, WorkerProcess, WAIT};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// The guest releases in the guest directory, as a job should record them: each manifest's
/// name and version, and the sha256 of its wasm computed here.
fn releases() -> Vec<GuestRef> {
    let dir = common::guest_dir();
    attachd::release::GUESTS
        .map(|(name, _)| name)
        .iter()
        .map(|name| {
            let manifest: Value =
                serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap())
                    .unwrap();
            let wasm = std::fs::read(dir.join(manifest["file"].as_str().unwrap())).unwrap();
            GuestRef {
                name: (*name).to_owned(),
                version: manifest["version"]
                    .as_str()
                    .unwrap_or("unversioned")
                    .to_owned(),
                sha256: sha256(&wasm),
            }
        })
        .collect()
}

/// Sorted by name, to compare sets of releases whatever order a run lists them in.
fn by_name(mut guests: Vec<GuestRef>) -> Vec<GuestRef> {
    guests.sort_by(|a, b| a.name.cmp(&b.name));
    guests
}

/// The probe release's sha256, by its first `len` digits.
fn probe_digest(len: usize) -> String {
    releases()[0].sha256[..len].to_owned()
}

/// A release no deployment ran: recorded on a row to stand for "processed by another release".
const OTHER_RELEASE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Makes a row say another release processed it (as a row from before a guest upgrade does).
async fn record_other_release(db: &Db, key: &str) {
    let sql = format!(
        "UPDATE attachments SET guests = '[{{\"name\":\"probe\",\"version\":\"0.9.0\",\"sha256\":\"{OTHER_RELEASE}\"}}]' \
         WHERE file_key = '{key}'"
    );
    assert_eq!(db.execute_unchecked(&sql).await.unwrap(), 1);
}

/// One test's world: a local store and a database of its own.
struct World {
    storage: Arc<LocalStorage>,
    db: TestDb,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(backend: Backend) -> World {
        let (storage, dir) = common::job::temp_store().await;
        World {
            storage,
            db: TestDb::migrated(backend).await,
            _dir: dir,
        }
    }

    fn handler(&self) -> Handler {
        Handler::new(common::handler_deps(
            common::pipeline(),
            self.storage.clone(),
            self.db.db.clone(),
        ))
    }

    async fn upload(&self, key: &str, data: &[u8], mime: &str) -> ProcessPayload {
        common::job::upload(&*self.storage, key, data, mime).await
    }

    async fn row(&self, key: &str) -> Attachment {
        self.db.db.get(key).await.unwrap().unwrap()
    }

    /// The variant objects in storage for `key`, by key.
    async fn stored_variants(&self, key: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .storage
            .list(&storage::variants_prefix(key), None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys
    }

    /// The seed rule: the row lists exactly the variants present in storage (none unless
    /// `ready`), each with its recorded size.
    async fn assert_lists_exactly_what_is_stored(&self, key: &str) {
        let row = self.row(key).await;
        let mut listed: Vec<String> = row.variants.iter().map(|v| v.key.clone()).collect();
        listed.sort();
        assert_eq!(listed, self.stored_variants(key).await, "{key}: {row:?}");
        if row.status != Status::Ready {
            assert!(listed.is_empty(), "only a ready row lists variants");
        }
        for v in &row.variants {
            let bytes = self.storage.get(&v.key, 1 << 30).await.unwrap();
            assert_eq!(bytes.len() as u64, v.bytes, "{}", v.key);
        }
    }

    async fn decisions(&self, key: &str) -> Vec<String> {
        self.db
            .db
            .events(key)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.decision)
            .collect()
    }
}

fn reprocess(payload: &ProcessPayload, digest: &str) -> ProcessPayload {
    ProcessPayload {
        reprocess_guest_digest: Some(digest.to_owned()),
        ..payload.clone()
    }
}

/// Each behaviour once per database.
macro_rules! on_both_databases {
    ($($behaviour:ident),* $(,)?) => {$(
        mod $behaviour {
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$behaviour(super::World::new(attachd::db::Backend::Postgres).await).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$behaviour(super::World::new(attachd::db::Backend::Sqlite).await).await
            }
        }
    )*};
}

on_both_databases!(
    rows_and_summaries_record_every_guest_whatever_the_verdict,
    a_reprocess_job_reopens_a_touched_ready_row_and_publishes_it_again,
    a_reprocess_job_for_a_row_the_digest_did_not_touch_changes_nothing,
    a_reprocess_that_now_fails_leaves_no_variant_listed_or_stored,
    a_reprocess_with_fewer_variants_removes_the_ones_it_no_longer_renders,
    a_reprocess_payload_with_an_invalid_digest_is_refused_before_the_row_is_touched,
    a_reprocess_that_waits_for_the_scanner_leaves_no_variant_listed_or_stored,
);

async fn rows_and_summaries_record_every_guest_whatever_the_verdict(w: World) {
    let expected = by_name(releases());
    assert_eq!(expected.len(), attachd::release::GUESTS.len());
    let handler = w.handler();

    let ready = w
        .upload("uploads/a/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    let summary = handler.process(&ready).await.expect("processed");
    assert_eq!(summary.status, Status::Ready);
    assert_eq!(by_name(summary.guests.clone()), expected);
    assert_eq!(
        w.row(&ready.file_key).await.guests,
        Some(summary.guests.clone())
    );
    // The BullMQ return value carries them as `guests: [{name, version, sha256}]`.
    let json = serde_json::to_value(&summary).unwrap();
    let names: Vec<&str> = json["guests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), attachd::release::GUESTS.len(), "{json}");
    assert!(json["guests"][0]["sha256"].as_str().unwrap().len() == 64);
    assert!(json["guests"][0]["version"].is_string());
    // So does the publication's audit event.
    let events = w.db.db.events(&ready.file_key).await.unwrap();
    let published = events.iter().find(|e| e.decision == "published").unwrap();
    assert_eq!(published.details["guests"], json["guests"]);

    let failed = w
        .upload("uploads/f/bomb.png", &fx::png_bomb_30000(), "image/png")
        .await;
    let e = handler.process(&failed).await.unwrap_err();
    assert_eq!((e.code(), e.class()), ("too-many-pixels", Class::Permanent));
    let row = w.row(&failed.file_key).await;
    assert_eq!(row.status, Status::Failed);
    assert_eq!(row.guests.map(by_name), Some(expected.clone()));

    let hostile = w
        .upload("uploads/q/page.png", &fx::html_page(), "image/png")
        .await;
    let summary = handler.process(&hostile).await.expect("quarantined");
    assert_eq!(summary.status, Status::Quarantined);
    assert_eq!(by_name(summary.guests.clone()), expected);
    assert_eq!(
        w.row(&hostile.file_key).await.guests.map(by_name),
        Some(expected.clone())
    );

    // A job that stops before the guests run records none.
    let mut mismatch = w
        .upload("uploads/m/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    mismatch.checksum = Some("ab".repeat(32));
    handler.process(&mismatch).await.unwrap_err();
    assert_eq!(w.row(&mismatch.file_key).await.guests, None);
}

async fn a_reprocess_job_reopens_a_touched_ready_row_and_publishes_it_again(w: World) {
    let handler = w.handler();
    let payload = w
        .upload("uploads/a/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    handler.process(&payload).await.expect("processed");
    let before = w.row(&payload.file_key).await;
    tokio::time::sleep(Duration::from_millis(20)).await; // so processed_at visibly moves

    let digest = probe_digest(12);
    let summary: Summary = handler
        .process(&reprocess(&payload, &digest))
        .await
        .expect("re-processed");
    assert_eq!(summary.status, Status::Ready);
    assert!(!summary.already_done, "it ran again");
    let after = w.row(&payload.file_key).await;
    assert_eq!(after.status, Status::Ready);
    assert!(
        after.processed_at > before.processed_at,
        "processed_at moved"
    );
    assert_eq!(after.attempts, before.attempts + 1);
    assert_eq!(after.guests.clone().map(by_name), Some(by_name(releases())));
    assert_eq!(after.variants, summary.variants);
    w.assert_lists_exactly_what_is_stored(&payload.file_key)
        .await;

    // The decision is on the record, naming the release.
    let events = w.db.db.events(&payload.file_key).await.unwrap();
    let reopened = events
        .iter()
        .find(|e| e.decision == "reprocessed")
        .expect("a reprocessed event");
    assert_eq!(reopened.details["guestDigest"], digest.as_str());
    assert_eq!(reopened.details["guest"]["name"], "probe");
    assert!(
        reopened.reason.contains(&releases()[0].sha256),
        "{}",
        reopened.reason
    );
    let decisions = w.decisions(&payload.file_key).await;
    let at = decisions.iter().position(|d| d == "reprocessed").unwrap();
    assert_eq!(decisions.last().unwrap(), "published", "{decisions:?}");
    assert!(at < decisions.len() - 1, "{decisions:?}");

    // A plain process job (a duplicate of the API's) still finds the row done.
    let plain = handler.process(&payload).await.unwrap();
    assert!(plain.already_done);
    assert_eq!(w.row(&payload.file_key).await, after);
}

async fn a_reprocess_job_for_a_row_the_digest_did_not_touch_changes_nothing(w: World) {
    let handler = w.handler();
    let other = w
        .upload("uploads/b/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    handler.process(&other).await.expect("processed");
    record_other_release(&w.db.db, &other.file_key).await;
    let before = w.row(&other.file_key).await;

    let summary = handler
        .process(&reprocess(&other, &probe_digest(64)))
        .await
        .expect("a no-op, not an error");
    assert!(summary.already_done);
    assert_eq!(summary.status, Status::Ready);
    assert_eq!(w.row(&other.file_key).await, before, "nothing changed");
    assert!(!w
        .decisions(&other.file_key)
        .await
        .contains(&"reprocessed".into()));
    w.assert_lists_exactly_what_is_stored(&other.file_key).await;

    // Nor does it re-open a failed row another release failed (or one no guest ran for).
    let failed = w
        .upload("uploads/f/bomb.png", &fx::png_bomb_30000(), "image/png")
        .await;
    handler.process(&failed).await.unwrap_err();
    record_other_release(&w.db.db, &failed.file_key).await;
    let before = w.row(&failed.file_key).await;
    let summary = handler
        .process(&reprocess(&failed, &probe_digest(12)))
        .await
        .expect("a no-op");
    assert_eq!(summary.status, Status::Failed);
    assert_eq!(w.row(&failed.file_key).await, before);
}

async fn a_reprocess_that_now_fails_leaves_no_variant_listed_or_stored(w: World) {
    let handler = w.handler();
    let data = photo_jpeg();
    let payload = w.upload("uploads/a/photo.jpg", &data, "image/jpeg").await;
    handler.process(&payload).await.expect("processed");
    assert_eq!(w.stored_variants(&payload.file_key).await.len(), 2);

    // The original changed under the row (same size, other bytes): the re-process fails for
    // good, and the row must not list, nor storage keep, the variants of the old run.
    let mut other = data.clone();
    let last = other.len() - 3;
    other[last] ^= 0xff;
    w.storage
        .put(&payload.file_key, other.into(), "image/jpeg")
        .await
        .unwrap();
    let e = handler
        .process(&reprocess(&payload, &probe_digest(16)))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("checksum-mismatch", Class::Permanent)
    );
    let row = w.row(&payload.file_key).await;
    assert_eq!(row.status, Status::Failed);
    assert!(row.variants.is_empty());
    assert!(w.stored_variants(&payload.file_key).await.is_empty());
    w.assert_lists_exactly_what_is_stored(&payload.file_key)
        .await;
    // The guests did not run this time: the row still names the releases that last did, so
    // it can be found (and re-processed once the original is back) by the same digest.
    assert_eq!(row.guests.map(by_name), Some(by_name(releases())));
    w.storage
        .put(&payload.file_key, data.into(), "image/jpeg")
        .await
        .unwrap();
    let summary = handler
        .process(&reprocess(&payload, &probe_digest(16)))
        .await
        .expect("re-processed");
    assert_eq!(summary.status, Status::Ready);
    w.assert_lists_exactly_what_is_stored(&payload.file_key)
        .await;
}

async fn a_reprocess_with_fewer_variants_removes_the_ones_it_no_longer_renders(w: World) {
    let handler = w.handler();
    let payload = w
        .upload("uploads/a/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    handler.process(&payload).await.expect("processed");
    assert_eq!(w.row(&payload.file_key).await.variants.len(), 2);

    let only_thumb = ProcessPayload {
        variants: vec!["thumb".into()],
        ..reprocess(&payload, &probe_digest(12))
    };
    let summary = handler.process(&only_thumb).await.expect("re-processed");
    let names: Vec<&str> = summary.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["thumb"]);
    w.assert_lists_exactly_what_is_stored(&payload.file_key)
        .await;
}

async fn a_reprocess_payload_with_an_invalid_digest_is_refused_before_the_row_is_touched(w: World) {
    let handler = w.handler();
    let payload = w
        .upload("uploads/a/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    handler.process(&payload).await.expect("processed");
    let before = w.row(&payload.file_key).await;
    let upper = probe_digest(12).to_uppercase();
    for bad in ["abc", upper.as_str(), "%", "0123456789ab%", &"a".repeat(65)] {
        let e = handler
            .process(&reprocess(&payload, bad))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.class()),
            ("invalid-payload", Class::Permanent),
            "{bad}"
        );
    }
    assert_eq!(w.row(&payload.file_key).await, before);
}

async fn a_reprocess_that_waits_for_the_scanner_leaves_no_variant_listed_or_stored(w: World) {
    let payload = w
        .upload("uploads/a/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    w.handler().process(&payload).await.expect("processed");
    assert_eq!(w.stored_variants(&payload.file_key).await.len(), 2);

    // The antivirus is configured now, and down: the re-process gives the row back to wait
    // for it (a scanner retry job on the queue), with the old run's variants gone.
    let prefix = Prefix(common::worker::redis_prefix());
    let queue = BullBackend::connect(&RedisTarget::Server(common::worker::redis_url()), &prefix.0)
        .await
        .unwrap();
    let dead = vscan::Clamd {
        endpoint: "unix:///nonexistent-attachd-test/clamd.ctl"
            .parse()
            .unwrap(),
        connect_timeout: Duration::from_secs(1),
        io_timeout: Duration::from_secs(1),
        max_stream: 1 << 30,
    };
    let handler = Handler::new(HandlerDeps {
        policy: Arc::new(vscan::Policy {
            scanner: Some(dead),
            ..vscan::Policy::default()
        }),
        queue: Some(Arc::new(queue)),
        ..common::handler_deps(common::pipeline(), w.storage.clone(), w.db.db.clone())
    });
    let summary = handler
        .process(&reprocess(&payload, &probe_digest(12)))
        .await
        .expect("waiting is not failing");
    assert_eq!(summary.waiting_on.as_deref(), Some("scanner"));
    let row = w.row(&payload.file_key).await;
    assert_eq!(row.status, Status::Uploaded);
    assert!(w.stored_variants(&payload.file_key).await.is_empty());
    w.assert_lists_exactly_what_is_stored(&payload.file_key)
        .await;
}

#[test]
fn guest_digests_are_12_to_64_lowercase_hex_digits() {
    for good in ["0123456789ab", &"f".repeat(64), &probe_digest(40)] {
        assert_eq!(GuestDigest::parse(good).unwrap().as_str(), good);
    }
    for bad in [
        "",
        "0123456789a",
        &"a".repeat(65),
        "0123456789AB",
        "0123456789ag",
        "0123456789a%",
        "0123456789a_",
        "0123456789a ",
    ] {
        assert!(GuestDigest::parse(bad).is_err(), "{bad:?}");
    }
}

// ---- attachd requeue --guest-digest ----

/// `attachd` for one test: its data directory, Redis prefix and database (`db_url`: the
/// worker's SQLite in the data directory when `None`).
fn attachd(data: &Path, prefix: &str, db_url: Option<&str>) -> Command {
    let mut cmd = common::worker::attachd(data, prefix);
    if let Some(url) = db_url {
        cmd.env("ATTACH_DATABASE_URL", url);
    }
    cmd
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Redis, as the test reads the queue: the length of a list, whether a key exists.
fn redis<T: redis::FromRedisValue>(cmd: redis::Cmd) -> T {
    runtime().block_on(async {
        let client = redis::Client::open(common::worker::redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    })
}

/// Removes the test's Redis keys when dropped (on a thread of its own: an async test's
/// runtime cannot be blocked on).
struct Prefix(String);

impl Drop for Prefix {
    fn drop(&mut self) {
        let prefix = self.0.clone();
        let _ = std::thread::spawn(move || common::worker::remove_keys(&prefix)).join();
    }
}

fn requeue_guest_digest_reprocesses_exactly_the_touched_rows(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let prefix = Prefix(common::worker::redis_prefix());
    let pg = (backend == Backend::Postgres).then(|| runtime().block_on(TestDb::migrated(backend)));
    let url = pg.as_ref().map(|t| t.url.clone());
    let cmd = || attachd(&data, &prefix.0, url.as_deref());
    let db = match &url {
        Some(url) => runtime().block_on(Db::connect(url)).unwrap(),
        None => {
            std::fs::create_dir_all(&data).unwrap();
            runtime()
                .block_on(Db::connect(&Db::default_url(&data)))
                .unwrap()
        }
    };
    if url.is_none() {
        runtime().block_on(db.migrate()).unwrap();
    }

    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, photo_jpeg()).unwrap();
    let (touched, other) = ("uploads/touched.jpg", "uploads/other.jpg");
    for key in [touched, other] {
        let out = cmd()
            .args(["ingest", "--key", key])
            .arg(&photo)
            .output()
            .unwrap();
        json_lines(&out);
    }
    let processed = json_lines(
        &cmd()
            .args(["process", "--store", touched, other])
            .output()
            .unwrap(),
    );
    assert!(
        processed.iter().all(|s| s["status"] == "ready"),
        "{processed:?}"
    );
    assert_eq!(
        processed[0]["guests"].as_array().unwrap().len(),
        attachd::release::GUESTS.len()
    );
    runtime().block_on(record_other_release(&db, other));
    let row = |key: &str| runtime().block_on(db.get(key)).unwrap().unwrap();
    let (touched_before, other_before) = (row(touched), row(other));

    let digest = probe_digest(12);
    let requeue = |extra: &[&str]| {
        json_lines(
            &cmd()
                .args(["requeue", "--guest-digest", &digest])
                .args(extra)
                .output()
                .unwrap(),
        )
    };
    let dry = requeue(&["--dry-run"]);
    assert_eq!(
        dry.len(),
        2,
        "the touched upload, then the summary: {dry:?}"
    );
    assert_eq!(dry[0]["fileKey"], touched);
    assert_eq!(dry[0]["jobId"], Value::Null);
    assert_eq!(dry[0]["guestDigest"], releases()[0].sha256.as_str());
    assert_eq!(dry[1]["found"], 1);
    assert_eq!(dry[1]["enqueued"], 0);
    let wait_list = format!("{}:attachments.process:wait", prefix.0);
    let waiting = || redis::<i64>(redis::cmd("LLEN").arg(&wait_list).clone());
    assert_eq!(waiting(), 0, "a dry run enqueues nothing");

    let first = requeue(&[]);
    assert_eq!(first.len(), 2, "{first:?}");
    let id = first[0]["jobId"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("reprocess-") && id.ends_with(&releases()[0].sha256),
        "{id}"
    );
    assert_eq!(first[1]["enqueued"], 1);
    let again = requeue(&[]);
    assert_eq!(
        again[0]["jobId"],
        id.as_str(),
        "the same job, not a second one"
    );
    assert_eq!(waiting(), 1);
    let job: std::collections::HashMap<String, String> = redis(
        redis::cmd("HGETALL")
            .arg(format!("{}:attachments.process:{id}", prefix.0))
            .clone(),
    );
    let payload: Value = serde_json::from_str(&job["data"]).unwrap();
    assert_eq!(
        payload["reprocessGuestDigest"],
        releases()[0].sha256.as_str()
    );
    assert_eq!(payload["fileKey"], touched);

    let mut worker = cmd();
    worker
        .arg("worker")
        .env("ATTACH_METRICS_ADDR", "127.0.0.1:0")
        .env("ATTACH_CLEANUP_CRON", "off")
        .env("NO_COLOR", "1");
    let worker = WorkerProcess::start(worker);
    let after = wait_for("the touched upload to be processed again", WAIT, || {
        let r = row(touched);
        (r.status == Status::Ready && r.processed_at > touched_before.processed_at).then_some(r)
    });
    worker.stop();
    assert_eq!(after.attempts, touched_before.attempts + 1);
    assert!(runtime()
        .block_on(db.events(touched))
        .unwrap()
        .iter()
        .any(|e| e.decision == "reprocessed" && e.job_id.as_deref() == Some(id.as_str())));
    assert_eq!(
        row(other),
        other_before,
        "the other release's upload is left alone"
    );
    // Processed again by the same releases, the upload is still theirs: a new run of the
    // command would send it again, under the same job id (BullMQ keeps one job per id).
    let last = requeue(&["--dry-run"]);
    assert_eq!(last[0]["fileKey"], touched);
}

#[test]
fn requeue_guest_digest_reprocesses_exactly_the_touched_rows_on_sqlite() {
    requeue_guest_digest_reprocesses_exactly_the_touched_rows(Backend::Sqlite)
}

#[test]
fn requeue_guest_digest_reprocesses_exactly_the_touched_rows_on_postgres() {
    requeue_guest_digest_reprocesses_exactly_the_touched_rows(Backend::Postgres)
}

#[test]
fn requeue_refuses_an_invalid_guest_digest_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = Prefix(common::worker::redis_prefix());
    for (bad, says) in [
        ("abc", "12 to 64 hex digits"),
        ("0123456789AB", "lowercase hex"),
        ("0123456789a%", "lowercase hex"),
        (&*"a".repeat(65), "12 to 64 hex digits"),
    ] {
        let out = attachd(dir.path(), &prefix.0, None)
            .args(["requeue", "--guest-digest", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains("--guest-digest") && stderr.contains(says),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    // It selects by release alone: with a status or code it is refused too.
    let out = attachd(dir.path(), &prefix.0, None)
        .args(["requeue", "--guest-digest", "0123456789ab", "--code", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !dir.path().join("attachd.db").exists(),
        "refused before any work"
    );
}
