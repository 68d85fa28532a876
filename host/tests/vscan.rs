//! The antivirus re-check, quarantine, `attachments.vscan.retry` and the audit log, against a
//! real clamd per test (Debian's clamav-daemon with only the signatures the test writes) and
//! real storage and databases. The queue cases run the real `attachd worker` binary with a real
//! Redis and npm `bullmq` (as `worker_interop.rs` does). Each test has its own clamd port,
//! storage root, database and Redis prefix, so they run in parallel.

mod common;

use attach_fixtures as fx;
use attachd::db::{Backend, NewEvent, Status};
use attachd::error::{Class, ErrorCode};
use attachd::job::{Handler, HandlerDeps, ProcessPayload};
use attachd::metrics::Metrics;
use attachd::queue::QueueName;
use attachd::storage::{self, LocalStorage, ObjectMeta, Storage};
use attachd::vscan::{self, OversizePolicy, Policy, SuspiciousPolicy};
use common::clamd::{sha256_signature, Clamd, EICAR, EICAR_REPORTED};
use common::db::TestDb;
use common::job::{photo_jpeg, sha256};
use common::store::Watched;
use common::worker::{runtime, Stack, WorkerProcess as Worker, WAIT};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
/// clamd's default-ish limit for the tests that do not test it.
const ROOMY_STREAM: u64 = 64 * 1024 * 1024;
/// A scanner that is never there: a socket path no one can have created (a free TCP port could
/// be taken by another test's clamd meanwhile).
const DEAD_ENDPOINT: &str = "unix:///nonexistent-attachd-test/clamd.ctl";

/// A real JPEG the guests render, with the EICAR string appended (a polyglot as a stranger
/// would upload it).
fn jpeg_with_eicar() -> Vec<u8> {
    let mut data = fx::jpeg(&fx::photo(320, 240, 7), 80);
    data.extend_from_slice(EICAR);
    data
}

fn scanner(endpoint: &str, max_stream: u64) -> vscan::Clamd {
    vscan::Clamd {
        endpoint: endpoint.parse().unwrap(),
        connect_timeout: Duration::from_secs(1),
        io_timeout: Duration::from_secs(10),
        max_stream,
    }
}

/// A library-level world: a local store in a temp dir and a private database.
struct Lib {
    storage: Arc<Watched>,
    db: TestDb,
    /// Every handler of the test reports here.
    metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
}

impl Lib {
    async fn new(backend: Backend) -> Lib {
        let (local, dir) = common::job::temp_store().await;
        Lib {
            storage: Arc::new(Watched::recording(local)),
            db: TestDb::migrated(backend).await,
            metrics: Metrics::new(&QueueName::labels()),
            _dir: dir,
        }
    }

    fn handler(&self, policy: Policy) -> Handler {
        Handler::new(HandlerDeps {
            policy: Arc::new(policy),
            metrics: self.metrics.clone(),
            ..common::handler_deps(common::pipeline(), self.storage.clone(), self.db.db.clone())
        })
    }

    async fn upload(&self, key: &str, data: &[u8], mime: &str) -> ProcessPayload {
        common::job::upload(&**self.storage.inner(), key, data, mime).await
    }

