//! Commands on uploads in the configured database and object store: `migrate`, `ingest`,
//! `process --store`, `cleanup` and `requeue`.

use super::local::{mime_from_extension, ProcessArgs};
use crate::app;
use crate::cleanup::{self, CleanupOptions};
use crate::db::{Attachment, GuestDigest, NewAttachment};
use crate::error::ErrorCode;
use crate::job::{JobError, ProcessPayload};
use crate::metrics::Metrics;
use crate::queue::{Backoff, Enqueue, EnqueueOptions, QueueName};
use crate::settings::Settings;
use crate::storage;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// `attachd migrate`: brings the database schema up to date.
pub async fn migrate(settings: &Settings) -> anyhow::Result<i32> {
    let db = app::connect_database(&settings.store).await?;
    db.migrate().await?;
    db.check_schema().await?;
    eprintln!("database schema is up to date");
    Ok(0)
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The local file to upload.
    pub file: PathBuf,
    /// Object key (default: <ATTACH_UPLOAD_PREFIX><uuid>/<file name>).
    #[arg(long)]
    pub key: Option<String>,
    /// Declared MIME type (default: from the file's extension).
    #[arg(long)]
    pub mime: Option<String>,
}

/// `attachd ingest FILE`: stores the file and creates its `uploaded` row, as the API would.
pub async fn ingest(args: IngestArgs, settings: &Settings) -> anyhow::Result<i32> {
    let data =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let key = match args.key {
        Some(k) => k,
        None => storage::new_upload_key(
            &settings.cleanup.upload_prefix,
            &args
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    storage::validate_key(&key)?;
    let mime = args
        .mime
        .unwrap_or_else(|| mime_from_extension(&args.file).to_string());
    let checksum = crate::sandbox::hex(&<sha2::Sha256 as sha2::Digest>::digest(&data));
    let (db, storage) = (
        app::database(&settings.store).await?,
        app::object_store(&settings.store).await?,
    );
    let size = data.len();
    storage.put(&key, data.into(), &mime).await?;
    db.upsert_uploaded(&NewAttachment {
        file_key: key.clone(),
        mime_type: mime.clone(),
        size: size as i64,
        checksum: Some(checksum.clone()),
    })
    .await?;
    println!(
        "{}",
        serde_json::json!({ "fileKey": key, "mimeType": mime, "size": size, "checksum": checksum })
    );
    Ok(0)
}

/// `process --store`: each argument is a file key; runs the same handler as the worker's
/// `attachments.process` job and prints its summary (or its error) as one JSON line.
pub async fn process(args: ProcessArgs, settings: &Settings) -> anyhow::Result<i32> {
    let pipeline = app::pipeline(settings)?;
    let (db, storage) = (
        app::database(&settings.store).await?,
        app::object_store(&settings.store).await?,
    );
    let metrics = Metrics::new(&QueueName::labels());
    let (handler, _) = app::handler(settings, pipeline, storage, db.clone(), None, metrics).await?;
    let mut code = 0;
    for key in &args.files {
        let key = key.to_string_lossy().into_owned();
        let Some(row) = db.get(&key).await? else {
            let missing = JobError::Missing {
                file_key: key.clone(),
            }
            .code();
            println!(
                "{}",
                serde_json::json!({ "fileKey": key, "status": "failed", "errorCode": missing, "error": "no attachments row: ingest it first" })
            );
            code = 1;
            continue;
        };
        let payload = ProcessPayload {
            file_key: key.clone(),
            mime_type: args.mime.clone().unwrap_or(row.mime_type.clone()),
            size: u64::try_from(row.size).unwrap_or(0),
            variants: args.variants.clone(),
            checksum: None,
            reprocess_guest_digest: None,
        };
        match handler.process(&payload).await {
            Ok(summary) => println!("{}", serde_json::to_string(&summary)?),
            Err(e) => {
                if e.class() == crate::error::Class::Retryable {
                    code = 1;
                }
                println!(
                    "{}",
                    serde_json::json!({ "fileKey": key, "status": "failed", "errorCode": e.code(), "error": e.to_string(), "retryable": e.class() == crate::error::Class::Retryable })
                );
            }
        }
    }
    Ok(code)
}

#[derive(Args, Debug)]
pub struct CleanupArgs {
    /// Report what would be removed without removing anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// `attachd cleanup`: one run of the orphan cleanup. With the queue on (the default), it reads
/// the queues first and keeps every upload a waiting, delayed or active job will still
/// process; Redis unreachable means exit 1 with nothing deleted. Without the queue, cleanup
/// cannot tell a queued upload from an orphan, so only a deployment that runs none
/// (`ATTACH_QUEUE_ENABLED=0`) deletes stale uploads without asking Redis.
pub async fn cleanup(args: CleanupArgs, settings: &Settings) -> anyhow::Result<i32> {
    let (db, storage) = (
        app::database(&settings.store).await?,
        app::object_store(&settings.store).await?,
    );
    let opts = CleanupOptions {
        max_age: settings.cleanup.orphan_max_age,
        sweep_prefix: Some(settings.cleanup.upload_prefix.clone()),
        dry_run: args.dry_run,
    };
    let queue = if settings.queue.enabled {
        cleanup::QueueCheck::Queue(Arc::new(app::queue(&settings.queue).await?))
    } else {
        cleanup::QueueCheck::NoQueue
    };
    let report = cleanup::run(&db, &storage, &queue, &opts).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(0)
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum RequeueStatus {
    Failed,
    /// Never processed: the API's job for them was lost.
    Uploaded,
}

/// Uploads sent back per run of `attachd requeue`: a batch a person can read the output of;
/// run it again for more.
pub const DEFAULT_REQUEUE_LIMIT: i64 = 1000;

#[derive(Args, Debug)]
pub struct RequeueArgs {
    /// Which rows to send back.
    #[arg(long, value_enum, default_value = "failed")]
    pub status: RequeueStatus,
    /// Only rows whose error code is this (`processing-abandoned`, `scanner-unavailable`, ...).
    #[arg(long)]
    pub code: Option<String>,
    /// Instead: process again every `ready` or `failed` upload that the guest release with this
    /// sha256 (12 to 64 lowercase hex digits of it) last processed.
    #[arg(long, value_name = "HEX", value_parser = GuestDigest::parse, conflicts_with_all = ["status", "code"])]
    pub guest_digest: Option<GuestDigest>,
    /// At most this many uploads per run, least recently changed first.
    #[arg(long, default_value_t = DEFAULT_REQUEUE_LIMIT)]
    pub limit: i64,
    /// List the uploads; enqueue nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Attempts of each job (default: ATTACH_QUEUE_DEFAULT_ATTEMPTS).
    #[arg(long)]
    pub attempts: Option<u32>,
    /// `exponential:2s` or `fixed:5s` (default: ATTACH_QUEUE_DEFAULT_BACKOFF).
    #[arg(long, value_parser = Backoff::parse)]
    pub backoff: Option<Backoff>,
}

/// `attachd requeue`: one process job per selected row. The job id is derived from the key
/// and the row's claim count, so running the command again before the job has run adds
/// nothing (BullMQ keeps one job per id), while a row that failed again is sent once more.
///
/// With `--guest-digest`: the `ready` and `failed` rows the named guest release last processed,
/// each as a re-process job (`reprocessGuestDigest`: the release's whole sha256), whose id is
/// derived from the key and that sha256, so the command enqueues each upload once however
/// often it runs (and whichever prefix named the release).
pub async fn requeue(args: RequeueArgs, settings: &Settings) -> anyhow::Result<i32> {
    let status = match args.status {
        RequeueStatus::Failed => crate::db::Status::Failed,
        RequeueStatus::Uploaded => crate::db::Status::Uploaded,
    };
    let db = app::database(&settings.store).await?;
    let rows = match &args.guest_digest {
        Some(digest) => db.rows_touched_by(digest, args.limit).await?,
        None => {
            db.rows_with_status(status, args.code.as_deref(), args.limit)
                .await?
        }
    };
    let backend = if args.dry_run {
        None
    } else {
        Some(app::queue(&settings.queue).await?)
    };
    let retry = settings.queue.default_retry;
    let mut sent = 0u64;
    for row in &rows {
        let release = args.guest_digest.as_ref().map(|d| touched_release(d, row));
        let payload = ProcessPayload {
            file_key: row.file_key.clone(),
            mime_type: row.mime_type.clone(),
            size: u64::try_from(row.size).unwrap_or(0),
            variants: vec![],
            checksum: row.checksum.clone(),
            reprocess_guest_digest: release.clone(),
        };
        let digest = crate::job::key_digest(&row.file_key);
        let job_id = match &release {
            Some(sha256) => format!("reprocess-{digest}-{sha256}"),
            None => format!("requeue-{digest}-{}", row.attempts),
        };
        let opts = EnqueueOptions {
            attempts: Some(args.attempts.unwrap_or(retry.attempts)),
            backoff: Some(args.backoff.unwrap_or(retry.backoff)),
            delay: None,
            job_id: Some(job_id),
        };
        let job_id = match &backend {
            Some(b) => {
                let id = b
                    .enqueue(QueueName::Process, serde_json::to_value(&payload)?, &opts)
                    .await?;
                sent += 1;
                Some(id)
            }
            None => None,
        };
        let mut line = serde_json::json!({
            "fileKey": row.file_key,
            "status": row.status.as_str(),
            "errorCode": row.error_code,
            "jobId": job_id,
        });
        if let Some(sha256) = &release {
            line["guestDigest"] = sha256.as_str().into();
        }
        println!("{line}");
    }
    let mut summary = serde_json::json!({ "event": "requeued", "found": rows.len(), "enqueued": sent, "dryRun": args.dry_run });
    if let Some(digest) = &args.guest_digest {
        summary["guestDigest"] = digest.as_str().into();
    }
    println!("{summary}");
    Ok(0)
}

/// The whole sha256 of the release `digest` names among the guests that last processed
/// `row` (the database selected the row for having one; the digest as given otherwise).
fn touched_release(digest: &GuestDigest, row: &Attachment) -> String {
    digest
        .find(row.guests.as_deref().unwrap_or_default())
        .map_or_else(|| digest.as_str().to_owned(), |g| g.sha256.clone())
}
