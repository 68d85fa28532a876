//! The `attachments.process` job and orphan cleanup end to end, on real storage (a local
//! directory and an in-process S3 server that checks signatures) and real databases
//! (PostgreSQL and SQLite). The same behaviour suite runs on all four combinations.

mod common;

use attach_fixtures as fx;
use attachd::cleanup::{self, CleanupOptions, QueueCheck};
use attachd::db::{Backend, Claim, Db, NewAttachment, Status};
use attachd::error::{Class, ErrorCode};
use attachd::job::{Handler, HandlerDeps, JobError, ProcessPayload};
use attachd::sandbox::Format;
use attachd::storage::{self, ObjectMeta, S3Storage, Storage};
use common::db::TestDb;
use common::job::{photo_jpeg, sha256};
use common::s3::S3Server;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Store {
    Local,
    S3,
}

/// One test's world: its own storage root or bucket and its own database.
struct World {
    storage: Arc<dyn Storage>,
    db: TestDb,
    /// Where an object is on disk (in the local root, or s3s-fs's bucket folder), to age it.
    object_path: Box<dyn Fn(&str) -> PathBuf + Send + Sync>,
    _s3: Option<S3Server>,
    _dir: Option<tempfile::TempDir>,
}

impl World {
    async fn new(store: Store, backend: Backend) -> World {
        let db = TestDb::migrated(backend).await;
        match store {
            Store::Local => {
                let (storage, dir) = common::job::temp_store().await;
                let local = storage.clone();
                World {
                    storage,
                    db,
                    object_path: Box::new(move |key| local.path_of(key).unwrap()),
                    _s3: None,
                    _dir: Some(dir),
                }
            }
            Store::S3 => {
                let server = S3Server::start().await;
                let storage = S3Storage::new(server.settings()).await.unwrap();
                let bucket = server.bucket_dir();
                World {
                    storage: Arc::new(storage),
                    db,
                    object_path: Box::new(move |key| bucket.join(key)),
                    _s3: Some(server),
                    _dir: None,
                }
            }
        }
    }

    fn handler(&self) -> Handler {
        Handler::new(common::handler_deps(
            common::pipeline(),
            self.storage.clone(),
            self.db.db.clone(),
        ))
    }

    /// Puts an upload in storage as a client would and returns its job payload.
    async fn upload(&self, key: &str, data: &[u8], mime: &str) -> ProcessPayload {
        common::job::upload(&*self.storage, key, data, mime).await
    }

    async fn variant_objects(&self, file_key: &str) -> Vec<ObjectMeta> {
        self.storage
            .list(&storage::variants_prefix(file_key), None, 100)
            .await
            .unwrap()
    }

    /// Makes an object look `age` old to the sweep.
    fn age_object(&self, key: &str, age: Duration) {
        let f = std::fs::File::options()
            .write(true)
            .open((self.object_path)(key))
            .unwrap();
        f.set_modified(std::time::SystemTime::now() - age).unwrap();
    }
}

fn format_of(name: &str) -> Format {
    match name {
        "webp" => Format::Webp,
        "jpeg" => Format::Jpeg,
        "png" => Format::Png,
        other => panic!("unexpected variant format {other}"),
    }
}

async fn jpeg_upload_ends_ready_with_its_variants_in_storage(w: World) {
    let data = photo_jpeg();
    let payload = w.upload("uploads/a/photo.jpg", &data, "image/jpeg").await;
    let summary = w.handler().process(&payload).await.expect("processed");
    assert_eq!(summary.status, Status::Ready);
    assert!(!summary.already_done);
    assert_eq!((summary.width, summary.height), (Some(640), Some(480)));

    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Ready);
    assert_eq!(row.checksum.as_deref(), Some(sha256(&data).as_str()));
    assert_eq!(row.sniffed_mime.as_deref(), Some("image/jpeg"));
    assert_eq!(row.scan_verdict.as_deref(), Some("clean"));
    assert!(row.processed_at.is_some());
    assert!(
        row.placeholder.as_deref().is_some_and(|p| !p.is_empty()),
        "the ThumbHash is kept"
    );
    assert_eq!(row.placeholder, summary.placeholder);
    assert_eq!(row.variants, summary.variants);
    let names: Vec<_> = row.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["thumb", "preview"]);
    // The row's variants JSON says exactly what is in storage.
    for v in &row.variants {
        assert_eq!(
            v.key,
            storage::variant_key(
                &payload.file_key,
                &v.name,
                if v.format == "webp" { "webp" } else { "jpg" }
            )
        );
        let bytes = w.storage.get(&v.key, 1 << 30).await.unwrap();
        assert_eq!(bytes.len() as u64, v.bytes, "{}", v.name);
        let d = common::decode(format_of(&v.format), &bytes);
        assert_eq!((d.width, d.height), (v.width, v.height), "{}", v.name);
    }
    assert_eq!(
        w.variant_objects(&payload.file_key).await.len(),
        2,
        "no other objects"
    );
}

