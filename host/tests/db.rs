//! The attachments table's behaviour: one suite, run against PostgreSQL and SQLite, each test
//! on a database of its own (see `common/db.rs`). `<behaviour>::postgres` and
//! `<behaviour>::sqlite` are the two runs of one behaviour.

mod common;

use attachd::db::{
    Attachment, Backend, Claim, Db, DbError, Finding, GuestDigest, NewAttachment, NewEvent, Ready,
    ScanFields, ScanVerdict, Status, VariantRecord, ACQUIRE_TIMEOUT, MAX_ERROR_MESSAGE_BYTES,
};
use attachd::error::{Class, ErrorCode};
use attachd::sandbox::GuestRef;
use chrono::{Duration as Age, Utc};
use common::db::TestDb;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A lease no test outlives, so a lease only runs out when a test says so.
const LEASE: Duration = Duration::from_secs(600);

/// Runs each named behaviour once per database.
macro_rules! on_both_databases {
    ($($behaviour:ident),* $(,)?) => {$(
        mod $behaviour {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$behaviour(attachd::db::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$behaviour(attachd::db::Backend::Sqlite).await
            }
        }
    )*};
}

on_both_databases!(
    migrate_then_check_schema_accepts_the_database,
    check_schema_refuses_an_unmigrated_database,
    check_schema_refuses_a_database_missing_a_migration,
    check_schema_and_migrate_refuse_a_database_migrated_by_a_newer_attachd,
    upsert_uploaded_is_idempotent_and_keeps_the_first_row,
    claim_then_publish_ready_round_trips_variants_exactly,
    claim_lease_runs_for_the_requested_time,
    a_ready_row_is_finished_for_a_late_claim_and_the_trigger_refuses_moving_it,
    a_deleted_row_never_moves_again,
    a_quarantined_row_only_moves_to_deleted,
    a_quarantined_row_returns_to_uploaded_only_after_a_recorded_review_release,
    record_checksum_fills_an_empty_checksum_whatever_the_status_and_keeps_one_there,
    concurrent_claims_from_two_workers_give_exactly_one_claimed_and_one_busy,
    stale_token_cannot_publish_fail_or_release_and_changes_nothing,
    an_expired_lease_is_taken_over_and_the_old_token_cannot_publish,
    a_zero_lease_expires_and_is_taken_over,
    mark_failed_records_the_verdict_ends_the_claim_and_allows_a_retry,
    release_returns_the_row_to_uploaded_with_the_error_recorded,
    concurrent_orphan_cleaners_never_take_a_row_twice_and_take_only_stale_uploaded_rows,
    purge_only_deletes_deleted_rows,
    deleted_rows_lists_rows_a_crashed_cleaner_left_in_deleted,
    existing_keys_reports_exactly_the_keys_with_rows,
    claim_of_an_unknown_key_is_missing,
    rows_with_status_selects_by_status_and_code_oldest_change_first,
    renew_claim_extends_only_the_holders_live_claim,
    orphan_candidates_page_by_key_and_claim_orphan_keys_takes_only_stale_uploaded_rows,
    the_trigger_lets_a_ready_row_back_to_processing_only_as_a_claim,
    claim_reprocess_reopens_only_ready_or_failed_rows_the_digest_touched,
    verdicts_record_the_guests_and_only_a_ready_row_lists_variants,
    rows_touched_by_selects_ready_and_failed_rows_by_digest_prefix,
);

// ---- helpers ----

fn upload(key: &str) -> NewAttachment {
    NewAttachment {
        file_key: key.to_owned(),
        mime_type: "image/jpeg".to_owned(),
        size: 123_456,
        checksum: Some("ab".repeat(32)),
    }
}

fn ready() -> Ready {
    Ready {
        sniffed_mime: "image/png".to_owned(),
        checksum: "0123456789abcdef".repeat(4),
        width: 4000,
        height: 3000,
        placeholder: "1QcSHQRnh493V4dIh4eXh1h4kJUI".to_owned(),
        variants: vec![
            VariantRecord {
                name: "thumb".to_owned(),
                key: "variants/k/thumb.webp".to_owned(),
                format: "webp".to_owned(),
                width: 320,
                height: 240,
                bytes: 9_876,
            },
            VariantRecord {
                // Unicode and a byte count past 2^53: neither database may round or re-encode.
                name: "größe \"L\" ✓".to_owned(),
                key: "variants/k/l.jpg".to_owned(),
                format: "jpeg".to_owned(),
                width: u32::MAX,
                height: 1,
                bytes: (1 << 53) + 1,
            },
        ],
        scan: ScanFields {
            verdict: ScanVerdict::Clean,
            findings: vec![Finding::new("none", ScanVerdict::Clean, "größe \"L\" ✓")],
        },
        guests: guests("1"),
    }
}

/// The guests as a job records them, each release's sha256 `seed` repeated.
fn guests(seed: &str) -> Vec<GuestRef> {
    attachd::release::GUESTS
        .map(|(name, _)| name)
        .iter()
        .enumerate()
        .map(|(i, name)| GuestRef {
            name: (*name).to_owned(),
            version: "1.0.0".to_owned(),
            sha256: format!("{seed}{i}").repeat(64 / (seed.len() + 1)),
        })
        .collect()
}

fn claimed(c: Claim) -> Attachment {
    match c {
        Claim::Claimed(row) => row,
        other => panic!("expected Claimed, got {other:?}"),
    }
}

async fn row(db: &Db, key: &str) -> Attachment {
    db.get(key).await.expect("get").expect("row exists")
}

/// Moves a row straight to `status` through the normal API.
async fn row_in(db: &Db, key: &str, status: Status) -> Attachment {
    db.upsert_uploaded(&upload(key)).await.expect("upsert");
    if status == Status::Uploaded {
        return row(db, key).await;
    }
    let token = format!("setup-{key}");
    claimed(db.claim(key, &token, LEASE).await.expect("claim"));
    let done = match status {
        Status::Processing => true,
        Status::Ready => db
            .publish_ready(key, &token, &ready())
            .await
            .expect("publish"),
        Status::Failed => db
            .mark_failed(key, &token, "x", "y", None, None)
            .await
            .expect("fail"),
        Status::Quarantined => {
            let scan = ScanFields {
                verdict: ScanVerdict::Reject,
                findings: vec![],
            };
            db.mark_quarantined(key, &token, "q", "y", &scan, None)
                .await
                .expect("quarantine")
        }
        Status::Deleted => {
            let to_deleted = format!("UPDATE attachments SET status = 'deleted', claim_token = NULL, claimed_until = NULL WHERE file_key = '{key}'");
            db.execute_unchecked(&to_deleted).await.expect("to deleted") == 1
        }
        Status::Uploaded => unreachable!(),
    };
    assert!(done);
    let r = row(db, key).await;
    assert_eq!(r.status, status);
    r
}