    async fn variants(&self, key: &str) -> Vec<ObjectMeta> {
        self.storage
            .list(&storage::variants_prefix(key), None, 100)
            .await
            .unwrap()
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

    fn variant_puts(&self) -> Vec<String> {
        self.storage
            .puts()
            .into_iter()
            .filter(|k| k.starts_with(storage::VARIANTS_ROOT))
            .collect()
    }
}

fn with_scanner(clamd: &Clamd, max_stream: u64) -> Policy {
    Policy {
        scanner: Some(scanner(&clamd.endpoint(), max_stream)),
        ..Policy::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_gets_clamds_verdicts_over_tcp_and_the_unix_socket() {
    let clamd = Clamd::start(ROOMY_STREAM, &[]);
    for endpoint in [clamd.endpoint(), clamd.unix_endpoint()] {
        let client = scanner(&endpoint, ROOMY_STREAM);
        client.ping().await.unwrap();
        assert!(client.version().await.unwrap().starts_with("ClamAV "));
        // More than one chunk, the signature straddling nothing in particular.
        let mut infected = vec![b'a'; vscan::CHUNK_BYTES + 1000];
        infected.extend_from_slice(EICAR);
        let scan = client.scan(&infected[..], None).await.unwrap();
        assert_eq!(
            scan.verdict,
            vscan::Verdict::Infected {
                signature: EICAR_REPORTED.into()
            },
            "{endpoint}"
        );
        assert_eq!(scan.bytes, infected.len() as u64);
        let clean = client.scan(&photo_jpeg()[..], None).await.unwrap();
        assert_eq!(clean.verdict, vscan::Verdict::Clean, "{endpoint}");
    }
    // Nothing listening: unavailable, never a verdict.
    let dead = scanner(DEAD_ENDPOINT, ROOMY_STREAM);
    let e = dead.scan(&b"x"[..], None).await.unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("scanner-unavailable", Class::Retryable)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_image_is_scanned_by_clamd_then_published_ready() {
    let clamd = Clamd::start(ROOMY_STREAM, &[]);
    let w = Lib::new(Backend::Postgres).await;
    let data = photo_jpeg();
    let payload = w
        .upload("uploads/clean/photo.jpg", &data, "image/jpeg")
        .await;
    let handler = w.handler(with_scanner(&clamd, ROOMY_STREAM));
    let summary = handler.process(&payload).await.expect("processed");
    assert_eq!(summary.status, Status::Ready);
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Ready);
    assert!(!row.variants.is_empty());
    assert_eq!(
        w.variants(&payload.file_key).await.len(),
        row.variants.len()
    );
    // The antivirus verdict came first, then the guests', then the publication.
    assert_eq!(
        w.decisions(&payload.file_key).await,
        ["vscan-clean", "scan-clean", "published"]
    );
    let events = w.db.db.events(&payload.file_key).await.unwrap();
    assert_eq!(events[0].checksum.as_deref(), Some(sha256(&data).as_str()));
    assert_eq!(events[0].details["bytes"], data.len() as u64);
    let metrics = w.metrics.render();
    assert!(metrics.contains("attachments_vscan_scans_total{outcome=\"clean\"} 1"));
    assert!(metrics.contains("attachments_vscan_up 1"));
    assert!(metrics.contains("attachments_vscan_duration_seconds_count 1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_on_s3_are_streamed_to_clamd_and_quarantined_within_the_bucket() {
    let clamd = Clamd::start(ROOMY_STREAM, &[]);
    let server = common::s3::S3Server::start().await;
    let s3: Arc<dyn Storage> = Arc::new(
        attachd::storage::S3Storage::new(server.settings())
            .await
            .unwrap(),
    );
    let db = TestDb::migrated(Backend::Sqlite).await;
    let handler = Handler::new(HandlerDeps {
        policy: Arc::new(with_scanner(&clamd, ROOMY_STREAM)),
        ..common::handler_deps(common::pipeline(), s3.clone(), db.db.clone())
    });

    let clean = photo_jpeg();
    s3.put("uploads/s3/clean.jpg", clean.clone().into(), "image/jpeg")
        .await
        .unwrap();
    let payload = ProcessPayload {
        file_key: "uploads/s3/clean.jpg".into(),
        mime_type: "image/jpeg".into(),
        size: clean.len() as u64,
        variants: vec![],
        checksum: Some(sha256(&clean)),
        reprocess_guest_digest: None,
    };
    assert_eq!(
        handler.process(&payload).await.unwrap().status,
        Status::Ready
    );

    let infected = jpeg_with_eicar();
    let key = "uploads/s3/eicar.jpg";
    s3.put(key, infected.clone().into(), "image/jpeg")
        .await
        .unwrap();
    let payload = ProcessPayload {
        file_key: key.into(),
        mime_type: "image/jpeg".into(),
        size: infected.len() as u64,
        variants: vec![],
        checksum: None,
        reprocess_guest_digest: None,
    };
    let summary = handler.process(&payload).await.unwrap();
    assert_eq!(summary.status, Status::Quarantined);
    assert!(s3.head(key).await.unwrap().is_none());
    assert_eq!(
        s3.get(&format!("quarantine/{key}"), 1 << 20).await.unwrap(),
        infected
    );
    assert!(s3
        .list(&storage::variants_prefix(key), None, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_published_before_clamd_calls_the_upload_clean() {
    // A perfectly renderable JPEG that clamd knows by its hash: the guests would publish it
    // (shown below without the scanner), so only the scan running first keeps it unpublished.
    let data = photo_jpeg();
    let hsb = sha256_signature(&data, "Attachd.Test.KnownBad");
    let clamd = Clamd::start(ROOMY_STREAM, &[("attachd-test.hsb", hsb)]);
    let w = Lib::new(Backend::Sqlite).await;
    let key = "uploads/known-bad/photo.jpg";
    let payload = w.upload(key, &data, "image/jpeg").await;
    // Variants a crashed earlier attempt left behind must go too.
    let stale = storage::variant_key(key, "thumb", "webp");
    w.storage
        .inner()
        .put(&stale, b"stale".to_vec().into(), "image/webp")
        .await
        .unwrap();

    let summary = w
        .handler(with_scanner(&clamd, ROOMY_STREAM))
        .process(&payload)
        .await
        .expect("quarantine is an outcome, not an error");
    assert_eq!(summary.status, Status::Quarantined);
    assert!(w.variant_puts().is_empty(), "no variant was ever written");
    assert!(w.variants(key).await.is_empty(), "earlier variants removed");
    let row = w.db.db.get(key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Quarantined);
    assert_eq!(row.error_code.as_deref(), Some("virus-found"));
    assert!(row.variants.is_empty());
    let findings = row.scan_findings.unwrap();
    assert_eq!(findings[0]["signature"], "Attachd.Test.KnownBad.UNOFFICIAL");
    // Moved: gone from the upload prefix, byte for byte under the quarantine prefix.
    assert!(w.storage.head(key).await.unwrap().is_none());
    let moved = format!("quarantine/{key}");
    assert_eq!(summary.quarantine_key.as_deref(), Some(moved.as_str()));
    assert_eq!(w.storage.get(&moved, 1 << 20).await.unwrap(), data);
    assert_eq!(
        w.decisions(key).await,
        ["vscan-infected", "quarantined"],
        "no guest ever saw it"
    );

    // The same bytes without the antivirus: the guests render and publish them.
    let other = w
        .upload("uploads/no-av/photo.jpg", &data, "image/jpeg")
        .await;
    let ready = w.handler(Policy::default()).process(&other).await.unwrap();
    assert_eq!(ready.status, Status::Ready);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_job_for_a_quarantined_upload_changes_nothing_and_stays_quarantined() {
    let clamd = Clamd::start(ROOMY_STREAM, &[]);
    let w = Lib::new(Backend::Sqlite).await;
    let key = "uploads/twice/eicar.jpg";
    let payload = w.upload(key, &jpeg_with_eicar(), "image/jpeg").await;
    let handler = w.handler(with_scanner(&clamd, ROOMY_STREAM));
    let first = handler.process(&payload).await.unwrap();
    assert_eq!(first.status, Status::Quarantined);
    let before = w.db.db.get(key).await.unwrap().unwrap();
    let again = handler.process(&payload).await.unwrap();
    assert_eq!(again.status, Status::Quarantined);
    assert!(again.already_done);
    assert_eq!(again.quarantine_key, first.quarantine_key);
    assert_eq!(w.db.db.get(key).await.unwrap().unwrap(), before);
    assert_eq!(
        w.decisions(key).await,
        ["vscan-infected", "quarantined"],
        "the duplicate job decided nothing new"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_over_the_stream_limit_fails_closed_with_scan_too_large() {
    // clamd accepts 16 KiB per stream; the photo is larger.
    let limit = 16 * 1024;
    let clamd = Clamd::start(limit, &[]);
    let w = Lib::new(Backend::Sqlite).await;
    let data = photo_jpeg();
    assert!(data.len() as u64 > limit);

    // attachd knows the limit: refused before a byte is sent.
    let known = w.upload("uploads/big/known.jpg", &data, "image/jpeg").await;
    let e = w
        .handler(with_scanner(&clamd, limit))
        .process(&known)
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.class()), ("scan-too-large", Class::Permanent));

    // attachd was told a larger limit than clamd's: clamd's own refusal has the same outcome.
    let unknown = w
        .upload("uploads/big/unknown.jpg", &data, "image/jpeg")
        .await;
    let e = w
        .handler(with_scanner(&clamd, ROOMY_STREAM))
        .process(&unknown)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("scan-too-large", Class::Permanent),
        "{e}"
    );

    for p in [&known, &unknown] {
        let row = w.db.db.get(&p.file_key).await.unwrap().unwrap();
        assert_eq!(row.status, Status::Failed);
        assert_eq!(row.error_code.as_deref(), Some("scan-too-large"));
        assert!(w.variants(&p.file_key).await.is_empty());
        assert_eq!(w.decisions(&p.file_key).await, ["vscan-too-large"]);
    }
    assert!(w.variant_puts().is_empty());

    // By choice, quarantined for review instead.
    let held = w.upload("uploads/big/held.jpg", &data, "image/jpeg").await;
    let policy = Policy {
        oversize: OversizePolicy::Quarantine,
        ..with_scanner(&clamd, limit)
    };
    let summary = w.handler(policy).process(&held).await.unwrap();
    assert_eq!(summary.status, Status::Quarantined);
    let row = w.db.db.get(&held.file_key).await.unwrap().unwrap();
    assert_eq!(row.error_code.as_deref(), Some("scan-too-large"));
    assert!(w.storage.head(&held.file_key).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn scanner_down_without_a_queue_is_retryable_and_publishes_nothing() {
    let mut clamd = Clamd::start(ROOMY_STREAM, &[]);
    clamd.stop();
    let w = Lib::new(Backend::Sqlite).await;
    let payload = w
        .upload("uploads/down/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    let handler = w.handler(with_scanner(&clamd, ROOMY_STREAM));
    let e = handler.process(&payload).await.unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("scanner-unavailable", Class::Retryable)
    );
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Uploaded, "given back, not failed");
    assert_eq!(row.error_code.as_deref(), Some("scanner-unavailable"));
    assert!(w.variant_puts().is_empty());
    assert!(w.metrics.render().contains("attachments_vscan_up 0"));
    // Back up: the same job now completes.
    clamd.run();
    let summary = handler.process(&payload).await.unwrap();
    assert_eq!(summary.status, Status::Ready);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reject_from_the_scan_guest_quarantines_the_upload() {
    let w = Lib::new(Backend::Sqlite).await;
    let key = "uploads/html/page.png";
    let payload = w.upload(key, &fx::html_page(), "image/png").await;
    let summary = w
        .handler(Policy::default())
        .process(&payload)
        .await
        .unwrap();
    assert_eq!(summary.status, Status::Quarantined);
    let row = w.db.db.get(key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Quarantined);
    assert_eq!(row.error_code.as_deref(), Some("scan-rejected"));
    assert_eq!(row.scan_verdict.as_deref(), Some("reject"));
    assert!(w.storage.head(key).await.unwrap().is_none());
    assert!(w
        .storage
        .head(&format!("quarantine/{key}"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(w.decisions(key).await, ["scan-reject", "quarantined"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn suspicious_uploads_follow_the_configured_policy() {
    let w = Lib::new(Backend::Sqlite).await;
    // A PNG declared as JPEG: `mime-mismatch`, suspicious.
    let png = fx::png_rgb(&fx::photo(64, 48, 3));
    let publish = w.upload("uploads/s/publish.png", &png, "image/jpeg").await;
    let summary = w
        .handler(Policy::default())
        .process(&publish)
        .await
        .unwrap();
    assert_eq!(
        (summary.status.as_str(), summary.verdict.as_deref()),
        ("ready", Some("suspicious"))
    );

    let quarantine = w
        .upload("uploads/s/quarantine.png", &png, "image/jpeg")
        .await;
    let policy = Policy {
        suspicious: SuspiciousPolicy::Quarantine,
        ..Policy::default()
    };
    let summary = w.handler(policy).process(&quarantine).await.unwrap();
    assert_eq!(summary.status, Status::Quarantined);

    let fail = w.upload("uploads/s/fail.png", &png, "image/jpeg").await;
    let policy = Policy {
        suspicious: SuspiciousPolicy::Fail,
        ..Policy::default()
    };
    let e = w.handler(policy).process(&fail).await.unwrap_err();
    assert_eq!((e.code(), e.class()), ("scan-suspicious", Class::Permanent));
    assert!(w.variants("uploads/s/fail.png").await.is_empty());
    assert!(w.variants("uploads/s/quarantine.png").await.is_empty());
}

async fn audit_events_are_append_only(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let id =
        t.db.record_event(&NewEvent {
            file_key: Some("uploads/a.jpg".into()),
            job_id: Some("7".into()),
            checksum: None,
            decision: "quarantined".into(),
            reason: "test".into(),
            details: json!({ "signature": "X" }),
        })
        .await
        .unwrap();
    assert!(id > 0);
    let refused = [
        "UPDATE attachment_events SET reason = 'rewritten'",
        "DELETE FROM attachment_events",
    ];
    for sql in refused {
        let err = match backend {
            Backend::Postgres => {
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&t.url)
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap_err()
            }
            Backend::Sqlite => {
                let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&t.url)
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap_err()
            }
        };
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if backend == Backend::Postgres {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&t.url)
            .await
            .unwrap();
        let err = sqlx::query("TRUNCATE attachment_events")
            .execute(&mut c)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let events = t.db.events("uploads/a.jpg").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "test");
    assert_eq!(events[0].details["signature"], "X");
    // A decision name that is not kebab-case is refused by the schema.
    let bad = NewEvent {
        file_key: None,
        job_id: None,
        checksum: None,
        decision: "Not Kebab".into(),
        reason: "x".into(),
        details: json!({}),
    };
    assert!(t.db.record_event(&bad).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_events_are_append_only_on_postgres() {
    audit_events_are_append_only(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_events_are_append_only_on_sqlite() {
    audit_events_are_append_only(Backend::Sqlite).await;
}

// ---------------------------------------------------------------------------------------
// Through the real worker: Node adds the jobs, `attachd worker` takes them.

fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::worker::wait_for(what, WAIT, f)
}

impl Stack {
    /// `attachd ingest` of `data` as a JPEG.
    fn ingest(&self, key: &str, data: &[u8]) -> Value {
        let file = self.dir.path().join("upload.jpg");
        std::fs::write(&file, data).unwrap();
        self.ingest_file(key, &["--mime", "image/jpeg"], &file)
    }

    fn worker(&self, env: &[(&str, &str)]) -> Worker {
        self.start_worker(&[&[("ATTACH_WORKER_LOG_LEVEL", "warn")][..], env].concat())
    }

    fn jobs(&self, queue: &str) -> Vec<Value> {
        self.node("jobs", json!({ "queue": queue }))["jobs"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn row(&self, key: &str) -> attachd::db::Attachment {
        runtime().block_on(self.db().get(key)).unwrap().unwrap()
    }

    fn decisions(&self, key: &str) -> Vec<String> {
        runtime()
            .block_on(self.db().events(key))
            .unwrap()
            .into_iter()
            .map(|e| e.decision)
            .collect()
    }

    fn objects(&self) -> LocalStorage {
        runtime()
            .block_on(LocalStorage::open(self.data.join("objects")))
            .unwrap()
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        runtime().block_on(self.objects().get(key, 1 << 24)).ok()
    }

    fn variant_count(&self, key: &str) -> usize {
        runtime()
            .block_on(
                self.objects()
                    .list(&storage::variants_prefix(key), None, 100),
            )
            .unwrap()
            .len()
    }
}

/// The audit stream's JSON lines (the worker writes them to stderr by default).
fn audit_lines(worker: &Worker) -> Vec<Value> {
    worker
        .log()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "attachd::audit")
        .collect()
}

const PROCESS: &str = "attachments.process";
const VSCAN_RETRY: &str = "attachments.vscan.retry";
const QUARANTINE: &str = "attachments.quarantine";

fn payload(upload: &Value) -> Value {
    json!({ "fileKey": upload["fileKey"], "mimeType": "image/jpeg", "size": upload["size"] })
}

#[test]
fn eicar_upload_is_quarantined_by_the_worker_with_a_review_job_and_audit_events() {
    let clamd = Clamd::start(ROOMY_STREAM, &[]);
    let stack = Stack::new();
    let key = "uploads/eicar/photo.jpg";
    let data = jpeg_with_eicar();
    let upload = stack.ingest(key, &data);
    let worker = stack.worker(&[("ATTACH_VSCAN_ENDPOINT", &clamd.endpoint())]);
    let report = stack.node(
        "add",
        json!({ "queue": PROCESS, "name": PROCESS, "data": payload(&upload),
                "opts": { "attempts": 3 }, "watch": true }),
    );
    assert_eq!(report["error"], Value::Null, "{report:#}");
    let summary = &report["result"];
    assert_eq!(summary["status"], "quarantined");
    let moved = format!("quarantine/{key}");
    assert_eq!(summary["quarantineKey"], moved.as_str());
    assert!(summary["variants"].as_array().unwrap().is_empty());

    let row = stack.row(key);
    assert_eq!(row.status, Status::Quarantined);
    assert_eq!(row.error_code.as_deref(), Some("virus-found"));
    assert!(row.error_message.unwrap().contains(EICAR_REPORTED));
    assert_eq!(row.scan_findings.unwrap()[0]["signature"], EICAR_REPORTED);
    // Object moved, no variants.
    assert_eq!(stack.object(key), None);
    assert_eq!(stack.object(&moved), Some(data.clone()));
    assert_eq!(stack.variant_count(key), 0);
    // The review job, as a Node reviewer reads it.
    let review = stack.jobs(QUARANTINE);
    assert_eq!(review.len(), 1, "{review:#?}");
    assert_eq!(review[0]["state"], "waiting");
    assert_eq!(review[0]["data"]["fileKey"], key);
    assert_eq!(review[0]["data"]["quarantineKey"], moved.as_str());
    assert_eq!(review[0]["data"]["code"], "virus-found");
    assert_eq!(review[0]["data"]["checksum"], sha256(&data).as_str());
    // The audit log: in the table, and on the JSON audit stream with the job's id.
    assert_eq!(stack.decisions(key), ["vscan-infected", "quarantined"]);
    let job_id = report["job"]["id"].as_str().unwrap().to_string();
    let line = wait_for("the audit line", || {
        audit_lines(&worker)
            .into_iter()
            .find(|l| l["decision"] == "vscan-infected")
    });
    assert_eq!(line["file_key"], key);
    assert_eq!(line["job_id"], job_id.as_str());
    assert_eq!(line["checksum"], sha256(&data).as_str());
    assert!(line["reason"].as_str().unwrap().contains(EICAR_REPORTED));
    assert_eq!(
        worker.metric("attachments_quarantined_total{source=\"clamd\"}"),
        1.0
    );
    assert_eq!(
        worker.metric("attachments_vscan_scans_total{outcome=\"infected\"}"),
        1.0
    );
}

#[test]
fn scanner_outage_schedules_vscan_retries_with_growing_delays_then_completes() {
    let mut clamd = Clamd::start(ROOMY_STREAM, &[]);
    clamd.stop();
    let stack = Stack::new();
    let key = "uploads/outage/photo.jpg";
    let upload = stack.ingest(key, &photo_jpeg());
    let worker = stack.worker(&[
        ("ATTACH_VSCAN_ENDPOINT", &clamd.endpoint()),
        ("ATTACH_VSCAN_CONNECT_TIMEOUT", "500ms"),
        ("ATTACH_VSCAN_RETRY_BASE", "250ms"),
        ("ATTACH_VSCAN_RETRY_CAP", "1s"),
        ("ATTACH_VSCAN_RETRY_ATTEMPTS", "40"),
    ]);
    let report = stack.node(
        "add",
        json!({ "queue": PROCESS, "name": PROCESS, "data": payload(&upload),
                "opts": { "attempts": 3 }, "watch": true }),
    );
    // The process job is not failed: it completes, saying the upload waits on the scanner.
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["job"]["state"], "completed");
    assert_eq!(report["result"]["waitingOn"], "scanner");
    assert_eq!(report["result"]["nextTryInMs"], 250);

    // Four retries scheduled, each waiting longer, up to the cap.
    let retries = wait_for("four vscan.retry jobs", || {
        let jobs = stack.jobs(VSCAN_RETRY);
        (jobs.len() >= 4).then_some(jobs)
    });
    // The delay each was added with (BullMQ zeroes `delay` once a job is promoted).
    let delays: Vec<u64> = retries[..4]
        .iter()
        .map(|j| j["opts"]["delay"].as_u64().unwrap())
        .collect();
    assert_eq!(delays, [250, 500, 1000, 1000]);
    let tries: Vec<u64> = retries[..4]
        .iter()
        .map(|j| j["data"]["scanTries"].as_u64().unwrap())
        .collect();
    assert_eq!(tries, [1, 2, 3, 4]);
    // Meanwhile the row says it waits on the scanner (between tries: during one it is briefly
    // `processing`), and nothing is published.
    let row = wait_for("the row between two tries", || {
        let row = stack.row(key);
        (row.status == Status::Uploaded).then_some(row)
    });
    assert_eq!(row.error_code.as_deref(), Some("scanner-unavailable"));
    assert!(row
        .error_message
        .unwrap()
        .starts_with("waiting on the virus scanner"));
    assert!(row.variants.is_empty());
    assert_eq!(stack.variant_count(key), 0);
    assert_eq!(worker.metric("attachments_vscan_up"), 0.0);

    // clamd comes back: the next retry scans and publishes.
    clamd.run();
    wait_for("the upload to be ready", || {
        (stack.row(key).status == Status::Ready).then_some(())
    });
    assert!(stack.variant_count(key) > 0);
    let decisions = stack.decisions(key);
    assert_eq!(
        decisions.first().map(String::as_str),
        Some("vscan-unavailable")
    );
    assert_eq!(
        decisions[decisions.len() - 3..],
        [
            "vscan-clean".to_string(),
            "scan-clean".into(),
            "published".into()
        ]
    );
    let finished = wait_for("the completing retry job", || {
        stack
            .jobs(VSCAN_RETRY)
            .into_iter()
            .find(|j| j["returnvalue"]["status"] == "ready")
    });
    assert_eq!(finished["state"], "completed");
    assert!(worker.metric("attachments_vscan_retries_scheduled_total") >= 4.0);
    assert_eq!(worker.metric("attachments_vscan_up"), 1.0);
}

#[test]
fn scanner_outage_past_the_last_try_fails_the_upload_closed() {
    // No such socket: the scanner is down for good.
    let endpoint = DEAD_ENDPOINT.to_string();
    let stack = Stack::new();
    let key = "uploads/dead/photo.jpg";
    let upload = stack.ingest(key, &photo_jpeg());
    let _worker = stack.worker(&[
        ("ATTACH_VSCAN_ENDPOINT", endpoint.as_str()),
        ("ATTACH_VSCAN_RETRY_BASE", "100ms"),
        ("ATTACH_VSCAN_RETRY_CAP", "200ms"),
        ("ATTACH_VSCAN_RETRY_ATTEMPTS", "3"),
    ]);
    stack.node(
        "add",
        json!({ "queue": PROCESS, "name": PROCESS, "data": payload(&upload), "opts": { "attempts": 3 } }),
    );
    wait_for("the upload to fail", || {
        (stack.row(key).status == Status::Failed).then_some(())
    });
    let row = stack.row(key);
    assert_eq!(row.error_code.as_deref(), Some("scanner-unavailable"));
    assert!(row.error_message.unwrap().contains("after 3 tries"));
    assert_eq!(stack.variant_count(key), 0);
    // Tries 2 and 3 ran as vscan.retry jobs; the last failed with the code, for good.
    let retries = stack.jobs(VSCAN_RETRY);
    assert_eq!(retries.len(), 2, "{retries:#?}");
    assert_eq!(retries[0]["state"], "completed");
    let last = &retries[1];
    assert_eq!(last["state"], "failed");
    assert!(last["failedReason"]
        .as_str()
        .unwrap()
        .starts_with("scanner-unavailable: "));
    assert_eq!(
        stack.decisions(key),
        ["vscan-unavailable", "vscan-unavailable", "vscan-exhausted"]
    );
    // The original is untouched, for an operator to re-run once the scanner is back.
    assert!(stack.object(key).is_some());
}