/// A phone's HEIC and a web AVIF end `ready` through the job handler, as the worker runs it:
/// the heif guest's variants in storage, named and sized as the row says.
async fn heic_and_avif_uploads_end_ready_with_their_variants_in_storage(w: World) {
    let photo = fx::photo(400, 300, 21);
    let avif = common::avifenc(&fx::png_rgb(&photo), &[]);
    for (key, data, mime) in [
        (
            "uploads/h/IMG_0001.heic",
            fx::heic(&photo, 80),
            "image/heic",
        ),
        ("uploads/h/photo.avif", avif, "image/avif"),
    ] {
        let payload = w.upload(key, &data, mime).await;
        let summary = w.handler().process(&payload).await.expect("processed");
        assert_eq!(summary.status, Status::Ready, "{key}");
        assert_eq!(
            (summary.width, summary.height),
            (Some(400), Some(300)),
            "{key}"
        );
        let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
        assert_eq!(row.sniffed_mime.as_deref(), Some(mime), "{key}");
        assert_eq!(row.variants, summary.variants);
        for v in &row.variants {
            let bytes = w.storage.get(&v.key, 1 << 30).await.unwrap();
            let d = common::decode(format_of(&v.format), &bytes);
            assert_eq!((d.width, d.height), (v.width, v.height), "{key} {}", v.name);
        }
        assert_eq!(w.variant_objects(&payload.file_key).await.len(), 2, "{key}");
    }
}

async fn running_the_job_twice_changes_nothing(w: World) {
    let payload = w
        .upload("uploads/b/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    let first = w.handler().process(&payload).await.unwrap();
    let row_before = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    let objects_before = w.variant_objects(&payload.file_key).await;
    let mut contents_before = vec![];
    for o in &objects_before {
        contents_before.push(w.storage.get(&o.key, 1 << 30).await.unwrap());
    }

    let second = w.handler().process(&payload).await.unwrap();
    assert!(second.already_done);
    assert_eq!(second.variants, first.variants);
    let row_after = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row_after, row_before, "the row is untouched");
    let objects_after = w.variant_objects(&payload.file_key).await;
    assert_eq!(
        objects_after.iter().map(|o| &o.key).collect::<Vec<_>>(),
        objects_before.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
    for (o, before) in objects_after.iter().zip(contents_before) {
        assert_eq!(w.storage.get(&o.key, 1 << 30).await.unwrap(), before);
    }
}

async fn two_concurrent_runs_publish_once(w: World) {
    let payload = w
        .upload("uploads/c/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    let (h1, h2) = (w.handler(), w.handler());
    let (a, b) = tokio::join!(h1.process(&payload), h2.process(&payload));
    let fresh = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Ok(s) if !s.already_done))
        .count();
    assert_eq!(fresh, 1, "exactly one run published: {a:?} / {b:?}");
    for r in [&a, &b] {
        match r {
            Ok(s) => assert_eq!(s.status, Status::Ready),
            // The loser saw the other's live claim: retryable, and a retry finds it done.
            Err(e) => assert_eq!((e.code(), e.class()), ("attachment-busy", Class::Retryable)),
        }
    }
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Ready);
    assert_eq!(row.variants.len(), 2);
    assert_eq!(w.variant_objects(&payload.file_key).await.len(), 2);
    let retry = w.handler().process(&payload).await.unwrap();
    assert!(retry.already_done);
}