fn assert_conflict(result: Result<u64, DbError>) {
    match result {
        Err(e @ DbError::Conflict { .. }) => {
            assert_eq!(e.code(), "status-conflict");
            assert_eq!(e.class(), Class::Permanent);
        }
        other => panic!("expected the trigger to refuse with a Conflict, got {other:?}"),
    }
}

fn assert_schema(result: Result<(), DbError>, mentions: &str) {
    match result {
        Err(DbError::Schema { message }) => {
            assert!(
                message.contains(mentions),
                "{message:?} should mention {mentions:?}"
            )
        }
        other => panic!("expected a Schema error, got {other:?}"),
    }
}

fn expire_lease_sql(backend: Backend, key: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "UPDATE attachments SET claimed_until = now() - interval '1 second' WHERE file_key = '{key}'"
        ),
        Backend::Sqlite => format!(
            "UPDATE attachments SET claimed_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 seconds') WHERE file_key = '{key}'"
        ),
    }
}

// ---- schema ----

async fn migrate_then_check_schema_accepts_the_database(backend: Backend) {
    let t = TestDb::new(backend).await;
    t.db.migrate().await.expect("migrate");
    t.db.check_schema().await.expect("schema accepted");
    // Running the migrations again (another worker starting) changes nothing.
    t.db.migrate().await.expect("migrate again");
    t.db.check_schema().await.expect("schema still accepted");
}

async fn check_schema_refuses_an_unmigrated_database(backend: Backend) {
    let t = TestDb::new(backend).await;
    assert_schema(t.db.check_schema().await, "not migrated");
    // And a statement against the missing table says schema, not a generic error.
    match t.db.get("k").await {
        Err(e @ DbError::Schema { .. }) => assert_eq!(e.code(), "schema-mismatch"),
        other => panic!("expected Schema, got {other:?}"),
    }
}

async fn check_schema_refuses_a_database_missing_a_migration(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let removed = t
        .db
        .execute_unchecked("DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .await
        .expect("forget a migration");
    assert_eq!(removed, 1);
    assert_schema(t.db.check_schema().await, "lacks migrations");
}

async fn check_schema_and_migrate_refuse_a_database_migrated_by_a_newer_attachd(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let checksum = match backend {
        Backend::Postgres => "'\\x00'::bytea",
        Backend::Sqlite => "X'00'",
    };
    t.db.execute_unchecked(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231235959, 'from a newer attachd', TRUE, {checksum}, 0)"
    ))
    .await
    .expect("add a migration from the future");
    assert_schema(t.db.check_schema().await, "99991231235959");
    assert_schema(t.db.migrate().await, "99991231235959");
}

// ---- rows and claims ----

async fn upsert_uploaded_is_idempotent_and_keeps_the_first_row(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let first =
        t.db.upsert_uploaded(&upload("k"))
            .await
            .expect("first upsert");
    assert_eq!(first.status, Status::Uploaded);
    assert_eq!(first.file_key, "k");
    assert_eq!(first.mime_type, "image/jpeg");
    assert_eq!(first.size, 123_456);
    assert_eq!(first.checksum, Some("ab".repeat(32)));
    assert_eq!(first.attempts, 0);
    assert!(first.variants.is_empty());
    assert_eq!(first.claimed_until, None);
    assert_eq!(first.processed_at, None);

    let again = NewAttachment {
        mime_type: "text/plain".into(),
        size: 1,
        ..upload("k")
    };
    let second = t.db.upsert_uploaded(&again).await.expect("second upsert");
    assert_eq!(second, first, "the existing row comes back unchanged");
    assert_eq!(row(&t.db, "k").await, first);
}

async fn claim_then_publish_ready_round_trips_variants_exactly(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let created = t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    let c = claimed(t.db.claim("k", "worker-1", LEASE).await.expect("claim"));
    assert_eq!(c.status, Status::Processing);
    assert_eq!(c.attempts, 1);
    assert!(c.claimed_until.is_some_and(|until| until > c.updated_at));
    assert!(c.updated_at >= created.updated_at);

    let r = ready();
    assert!(t
        .db
        .publish_ready("k", "worker-1", &r)
        .await
        .expect("publish"));
    let done = row(&t.db, "k").await;
    assert_eq!(done.status, Status::Ready);
    assert_eq!(done.variants, r.variants);
    assert_eq!(done.sniffed_mime.as_deref(), Some("image/png"));
    assert_eq!(done.checksum, Some(r.checksum.clone()));
    assert_eq!((done.width, done.height), (Some(4000), Some(3000)));
    assert_eq!(done.placeholder, Some(r.placeholder.clone()));
    assert_eq!(done.scan_verdict.as_deref(), Some("clean"));
    assert_eq!(
        done.scan_findings,
        Some(serde_json::to_value(&r.scan.findings).unwrap())
    );
    assert_eq!((done.error_code, done.error_message), (None, None));
    assert_eq!(done.claimed_until, None);
    assert!(done.processed_at.is_some());
    assert_eq!(
        (done.id, done.created_at, done.attempts),
        (created.id, created.created_at, 1)
    );
}

async fn claim_lease_runs_for_the_requested_time(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    let c = claimed(
        t.db.claim("k", "w", Duration::from_millis(90_250))
            .await
            .expect("claim"),
    );
    // updated_at and claimed_until come from the same statement, hence the same clock reading.
    let lease = c.claimed_until.expect("lease") - c.updated_at;
    assert!(
        (lease - Age::milliseconds(90_250)).num_milliseconds().abs() <= 1,
        "lease {lease:?}"
    );
}

async fn a_ready_row_is_finished_for_a_late_claim_and_the_trigger_refuses_moving_it(
    backend: Backend,
) {
    let t = TestDb::migrated(backend).await;
    let done = row_in(&t.db, "k", Status::Ready).await;

    match t
        .db
        .claim("k", "late-duplicate", LEASE)
        .await
        .expect("claim")
    {
        Claim::Finished(r) => assert_eq!(r, done),
        other => panic!("expected Finished, got {other:?}"),
    }
    // The API's own writes cannot move it: no claim matches.
    assert!(!t
        .db
        .release("k", "setup-k", "c", "m")
        .await
        .expect("release"));
    assert!(!t
        .db
        .mark_failed("k", "setup-k", "c", "m", None, None)
        .await
        .expect("fail"));
    assert!(!t
        .db
        .publish_ready("k", "setup-k", &ready())
        .await
        .expect("publish"));
    // Neither can any other writer: the trigger refuses.
    for status in ["processing", "uploaded", "failed", "quarantined"] {
        assert_conflict(
            t.db.execute_unchecked(&format!(
                "UPDATE attachments SET status = '{status}' WHERE file_key = 'k'"
            ))
            .await,
        );
    }
    assert_eq!(row(&t.db, "k").await, done, "nothing changed");
    // Other columns of a ready row may still change; only its status is pinned.
    t.db.execute_unchecked(
        "UPDATE attachments SET scan_verdict = 'rescanned' WHERE file_key = 'k'",
    )
    .await
    .expect("non-status update allowed");
    // And deletion is the one way out.
    let deleted =
        t.db.execute_unchecked("UPDATE attachments SET status = 'deleted' WHERE file_key = 'k'")
            .await
            .expect("ready -> deleted allowed");
    assert_eq!(deleted, 1);
}

async fn a_deleted_row_never_moves_again(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    row_in(&t.db, "k", Status::Deleted).await;
    for status in ["uploaded", "processing", "ready", "failed", "quarantined"] {
        assert_conflict(
            t.db.execute_unchecked(&format!(
                "UPDATE attachments SET status = '{status}' WHERE file_key = 'k'"
            ))
            .await,
        );
    }
    assert!(matches!(
        t.db.claim("k", "w", LEASE).await,
        Ok(Claim::Finished(_))
    ));
    assert_eq!(row(&t.db, "k").await.status, Status::Deleted);
}

async fn a_quarantined_row_only_moves_to_deleted(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let q = row_in(&t.db, "k", Status::Quarantined).await;
    assert_eq!(q.scan_verdict.as_deref(), Some("reject"));
    assert_eq!(q.error_code.as_deref(), Some("q"));
    assert!(q.processed_at.is_some());
    assert!(matches!(
        t.db.claim("k", "w", LEASE).await,
        Ok(Claim::Finished(_))
    ));
    assert_conflict(
        t.db.execute_unchecked("UPDATE attachments SET status = 'ready' WHERE file_key = 'k'")
            .await,
    );
    assert_eq!(
        t.db.execute_unchecked("UPDATE attachments SET status = 'deleted' WHERE file_key = 'k'")
            .await
            .expect("quarantined -> deleted allowed"),
        1
    );
}

async fn a_quarantined_row_returns_to_uploaded_only_after_a_recorded_review_release(
    backend: Backend,
) {
    let t = TestDb::migrated(backend).await;
    row_in(&t.db, "k", Status::Quarantined).await;
    let event = |decision: &str| NewEvent {
        file_key: Some("k".into()),
        job_id: None,
        checksum: None,
        decision: decision.into(),
        reason: "test".into(),
        details: serde_json::json!({}),
    };
    // No review: refused, whoever writes.
    assert!(matches!(
        t.db.reopen_quarantined("k").await,
        Err(DbError::Conflict { .. })
    ));
    // A release recorded before the latest quarantine does not count.
    t.db.record_event(&event("review-released")).await.unwrap();
    t.db.record_event(&event("quarantined")).await.unwrap();
    assert_conflict(
        t.db.execute_unchecked("UPDATE attachments SET status = 'uploaded' WHERE file_key = 'k'")
            .await,
    );
    // Another upload's release does not either.
    t.db.record_event(&NewEvent {
        file_key: Some("other".into()),
        ..event("review-released")
    })
    .await
    .unwrap();
    assert!(t.db.reopen_quarantined("k").await.is_err());
    // Released after the quarantine: back to uploaded, verdict cleared, and only to uploaded.
    t.db.record_event(&event("review-released")).await.unwrap();
    assert_conflict(
        t.db.execute_unchecked("UPDATE attachments SET status = 'ready' WHERE file_key = 'k'")
            .await,
    );
    let reopened =
        t.db.reopen_quarantined("k")
            .await
            .unwrap()
            .expect("reopened");
    assert_eq!(reopened.status, Status::Uploaded);
    assert_eq!((reopened.error_code, reopened.scan_verdict), (None, None));
    // Not quarantined any more: nothing to reopen.
    assert!(t.db.reopen_quarantined("k").await.unwrap().is_none());
}

/// `attachd serve`'s complete queues the job, then records the checksum: the job's worker may
/// have claimed the row in between, and the complete must still be recorded (and answered 202).
async fn record_checksum_fills_an_empty_checksum_whatever_the_status_and_keeps_one_there(
    backend: Backend,
) {
    let t = TestDb::migrated(backend).await;
    // Signed (no checksum yet), then claimed by the job.
    t.db.upsert_uploaded(&NewAttachment {
        checksum: None,
        ..upload("k")
    })
    .await
    .unwrap();
    let claimed = claimed(t.db.claim("k", "w", LEASE).await.unwrap());
    assert_eq!(
        (claimed.status, claimed.checksum),
        (Status::Processing, None)
    );
    let a = "a".repeat(64);
    let row = t.db.record_checksum("k", &a).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.checksum.as_deref()),
        (Status::Processing, Some(a.as_str()))
    );
    // A checksum there (another complete's, or the bytes' own once published) stays.
    let row =
        t.db.record_checksum("k", &"b".repeat(64))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(row.checksum.as_deref(), Some(a.as_str()));
    assert!(t.db.record_checksum("nobody", &a).await.unwrap().is_none());
}

async fn concurrent_claims_from_two_workers_give_exactly_one_claimed_and_one_busy(
    backend: Backend,
) {
    let t = TestDb::migrated(backend).await;
    // Two workers: two pools, as two processes would have.
    let other = Db::connect(&t.url).await.expect("second worker connects");
    const ROUNDS: usize = 20;
    for i in 0..ROUNDS {
        let key = format!("k{i}");
        t.db.upsert_uploaded(&upload(&key)).await.expect("upsert");
        let (a, b) = tokio::join!(
            t.db.claim(&key, "worker-a", LEASE),
            other.claim(&key, "worker-b", LEASE)
        );
        let (a, b) = (a.expect("claim a"), b.expect("claim b"));
        let (winner, busy) = match (&a, &b) {
            (Claim::Claimed(w), Claim::Busy(l)) | (Claim::Busy(l), Claim::Claimed(w)) => (w, l),
            _ => panic!("round {i}: expected one Claimed and one Busy, got {a:?} and {b:?}"),
        };
        assert_eq!(winner.attempts, 1, "the loser did not count an attempt");
        assert_eq!(busy.status, Status::Processing);
        assert!(busy.claimed_until.is_some());
    }
    other.close().await;
}