async fn checksum_mismatch_fails_permanently_and_publishes_nothing(w: World) {
    let mut payload = w
        .upload("uploads/d/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    payload.checksum = Some("0".repeat(64));
    let e = w.handler().process(&payload).await.unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("checksum-mismatch", Class::Permanent)
    );
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Failed);
    assert_eq!(row.error_code.as_deref(), Some("checksum-mismatch"));
    assert!(row.variants.is_empty());
    assert!(w.variant_objects(&payload.file_key).await.is_empty());
}

async fn size_mismatch_fails_permanently_and_publishes_nothing(w: World) {
    let mut payload = w
        .upload("uploads/e/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    payload.size += 1;
    payload.checksum = None;
    let e = w.handler().process(&payload).await.unwrap_err();
    assert_eq!((e.code(), e.class()), ("size-mismatch", Class::Permanent));
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Failed);
    assert!(w.variant_objects(&payload.file_key).await.is_empty());
}

async fn hostile_upload_fails_permanently_with_its_code(w: World) {
    let payload = w
        .upload("uploads/f/bomb.png", &fx::png_bomb_30000(), "image/png")
        .await;
    let e = w.handler().process(&payload).await.unwrap_err();
    assert_eq!((e.code(), e.class()), ("too-many-pixels", Class::Permanent));
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Failed);
    assert_eq!(row.error_code.as_deref(), Some("too-many-pixels"));
    // A retried job does not move a permanent failure: it fails the same way.
    let again = w.handler().process(&payload).await.unwrap_err();
    assert_eq!(again.code(), "too-many-pixels");
}

async fn key_escaping_the_store_is_refused(w: World) {
    let payload = ProcessPayload {
        file_key: "../etc/passwd".into(),
        mime_type: "image/png".into(),
        size: 10,
        variants: vec![],
        checksum: None,
        reprocess_guest_digest: None,
    };
    let e = w.handler().process(&payload).await.unwrap_err();
    assert_eq!((e.code(), e.class()), ("invalid-payload", Class::Permanent));
}

async fn storage_failing_mid_job_is_retryable_and_publishes_nothing(w: World) {
    let payload = w
        .upload("uploads/g/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    // The second variant upload fails, as an unreachable store would: the job is then
    // half-way through publishing.
    let flaky: Arc<dyn Storage> = Arc::new(common::store::Watched::failing_put_when(
        w.storage.clone(),
        |_, before| before == 1,
    ));
    let handler = Handler::new(common::handler_deps(
        common::pipeline(),
        flaky,
        w.db.db.clone(),
    ));
    let e = handler.process(&payload).await.unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("storage-unavailable", Class::Retryable)
    );
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(
        row.status,
        Status::Uploaded,
        "released for a retry, not failed"
    );
    assert!(row.variants.is_empty());
    assert!(
        w.variant_objects(&payload.file_key).await.is_empty(),
        "the variant written before the failure is gone"
    );
    // The retry, with the store back, publishes normally.
    let summary = w.handler().process(&payload).await.unwrap();
    assert_eq!(summary.status, Status::Ready);
}

async fn unreachable_database_is_retryable_and_leaves_the_row_alone(w: World) {
    let payload = w
        .upload("uploads/h/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    w.db.db
        .upsert_uploaded(&NewAttachment {
            file_key: payload.file_key.clone(),
            mime_type: payload.mime_type.clone(),
            size: payload.size as i64,
            checksum: payload.checksum.clone(),
        })
        .await
        .unwrap();
    let gone = Db::connect(&w.db.url).await.unwrap();
    gone.close().await;
    let handler = Handler::new(common::handler_deps(
        common::pipeline(),
        w.storage.clone(),
        gone,
    ));
    let e: JobError = handler.process(&payload).await.unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("database-unavailable", Class::Retryable),
        "{e}"
    );
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Uploaded);
    assert_eq!(row.attempts, 0);
    assert!(w.variant_objects(&payload.file_key).await.is_empty());
}

const HOURS_3: Duration = Duration::from_secs(3 * 3600);

async fn stale_row(w: &World, key: &str) {
    w.upload(key, b"not yet processed", "image/png").await;
    w.storage
        .put(
            &storage::variant_key(key, "thumb", "webp"),
            b"left over".to_vec().into(),
            "image/webp",
        )
        .await
        .unwrap();
    w.db.db
        .upsert_uploaded(&NewAttachment {
            file_key: key.into(),
            mime_type: "image/png".into(),
            size: 17,
            checksum: None,
        })
        .await
        .unwrap();
    w.db.db
        .backdate(key, chrono::Utc::now() - chrono::Duration::hours(3))
        .await
        .unwrap();
}