async fn stale_token_cannot_publish_fail_or_release_and_changes_nothing(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    let c = claimed(t.db.claim("k", "current", LEASE).await.expect("claim"));
    assert!(!t
        .db
        .publish_ready("k", "stale", &ready())
        .await
        .expect("publish"));
    assert!(!t
        .db
        .mark_failed("k", "stale", "c", "m", None, None)
        .await
        .expect("fail"));
    assert!(!t.db.release("k", "stale", "c", "m").await.expect("release"));
    assert!(!t
        .db
        .publish_ready("missing", "current", &ready())
        .await
        .expect("publish"));
    assert_eq!(
        row(&t.db, "k").await,
        c,
        "the row is exactly as the claim left it"
    );
}

async fn an_expired_lease_is_taken_over_and_the_old_token_cannot_publish(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    claimed(t.db.claim("k", "crashed", LEASE).await.expect("claim"));
    assert!(matches!(
        t.db.claim("k", "successor", LEASE).await,
        Ok(Claim::Busy(_))
    ));

    // The first worker's lease runs out (it crashed, or hangs).
    t.db.execute_unchecked(&expire_lease_sql(backend, "k"))
        .await
        .expect("expire the lease");
    let taken = claimed(t.db.claim("k", "successor", LEASE).await.expect("takeover"));
    assert_eq!(taken.attempts, 2);
    assert!(taken.claimed_until.is_some_and(|until| until > Utc::now()));

    // The old worker wakes up: none of its writes land.
    assert!(!t
        .db
        .publish_ready("k", "crashed", &ready())
        .await
        .expect("publish"));
    assert!(!t
        .db
        .mark_failed("k", "crashed", "c", "m", None, None)
        .await
        .expect("fail"));
    assert!(!t
        .db
        .release("k", "crashed", "c", "m")
        .await
        .expect("release"));
    assert_eq!(row(&t.db, "k").await, taken);
    // The successor's do.
    assert!(t
        .db
        .publish_ready("k", "successor", &ready())
        .await
        .expect("publish"));
    assert_eq!(row(&t.db, "k").await.status, Status::Ready);
}

async fn a_zero_lease_expires_and_is_taken_over(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    claimed(
        t.db.claim("k", "first", Duration::ZERO)
            .await
            .expect("claim"),
    );
    // Past the databases' clock resolution (SQLite's is a millisecond).
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = claimed(t.db.claim("k", "second", LEASE).await.expect("takeover"));
    assert_eq!(taken.attempts, 2);
}

async fn mark_failed_records_the_verdict_ends_the_claim_and_allows_a_retry(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    claimed(t.db.claim("k", "w1", LEASE).await.expect("claim"));
    let scan = ScanFields {
        verdict: ScanVerdict::Suspicious,
        findings: vec![Finding::new("n", ScanVerdict::Suspicious, "2")],
    };
    let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES); // twice the limit in bytes
    assert!(t
        .db
        .mark_failed("k", "w1", "decode-error", &long, Some(&scan), None)
        .await
        .expect("fail"));
    let failed = row(&t.db, "k").await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("decode-error"));
    let message = failed.error_message.as_deref().expect("message");
    assert_eq!(
        message.len(),
        MAX_ERROR_MESSAGE_BYTES,
        "cut at the limit, on a char boundary"
    );
    assert_eq!(failed.scan_verdict.as_deref(), Some("suspicious"));
    assert_eq!(
        failed.scan_findings,
        Some(serde_json::json!([{"detail": "2", "rule": "n", "verdict": "suspicious"}]))
    );
    assert_eq!(failed.claimed_until, None);
    assert!(failed.processed_at.is_some());
    // Same token again: the claim is over.
    assert!(!t
        .db
        .mark_failed("k", "w1", "x", "y", None, None)
        .await
        .expect("fail again"));

    // A failed row may be claimed again (an operator's retry), and a success clears the error.
    let retry = claimed(t.db.claim("k", "w2", LEASE).await.expect("retry claim"));
    assert_eq!(retry.attempts, 2);
    assert!(t
        .db
        .publish_ready("k", "w2", &ready())
        .await
        .expect("publish"));
    let done = row(&t.db, "k").await;
    assert_eq!(
        (done.status, done.error_code, done.error_message),
        (Status::Ready, None, None)
    );
}

async fn rows_with_status_selects_by_status_and_code_oldest_change_first(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    for (key, code) in [
        ("a", "processing-abandoned"),
        ("b", "malformed-input"),
        ("c", "processing-abandoned"),
    ] {
        t.db.upsert_uploaded(&upload(key)).await.expect("upsert");
        claimed(t.db.claim(key, "w", LEASE).await.expect("claim"));
        assert!(t
            .db
            .mark_failed(key, "w", code, "m", None, None)
            .await
            .expect("fail"));
    }
    t.db.upsert_uploaded(&upload("d")).await.expect("upsert");
    // "a" changed longest ago.
    t.db.backdate("c", chrono::Utc::now() - chrono::Duration::hours(2))
        .await
        .expect("backdate");
    t.db.backdate("a", chrono::Utc::now() - chrono::Duration::hours(3))
        .await
        .expect("backdate");
    let keys = |rows: Vec<Attachment>| rows.into_iter().map(|r| r.file_key).collect::<Vec<_>>();
    let abandoned =
        t.db.rows_with_status(Status::Failed, Some("processing-abandoned"), 10)
            .await
            .expect("select");
    assert_eq!(keys(abandoned), ["a", "c"]);
    let failed =
        t.db.rows_with_status(Status::Failed, None, 10)
            .await
            .expect("select");
    assert_eq!(keys(failed).len(), 3);
    let limited =
        t.db.rows_with_status(Status::Failed, None, 1)
            .await
            .expect("select");
    assert_eq!(keys(limited), ["a"]);
    let uploaded =
        t.db.rows_with_status(Status::Uploaded, None, 10)
            .await
            .expect("select");
    assert_eq!(keys(uploaded), ["d"]);
}