fn sweep_options() -> CleanupOptions {
    CleanupOptions {
        sweep_prefix: Some("uploads/".into()),
        ..CleanupOptions::default()
    }
}

async fn cleanup_removes_exactly_the_stale_uploaded_rows_and_their_objects(w: World) {
    stale_row(&w, "uploads/stale/a.png").await;
    // A fresh upload, a processed one that is old, and an old object with no row.
    let fresh = w.upload("uploads/fresh/b.png", b"fresh", "image/png").await;
    w.db.db
        .upsert_uploaded(&NewAttachment {
            file_key: fresh.file_key.clone(),
            mime_type: "image/png".into(),
            size: 5,
            checksum: None,
        })
        .await
        .unwrap();
    let ready = w
        .upload("uploads/ready/c.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    w.handler().process(&ready).await.unwrap();
    w.db.db
        .backdate(
            &ready.file_key,
            chrono::Utc::now() - chrono::Duration::hours(3),
        )
        .await
        .unwrap();
    w.storage
        .put(
            "uploads/nobody/d.png",
            b"orphan".to_vec().into(),
            "image/png",
        )
        .await
        .unwrap();
    w.age_object("uploads/nobody/d.png", HOURS_3);
    w.storage
        .put(
            "uploads/nobody-yet/e.png",
            b"young orphan".to_vec().into(),
            "image/png",
        )
        .await
        .unwrap();

    let dry = cleanup::run(
        &w.db.db,
        &w.storage,
        &QueueCheck::NoQueue,
        &CleanupOptions {
            dry_run: true,
            ..sweep_options()
        },
    )
    .await
    .unwrap();
    assert_eq!((dry.rows_removed, dry.orphan_objects), (1, 1));
    assert!(
        w.storage
            .head("uploads/nobody/d.png")
            .await
            .unwrap()
            .is_some(),
        "a dry run deletes nothing"
    );
    assert!(w.db.db.get("uploads/stale/a.png").await.unwrap().is_some());

    let report = cleanup::run(&w.db.db, &w.storage, &QueueCheck::NoQueue, &sweep_options())
        .await
        .unwrap();
    assert_eq!(report.rows_removed, 1);
    assert_eq!(report.objects_removed, 2, "the upload and its variant");
    assert_eq!(report.orphan_keys, ["uploads/nobody/d.png"]);
    assert!(w.db.db.get("uploads/stale/a.png").await.unwrap().is_none());
    assert!(w
        .storage
        .head("uploads/stale/a.png")
        .await
        .unwrap()
        .is_none());
    assert!(w.variant_objects("uploads/stale/a.png").await.is_empty());
    // Everything else is untouched.
    assert_eq!(
        w.db.db.get(&fresh.file_key).await.unwrap().unwrap().status,
        Status::Uploaded
    );
    let ready_row = w.db.db.get(&ready.file_key).await.unwrap().unwrap();
    assert_eq!(ready_row.status, Status::Ready);
    for v in &ready_row.variants {
        assert!(
            w.storage.head(&v.key).await.unwrap().is_some(),
            "a ready row's variants stay"
        );
    }
    assert!(w.storage.head(&ready.file_key).await.unwrap().is_some());
    assert!(
        w.storage
            .head("uploads/nobody-yet/e.png")
            .await
            .unwrap()
            .is_some(),
        "a young object may still get its row"
    );
}

/// A worker that died mid-job leaves its row `processing` under a lease; when no job takes the
/// upload over within the orphan age, cleanup marks it failed (visible to the API) and keeps
/// the upload, and a job that turns up later still processes it.
async fn a_processing_row_nobody_took_over_is_marked_failed_and_stays_claimable(w: World) {
    let data = photo_jpeg();
    let (dead, alive) = ("uploads/abandoned/a.jpg", "uploads/abandoned/b.jpg");
    let mut payloads = Vec::new();
    for key in [dead, alive] {
        let payload = w.upload(key, &data, "image/jpeg").await;
        w.db.db
            .upsert_uploaded(&NewAttachment {
                file_key: key.into(),
                mime_type: "image/jpeg".into(),
                size: data.len() as i64,
                checksum: payload.checksum.clone(),
            })
            .await
            .unwrap();
        // A worker claims it and then dies, holding the claim.
        let claim =
            w.db.db
                .claim(key, "dead-worker", Duration::from_secs(60))
                .await;
        assert!(matches!(claim, Ok(Claim::Claimed(_))), "{claim:?}");
        payloads.push(payload);
    }
    // The first lost its worker three hours ago; the second's worker is still on it.
    w.db.db
        .backdate(dead, chrono::Utc::now() - chrono::Duration::hours(3))
        .await
        .unwrap();

    let dry = cleanup::run(
        &w.db.db,
        &w.storage,
        &QueueCheck::NoQueue,
        &CleanupOptions {
            dry_run: true,
            ..CleanupOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(dry.abandoned, 1);
    assert_eq!(
        w.db.db.get(dead).await.unwrap().unwrap().status,
        Status::Processing
    );

    let report = cleanup::run(
        &w.db.db,
        &w.storage,
        &QueueCheck::NoQueue,
        &CleanupOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.abandoned, report.rows_removed),
        (1, 0),
        "{report:?}"
    );
    let row = w.db.db.get(dead).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Failed);
    assert_eq!(row.error_code.as_deref(), Some(cleanup::ABANDONED_CODE));
    assert!(
        row.error_message.as_deref().unwrap().contains("2h"),
        "{row:?}"
    );
    assert!(
        w.storage.head(dead).await.unwrap().is_some(),
        "the upload is kept"
    );
    let live = w.db.db.get(alive).await.unwrap().unwrap();
    assert_eq!(
        live.status,
        Status::Processing,
        "a live claim is left alone"
    );

    // A second run finds nothing more; a job that turns up later processes the upload.
    let again = cleanup::run(
        &w.db.db,
        &w.storage,
        &QueueCheck::NoQueue,
        &CleanupOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(again.abandoned, 0);
    let summary = w.handler().process(&payloads[0]).await.unwrap();
    assert_eq!(summary.status, Status::Ready);
    assert!(!summary.variants.is_empty());
}

async fn two_cleaners_at_once_remove_each_stale_row_once(w: World) {
    for i in 0..12 {
        stale_row(&w, &format!("uploads/many/{i:02}.png")).await;
    }
    let opts = sweep_options();
    let (a, b) = tokio::join!(
        cleanup::run(&w.db.db, &w.storage, &QueueCheck::NoQueue, &opts),
        cleanup::run(&w.db.db, &w.storage, &QueueCheck::NoQueue, &opts)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.rows_removed + b.rows_removed, 12, "{a:?} {b:?}");
    for i in 0..12 {
        let key = format!("uploads/many/{i:02}.png");
        assert!(w.db.db.get(&key).await.unwrap().is_none());
        assert!(w.storage.head(&key).await.unwrap().is_none());
    }
}

async fn a_tiny_declared_size_on_a_big_object_fails_size_mismatch_reading_at_most_one_byte_more(
    w: World,
) {
    let big = vec![0x5a; 4 * 1024 * 1024];
    let mut payload = w.upload("uploads/lie/big.png", &big, "image/png").await;
    payload.size = 1;
    payload.checksum = None;
    let watched = Arc::new(common::store::Watched::recording(w.storage.clone()));
    let handler = Handler::new(common::handler_deps(
        common::pipeline(),
        watched.clone(),
        w.db.db.clone(),
    ));
    let e = handler.process(&payload).await.unwrap_err();
    assert_eq!((e.code(), e.class()), ("size-mismatch", Class::Permanent));
    // The job asked the store for the declared byte (the store reads one more to see the
    // object is larger, and refuses), not for the 64 MiB the pipeline would accept.
    assert_eq!(
        watched.reads(),
        [common::store::Read {
            key: payload.file_key.clone(),
            max: 1,
            got: None,
        }]
    );
    let row = w.db.db.get(&payload.file_key).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Failed);
    assert_eq!(row.error_code.as_deref(), Some("size-mismatch"));
}

async fn a_key_whose_variant_keys_would_pass_1024_bytes_is_refused_before_anything_is_read(
    w: World,
) {
    // 1012 bytes: a valid key itself, but `variants/<key>/thumb.webp` is 1032.
    let key = format!("uploads/{}", vec!["a".repeat(200); 5].join("/"));
    assert_eq!(key.len(), 1012);
    assert!(storage::validate_key(&key).is_ok());
    // No object behind it: the in-process S3 server cannot hold such a key, and the job must
    // not get as far as reading it anyway.
    let payload = ProcessPayload {
        file_key: key.clone(),
        mime_type: "image/jpeg".into(),
        size: 1234,
        variants: vec![],
        checksum: None,
        reprocess_guest_digest: None,
    };
    let watched = Arc::new(common::store::Watched::recording(w.storage.clone()));
    let handler = Handler::new(common::handler_deps(
        common::pipeline(),
        watched.clone(),
        w.db.db.clone(),
    ));
    let e = handler.process(&payload).await.unwrap_err();
    assert_eq!((e.code(), e.class()), ("invalid-payload", Class::Permanent));
    assert!(e.to_string().contains("1024"), "{e}");
    assert!(watched.reads().is_empty());
    assert!(watched.puts().is_empty());
    assert!(w.db.db.get(&key).await.unwrap().is_none(), "no row written");
}

async fn a_job_outlasting_its_lease_renews_the_claim_so_no_one_takes_the_upload_over(w: World) {
    let payload = w
        .upload("uploads/slow/photo.jpg", &photo_jpeg(), "image/jpeg")
        .await;
    // A slow step (here the read) longer than the lease, as a long video transcode is.
    let slow = Arc::new(
        common::store::Watched::recording(w.storage.clone())
            .with_get_delay(Duration::from_millis(2500)),
    );
    let handler = Handler::new(HandlerDeps {
        lease: Duration::from_secs(1),
        ..common::handler_deps(common::pipeline(), slow, w.db.db.clone())
    });
    let key = payload.file_key.clone();
    let (done, other) = tokio::join!(handler.process(&payload), async {
        // Well past the one-second lease the job started with, while it still runs.
        tokio::time::sleep(Duration::from_millis(1800)).await;
        w.db.db
            .claim(&key, "another-worker", Duration::from_secs(60))
            .await
            .unwrap()
    });
    assert!(matches!(other, Claim::Busy(_)), "{other:?}");
    let summary = done.unwrap();
    assert_eq!(summary.status, Status::Ready);
    assert_eq!(w.db.db.get(&key).await.unwrap().unwrap().attempts, 1);
}

/// One #[tokio::test] per behaviour and combination of store and database.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod local_sqlite { use super::*; $(#[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(World::new(Store::Local, Backend::Sqlite).await).await } )* }
        mod local_postgres { use super::*; $(#[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(World::new(Store::Local, Backend::Postgres).await).await } )* }
        mod s3_sqlite { use super::*; $(#[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(World::new(Store::S3, Backend::Sqlite).await).await } )* }
        mod s3_postgres { use super::*; $(#[tokio::test(flavor = "multi_thread")] async fn $case() { super::$case(World::new(Store::S3, Backend::Postgres).await).await } )* }
    };
}

suite!(
    jpeg_upload_ends_ready_with_its_variants_in_storage,
    heic_and_avif_uploads_end_ready_with_their_variants_in_storage,
    running_the_job_twice_changes_nothing,
    two_concurrent_runs_publish_once,
    checksum_mismatch_fails_permanently_and_publishes_nothing,
    size_mismatch_fails_permanently_and_publishes_nothing,
    hostile_upload_fails_permanently_with_its_code,
    key_escaping_the_store_is_refused,
    storage_failing_mid_job_is_retryable_and_publishes_nothing,
    unreachable_database_is_retryable_and_leaves_the_row_alone,
    cleanup_removes_exactly_the_stale_uploaded_rows_and_their_objects,
    two_cleaners_at_once_remove_each_stale_row_once,
    a_processing_row_nobody_took_over_is_marked_failed_and_stays_claimable,
    a_tiny_declared_size_on_a_big_object_fails_size_mismatch_reading_at_most_one_byte_more,
    a_key_whose_variant_keys_would_pass_1024_bytes_is_refused_before_anything_is_read,
    a_job_outlasting_its_lease_renews_the_claim_so_no_one_takes_the_upload_over,
);