async fn release_returns_the_row_to_uploaded_with_the_error_recorded(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    let c = claimed(t.db.claim("k", "w1", LEASE).await.expect("claim"));
    tokio::time::sleep(Duration::from_millis(5)).await; // so updated_at visibly moves
    assert!(t
        .db
        .release("k", "w1", "storage-unavailable", "timeout")
        .await
        .expect("release"));
    let r = row(&t.db, "k").await;
    assert_eq!(r.status, Status::Uploaded);
    assert_eq!(r.error_code.as_deref(), Some("storage-unavailable"));
    assert_eq!(r.error_message.as_deref(), Some("timeout"));
    assert_eq!(r.claimed_until, None);
    assert_eq!(r.processed_at, None);
    assert!(r.updated_at > c.updated_at, "updated_at maintained");
    assert!(!t
        .db
        .release("k", "w1", "c", "m")
        .await
        .expect("second release"));
    // The job's next try claims it at once.
    let again = claimed(t.db.claim("k", "w2", LEASE).await.expect("claim again"));
    assert_eq!(again.attempts, 2);
}

// ---- cleanup ----

async fn concurrent_orphan_cleaners_never_take_a_row_twice_and_take_only_stale_uploaded_rows(
    backend: Backend,
) {
    let t = TestDb::migrated(backend).await;
    let long_ago = Utc::now() - Age::hours(3);
    let cutoff = Utc::now() - Age::hours(2);
    const ORPHANS: usize = 120;
    let mut orphans = HashSet::new();
    for i in 0..ORPHANS {
        let key = format!("orphan-{i}");
        t.db.upsert_uploaded(&upload(&key)).await.expect("upsert");
        assert!(t.db.backdate(&key, long_ago).await.expect("backdate"));
        orphans.insert(key);
    }
    // Not orphans: fresh uploads, and old rows in every other status.
    t.db.upsert_uploaded(&upload("fresh"))
        .await
        .expect("upsert");
    for (key, status) in [
        ("old-ready", Status::Ready),
        ("old-processing", Status::Processing),
        ("old-failed", Status::Failed),
        ("old-quarantined", Status::Quarantined),
    ] {
        row_in(&t.db, key, status).await;
        assert!(t.db.backdate(key, long_ago).await.expect("backdate"));
    }
    // Old, but a job released it for a retry a moment ago: in use, not orphaned.
    t.db.upsert_uploaded(&upload("old-released"))
        .await
        .expect("upsert");
    assert!(t
        .db
        .backdate("old-released", long_ago)
        .await
        .expect("backdate"));
    claimed(t.db.claim("old-released", "w", LEASE).await.expect("claim"));
    assert!(t
        .db
        .release("old-released", "w", "c", "m")
        .await
        .expect("release"));

    assert_eq!(
        t.db.count_orphans(cutoff).await.expect("count"),
        ORPHANS as u64
    );

    // Four cleaners on two pools (two processes with two tasks each), started together,
    // each taking small batches until nothing is left.
    let other = Db::connect(&t.url).await.expect("second process connects");
    const CLEANERS: usize = 4;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(CLEANERS));
    let cleaners: Vec<_> = (0..CLEANERS)
        .map(|i| {
            let db = if i % 2 == 0 {
                t.db.clone()
            } else {
                other.clone()
            };
            let start = start.clone();
            tokio::spawn(async move {
                // A connection in hand first, so no cleaner starts late on a cold pool.
                db.get("warm-up").await.expect("warm up");
                start.wait().await;
                let mut taken = Vec::new();
                loop {
                    let batch = db.claim_orphans(cutoff, 7).await.expect("claim_orphans");
                    if batch.is_empty() {
                        return taken;
                    }
                    taken.extend(batch);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for (i, cleaner) in cleaners.into_iter().enumerate() {
        let taken = cleaner.await.expect("cleaner");
        println!("cleaner {i} took {}", taken.len());
        all.extend(taken);
    }

    let mut seen = HashSet::new();
    for r in &all {
        assert!(
            seen.insert(r.file_key.clone()),
            "{} taken twice",
            r.file_key
        );
        assert_eq!(r.status, Status::Deleted, "returned as it now is");
    }
    assert_eq!(seen, orphans, "exactly the stale uploaded rows");
    for key in &orphans {
        assert_eq!(row(&t.db, key).await.status, Status::Deleted);
        // A process job arriving now finds nothing to do.
        assert!(matches!(
            t.db.claim(key, "late", LEASE).await,
            Ok(Claim::Finished(_))
        ));
    }
    assert_eq!(row(&t.db, "fresh").await.status, Status::Uploaded);
    assert_eq!(row(&t.db, "old-released").await.status, Status::Uploaded);
    assert_eq!(row(&t.db, "old-ready").await.status, Status::Ready);
    assert_eq!(
        row(&t.db, "old-processing").await.status,
        Status::Processing
    );
    assert!(t
        .db
        .claim_orphans(cutoff, 0)
        .await
        .expect("limit 0")
        .is_empty());
    assert_eq!(t.db.count_orphans(cutoff).await.expect("count"), 0);
    other.close().await;
}

async fn purge_only_deletes_deleted_rows(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    for status in [
        Status::Uploaded,
        Status::Processing,
        Status::Ready,
        Status::Failed,
        Status::Quarantined,
    ] {
        let key = format!("in-{status}");
        row_in(&t.db, &key, status).await;
        assert!(
            !t.db.purge(&key).await.expect("purge"),
            "{status} row purged"
        );
        assert_eq!(row(&t.db, &key).await.status, status);
    }
    t.db.upsert_uploaded(&upload("orphan"))
        .await
        .expect("upsert");
    t.db.backdate("orphan", Utc::now() - Age::hours(3))
        .await
        .expect("backdate");
    let taken =
        t.db.claim_orphans(Utc::now() - Age::hours(2), 10)
            .await
            .expect("claim_orphans");
    assert_eq!(taken.len(), 1);
    assert!(t.db.purge("orphan").await.expect("purge"));
    assert_eq!(t.db.get("orphan").await.expect("get"), None);
    assert!(!t.db.purge("orphan").await.expect("purge again"));
}

async fn deleted_rows_lists_rows_a_crashed_cleaner_left_in_deleted(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    for key in ["left-1", "left-2", "in-progress"] {
        t.db.upsert_uploaded(&upload(key)).await.expect("upsert");
        t.db.backdate(key, Utc::now() - Age::hours(3))
            .await
            .expect("backdate");
    }
    t.db.upsert_uploaded(&upload("fresh"))
        .await
        .expect("upsert");
    let taken =
        t.db.claim_orphans(Utc::now() - Age::hours(2), 10)
            .await
            .expect("claim_orphans");
    assert_eq!(taken.len(), 3);
    // A cleaner that took left-1 and left-2 crashed an hour ago (simulated by their age);
    // in-progress was taken just now by a cleaner still running.
    for key in ["left-1", "left-2"] {
        t.db.backdate(key, Utc::now() - Age::hours(1))
            .await
            .expect("backdate");
    }
    let cutoff = Utc::now() - Age::minutes(30);
    let left: HashSet<String> =
        t.db.deleted_rows(cutoff, 10)
            .await
            .expect("deleted_rows")
            .into_iter()
            .map(|r| r.file_key)
            .collect();
    assert_eq!(
        left,
        HashSet::from(["left-1".to_owned(), "left-2".to_owned()])
    );
    assert_eq!(t.db.deleted_rows(cutoff, 1).await.expect("limit").len(), 1);
    assert!(t
        .db
        .deleted_rows(cutoff, 0)
        .await
        .expect("limit 0")
        .is_empty());
}

async fn existing_keys_reports_exactly_the_keys_with_rows(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    row_in(&t.db, "a", Status::Uploaded).await;
    row_in(&t.db, "b", Status::Ready).await;
    row_in(&t.db, "c", Status::Deleted).await;
    assert!(t.db.existing_keys(&[]).await.expect("empty").is_empty());
    // More keys than one statement takes, with the real ones spread through them.
    let mut keys: Vec<String> = (0..2500).map(|i| format!("absent-{i}")).collect();
    keys.insert(0, "a".into());
    keys.insert(1500, "b".into());
    keys.push("c".into());
    keys.push("it's \"quoted\"".into());
    let found = t.db.existing_keys(&keys).await.expect("existing_keys");
    assert_eq!(
        found,
        HashSet::from(["a".to_owned(), "b".to_owned(), "c".to_owned()])
    );
}

async fn claim_of_an_unknown_key_is_missing(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    assert_eq!(
        t.db.claim("nope", "w", LEASE).await.expect("claim"),
        Claim::Missing
    );
    assert_eq!(t.db.get("nope").await.expect("get"), None);
}

// ---- connecting ----

#[tokio::test]
async fn connect_to_a_closed_port_fails_fast_as_unavailable() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let result = Db::connect(&format!("postgres://postgres@127.0.0.1:{port}/test")).await;
    let took = started.elapsed();
    println!("connect to a closed port failed after {took:?}");
    match result {
        Err(e @ DbError::Unavailable { .. }) => {
            assert_eq!(e.code(), "database-unavailable");
            assert_eq!(e.class(), Class::Retryable);
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(took < ACQUIRE_TIMEOUT, "took {took:?}");
}

#[tokio::test]
async fn connect_to_sqlite_in_a_missing_directory_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = Db::default_url(&dir.path().join("no-such-dir"));
    assert!(matches!(
        Db::connect(&url).await,
        Err(DbError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn connect_refuses_an_unknown_scheme_without_echoing_the_url() {
    match Db::connect("mysql://user:secret@host/db").await {
        Err(DbError::Unavailable { message }) => assert!(!message.contains("secret")),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_creates_the_sqlite_file_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(&Db::default_url(dir.path()))
        .await
        .expect("connect");
    assert_eq!(db.backend(), Backend::Sqlite);
    db.migrate().await.expect("migrate");
    db.upsert_uploaded(&upload("k")).await.expect("upsert");
    assert!(dir.path().join("attachd.db").is_file());
    // The write-ahead log exists while connections are open: WAL mode is on.
    assert!(dir.path().join("attachd.db-wal").is_file());
    db.close().await;
}

#[tokio::test]
async fn postgres_sessions_carry_the_statement_timeout() {
    let t = TestDb::postgres().await;
    // Raises (a Query error) unless the pool's sessions got attachd's statement_timeout.
    let expected = format!("{}s", attachd::db::PG_STATEMENT_TIMEOUT.as_secs());
    t.db.execute_unchecked(&format!(
        "DO $$ BEGIN IF current_setting('statement_timeout') <> '{expected}' THEN \
         RAISE EXCEPTION 'statement_timeout is %', current_setting('statement_timeout'); \
         END IF; END $$"
    ))
    .await
    .expect("statement_timeout set");
}

async fn renew_claim_extends_only_the_holders_live_claim(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    t.db.upsert_uploaded(&upload("k")).await.expect("upsert");
    let first = claimed(
        t.db.claim("k", "w", Duration::from_secs(1))
            .await
            .expect("claim"),
    );
    let until = first.claimed_until.expect("lease");
    // The holder renews: its lease now ends a minute from now, not a second.
    assert!(t
        .db
        .renew_claim("k", "w", Duration::from_secs(60))
        .await
        .expect("renew"));
    let renewed = row(&t.db, "k").await;
    let new_until = renewed.claimed_until.expect("lease");
    assert!(
        new_until - until > Age::seconds(50),
        "{until} → {new_until}"
    );
    assert_eq!(renewed.status, Status::Processing);
    assert_eq!(
        renewed.attempts, first.attempts,
        "a renewal is not an attempt"
    );
    // Past the old one-second lease the upload is still held.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(matches!(
        t.db.claim("k", "other", LEASE).await,
        Ok(Claim::Busy(_))
    ));
    // Anyone else's token renews nothing.
    assert!(!t.db.renew_claim("k", "other", LEASE).await.expect("renew"));
    assert_eq!(row(&t.db, "k").await, renewed);

    // Once taken over (the lease ran out), the old holder can no longer renew.
    t.db.execute_unchecked(&expire_lease_sql(backend, "k"))
        .await
        .expect("expire the lease");
    claimed(t.db.claim("k", "successor", LEASE).await.expect("takeover"));
    assert!(!t.db.renew_claim("k", "w", LEASE).await.expect("renew"));
    // And a finished row is no claim at all.
    assert!(t
        .db
        .publish_ready("k", "successor", &ready())
        .await
        .expect("publish"));
    assert!(!t
        .db
        .renew_claim("k", "successor", LEASE)
        .await
        .expect("renew"));
    assert_eq!(row(&t.db, "k").await.status, Status::Ready);
}

async fn orphan_candidates_page_by_key_and_claim_orphan_keys_takes_only_stale_uploaded_rows(
    backend: Backend,
) {
    let t = TestDb::migrated(backend).await;
    let old = Utc::now() - Age::hours(3);
    for key in ["s1", "s2", "s3", "s4"] {
        row_in(&t.db, key, Status::Uploaded).await;
        assert!(t.db.backdate(key, old).await.expect("backdate"));
    }
    row_in(&t.db, "fresh", Status::Uploaded).await;
    row_in(&t.db, "old-failed", Status::Failed).await;
    assert!(t.db.backdate("old-failed", old).await.expect("backdate"));
    let cutoff = Utc::now() - Age::hours(2);

    // Pages in key order, after the last key seen; changes nothing.
    let first = t.db.orphan_candidates(cutoff, None, 3).await.expect("page");
    assert_eq!(first, ["s1", "s2", "s3"]);
    let next =
        t.db.orphan_candidates(cutoff, Some("s3"), 3)
            .await
            .expect("page");
    assert_eq!(next, ["s4"]);
    assert_eq!(row(&t.db, "s1").await.status, Status::Uploaded);

    // A job takes s2 between the listing and the claim: s2 is no longer stale and stays.
    claimed(t.db.claim("s2", "job", LEASE).await.expect("claim"));
    let keys: Vec<String> = ["s1", "s2", "fresh", "old-failed", "absent"]
        .map(String::from)
        .to_vec();
    let taken = t.db.claim_orphan_keys(cutoff, &keys).await.expect("claim");
    let taken: Vec<&str> = taken.iter().map(|r| r.file_key.as_str()).collect();
    assert_eq!(taken, ["s1"]);
    assert_eq!(row(&t.db, "s1").await.status, Status::Deleted);
    assert_eq!(row(&t.db, "s2").await.status, Status::Processing);
    assert_eq!(row(&t.db, "fresh").await.status, Status::Uploaded);
    assert_eq!(row(&t.db, "old-failed").await.status, Status::Failed);
    // A second cleaner with the same keys takes nothing more.
    assert!(t
        .db
        .claim_orphan_keys(cutoff, &keys)
        .await
        .expect("claim")
        .is_empty());
}

// ---- guest releases and re-processing ----

/// A digest naming the release whose sha256 is `guests(seed)[i]`'s, by its first `len` digits.
fn digest_of(seed: &str, i: usize, len: usize) -> GuestDigest {
    GuestDigest::parse(&guests(seed)[i].sha256[..len]).expect("valid digest")
}

async fn the_trigger_lets_a_ready_row_back_to_processing_only_as_a_claim(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    row_in(&t.db, "k", Status::Ready).await;
    let lease_end = match backend {
        Backend::Postgres => "now() + interval '1 minute'",
        Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+60 seconds')",
    };
    // Still refused: any other move, and `processing` without a lease.
    for status in ["uploaded", "failed", "quarantined", "processing"] {
        assert_conflict(
            t.db.execute_unchecked(&format!(
                "UPDATE attachments SET status = '{status}' WHERE file_key = 'k'"
            ))
            .await,
        );
    }
    assert_eq!(row(&t.db, "k").await.status, Status::Ready);
    // A claim (status, token and lease in one statement) may re-open it.
    let reopened =
        t.db.execute_unchecked(&format!(
            "UPDATE attachments SET status = 'processing', claim_token = 'op', \
             claimed_until = {lease_end} WHERE file_key = 'k'"
        ))
        .await
        .expect("ready -> claimed processing allowed");
    assert_eq!(reopened, 1);
    // Out of quarantined and deleted, nothing changed.
    row_in(&t.db, "q", Status::Quarantined).await;
    row_in(&t.db, "d", Status::Deleted).await;
    for key in ["q", "d"] {
        assert_conflict(
            t.db.execute_unchecked(&format!(
                "UPDATE attachments SET status = 'processing', claim_token = 'op', \
                 claimed_until = {lease_end} WHERE file_key = '{key}'"
            ))
            .await,
        );
    }
    assert_conflict(
        t.db.execute_unchecked("UPDATE attachments SET status = 'ready' WHERE file_key = 'd'")
            .await,
    );
}

async fn claim_reprocess_reopens_only_ready_or_failed_rows_the_digest_touched(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    // "a": ready, processed by releases "1"; "b": ready, by releases "2"; "c": failed by "1";
    // "d": failed before any guest ran; "e": uploaded; "q": quarantined by "1".
    let a = row_in(db, "a", Status::Ready).await;
    let b = {
        db.upsert_uploaded(&upload("b")).await.expect("upsert");
        claimed(db.claim("b", "w", LEASE).await.expect("claim"));
        let r = Ready {
            guests: guests("2"),
            ..ready()
        };
        assert!(db.publish_ready("b", "w", &r).await.expect("publish"));
        row(db, "b").await
    };
    db.upsert_uploaded(&upload("c")).await.expect("upsert");
    claimed(db.claim("c", "w", LEASE).await.expect("claim"));
    assert!(db
        .mark_failed("c", "w", "malformed-input", "m", None, Some(&guests("1")))
        .await
        .expect("fail"));
    let d = row_in(db, "d", Status::Failed).await;
    assert_eq!(d.guests, None, "no guest ran");
    row_in(db, "e", Status::Uploaded).await;
    db.upsert_uploaded(&upload("q")).await.expect("upsert");
    claimed(db.claim("q", "w", LEASE).await.expect("claim"));
    let reject = ScanFields {
        verdict: ScanVerdict::Reject,
        findings: vec![],
    };
    assert!(db
        .mark_quarantined("q", "w", "scan-rejected", "m", &reject, Some(&guests("1")))
        .await
        .expect("quarantine"));

    // The scan release of "1", by a 12-digit prefix.
    let digest = digest_of("1", 1, 12);
    match db
        .claim_reprocess("a", "r", LEASE, &digest)
        .await
        .expect("claim")
    {
        Claim::Reopened(r) => {
            assert_eq!(r.status, Status::Processing);
            assert_eq!(r.attempts, a.attempts + 1);
            assert_eq!(
                r.variants, a.variants,
                "the old variants stay listed until a verdict"
            );
            assert_eq!(r.guests, a.guests);
        }
        other => panic!("expected Reopened, got {other:?}"),
    }
    match db
        .claim_reprocess("a", "r2", LEASE, &digest)
        .await
        .expect("claim")
    {
        Claim::Busy(_) => {}
        other => panic!("a live re-opened claim is Busy for another job, got {other:?}"),
    }
    match db
        .claim_reprocess("b", "r", LEASE, &digest)
        .await
        .expect("claim")
    {
        Claim::NotTouched(r) => assert_eq!(r, b),
        other => panic!("expected NotTouched, got {other:?}"),
    }
    assert_eq!(
        row(db, "b").await,
        b,
        "a row the release did not touch is unchanged"
    );
    assert!(matches!(
        db.claim_reprocess("c", "r", LEASE, &digest).await,
        Ok(Claim::Reopened(_))
    ));
    match db
        .claim_reprocess("d", "r", LEASE, &digest)
        .await
        .expect("claim")
    {
        Claim::NotTouched(r) => assert_eq!(r, d),
        other => panic!("a failed row the release did not touch stays failed, got {other:?}"),
    }
    assert_eq!(row(db, "d").await, d);
    // Its own retry after a release, and any upload still to process, are claimed as usual.
    assert!(matches!(
        db.claim_reprocess("e", "r", LEASE, &digest).await,
        Ok(Claim::Claimed(_))
    ));
    assert!(matches!(
        db.claim_reprocess("q", "r", LEASE, &digest).await,
        Ok(Claim::Finished(_))
    ));
    assert!(matches!(
        db.claim_reprocess("none", "r", LEASE, &digest).await,
        Ok(Claim::Missing)
    ));
    // Processed again by other releases: a late duplicate of the re-process job finds the
    // row no longer touched by the digest, and leaves it.
    let again = Ready {
        guests: guests("3"),
        ..ready()
    };
    assert!(db.publish_ready("a", "r", &again).await.expect("publish"));
    let published = row(db, "a").await;
    assert_eq!(published.guests, Some(guests("3")));
    match db
        .claim_reprocess("a", "late", LEASE, &digest)
        .await
        .expect("claim")
    {
        Claim::NotTouched(r) => assert_eq!(r, published),
        other => panic!("expected NotTouched, got {other:?}"),
    }
    // A plain process job never re-opens a ready row.
    assert!(matches!(
        db.claim("a", "plain", LEASE).await,
        Ok(Claim::Finished(_))
    ));
}

async fn verdicts_record_the_guests_and_only_a_ready_row_lists_variants(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    let a = row_in(db, "a", Status::Ready).await;
    assert_eq!(a.guests, Some(guests("1")));
    assert_eq!(a.variants, ready().variants);
    let digest = digest_of("1", 0, 64);
    assert!(matches!(
        db.claim_reprocess("a", "r", LEASE, &digest).await,
        Ok(Claim::Reopened(_))
    ));
    // Failing without the guests having run keeps the row's; the variants are no longer listed.
    assert!(db
        .mark_failed("a", "r", "object-not-found", "m", None, None)
        .await
        .expect("fail"));
    let failed = row(db, "a").await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.guests, Some(guests("1")));
    assert!(failed.variants.is_empty());
    // A release empties the list too, and keeps the guests.
    assert!(matches!(
        db.claim_reprocess("a", "r2", LEASE, &digest).await,
        Ok(Claim::Reopened(_))
    ));
    assert!(db
        .release("a", "r2", "storage-unavailable", "m")
        .await
        .expect("release"));
    let released = row(db, "a").await;
    assert_eq!(released.status, Status::Uploaded);
    assert!(released.variants.is_empty());
    assert_eq!(released.guests, Some(guests("1")));
    // Failing after the guests ran records the ones that ran.
    claimed(db.claim("a", "r3", LEASE).await.expect("claim"));
    assert!(db
        .mark_failed("a", "r3", "malformed-input", "m", None, Some(&guests("4")))
        .await
        .expect("fail"));
    assert_eq!(row(db, "a").await.guests, Some(guests("4")));
}

async fn rows_touched_by_selects_ready_and_failed_rows_by_digest_prefix(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    // "old" and "new": ready by releases "1"; "other": ready by "2"; "failed": failed by "1";
    // "none": failed before any guest ran; "q": quarantined by "1"; "up": uploaded.
    for key in ["old", "new"] {
        row_in(db, key, Status::Ready).await;
    }
    db.upsert_uploaded(&upload("other")).await.expect("upsert");
    claimed(db.claim("other", "w", LEASE).await.expect("claim"));
    let r = Ready {
        guests: guests("2"),
        ..ready()
    };
    assert!(db.publish_ready("other", "w", &r).await.expect("publish"));
    db.upsert_uploaded(&upload("failed")).await.expect("upsert");
    claimed(db.claim("failed", "w", LEASE).await.expect("claim"));
    assert!(db
        .mark_failed(
            "failed",
            "w",
            "malformed-input",
            "m",
            None,
            Some(&guests("1"))
        )
        .await
        .expect("fail"));
    row_in(db, "none", Status::Failed).await;
    db.upsert_uploaded(&upload("q")).await.expect("upsert");
    claimed(db.claim("q", "w", LEASE).await.expect("claim"));
    let reject = ScanFields {
        verdict: ScanVerdict::Reject,
        findings: vec![],
    };
    assert!(db
        .mark_quarantined("q", "w", "scan-rejected", "m", &reject, Some(&guests("1")))
        .await
        .expect("quarantine"));
    row_in(db, "up", Status::Uploaded).await;
    db.backdate("old", Utc::now() - Age::hours(2))
        .await
        .expect("backdate");

    let keys = |rows: Vec<Attachment>| rows.into_iter().map(|r| r.file_key).collect::<Vec<_>>();
    let mut by_prefix = keys(
        db.rows_touched_by(&digest_of("1", 2, 12), 10)
            .await
            .expect("select"),
    );
    assert_eq!(by_prefix[0], "old", "least recently changed first");
    by_prefix.sort();
    assert_eq!(by_prefix, ["failed", "new", "old"]);
    let whole = keys(
        db.rows_touched_by(&digest_of("2", 0, 64), 10)
            .await
            .expect("select"),
    );
    assert_eq!(whole, ["other"]);
    let limited = keys(
        db.rows_touched_by(&digest_of("1", 2, 20), 1)
            .await
            .expect("select"),
    );
    assert_eq!(limited, ["old"]);
    // A prefix of no recorded release, and a digest matching only in the middle of one.
    let unknown = GuestDigest::parse("abcdefabcdef").unwrap();
    assert!(db
        .rows_touched_by(&unknown, 10)
        .await
        .expect("select")
        .is_empty());
    let middle = GuestDigest::parse(&guests("1")[0].sha256[1..13]).unwrap();
    assert!(db
        .rows_touched_by(&middle, 10)
        .await
        .expect("select")
        .is_empty());
}
