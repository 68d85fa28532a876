//! Commands on the queues: `worker` takes jobs as the Node worker would, `enqueue` adds one as
//! the Node API does.

use crate::app;
use crate::job::ProcessPayload;
use crate::queue::{Backoff, Enqueue, EnqueueOptions, QueueName};
use crate::settings::Settings;
use crate::storage;
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Ask every configured service (Redis, the database, the object store, clamd) once,
    /// print a line each, and exit: 0 when all answer, 1 when any does not.
    #[arg(long)]
    pub check: bool,
}

/// `attachd worker`: serves `/metrics`, takes jobs until SIGTERM/SIGINT, then drains. Prints
/// one JSON line when it takes jobs (scripts and tests wait for it) and one when it stops.
/// With `--check`, only asks its services.
pub async fn worker(args: WorkerArgs, settings: &Settings) -> anyhow::Result<i32> {
    if args.check {
        let verdicts = app::check_dependencies(settings).await;
        for verdict in &verdicts {
            println!("{verdict}");
        }
        return Ok(if verdicts.iter().all(|v| v.answer.is_ok()) {
            0
        } else {
            1
        });
    }
    if !settings.queue.enabled {
        eprintln!("attachd worker: the queue is disabled (ATTACH_QUEUE_ENABLED=0); not starting");
        return Ok(2);
    }
    let Some(worker) = app::Worker::build(settings).await? else {
        println!(
            "{}",
            serde_json::json!({ "event": "stopped", "cutOff": 0, "beforeReady": true })
        );
        return Ok(0);
    };
    let (metrics_addr, prefix) = (worker.metrics_addr, settings.queue.prefix.clone());
    let ready = move || {
        let queues: Vec<&str> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
        println!(
            "{}",
            serde_json::json!({ "event": "ready", "pid": std::process::id(), "metricsAddr": metrics_addr.to_string(), "prefix": prefix, "queues": queues })
        );
    };
    let report = worker.run(ready).await?;
    println!(
        "{}",
        serde_json::json!({ "event": "stopped", "cutOff": report.cut_off })
    );
    Ok(0)
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum EnqueueQueue {
    Process,
    VscanRetry,
}

#[derive(Args, Debug)]
pub struct EnqueueArgs {
    /// The upload's object key.
    pub file_key: String,
    /// Declared MIME type.
    #[arg(long)]
    pub mime: String,
    /// Declared size in bytes.
    #[arg(long)]
    pub size: u64,
    /// Variant specs or names of configured variants (comma-separated or repeated).
    #[arg(long = "variants", alias = "variant", value_delimiter = ',')]
    pub variants: Vec<String>,
    /// sha256 (hex) of the upload, if known.
    #[arg(long)]
    pub checksum: Option<String>,
    #[arg(long, value_enum, default_value = "process")]
    pub queue: EnqueueQueue,
    /// Attempts of the job (default: ATTACH_QUEUE_DEFAULT_ATTEMPTS).
    #[arg(long)]
    pub attempts: Option<u32>,
    /// `exponential:2s` or `fixed:5s` (default: ATTACH_QUEUE_DEFAULT_BACKOFF).
    #[arg(long, value_parser = Backoff::parse)]
    pub backoff: Option<Backoff>,
    /// Run no earlier than this from now.
    #[arg(long, value_parser = crate::settings::parse_duration)]
    pub delay: Option<Duration>,
    /// Custom job id (BullMQ refuses a second job with the same id while the first exists).
    #[arg(long)]
    pub job_id: Option<String>,
}

/// `attachd enqueue KEY`: one job, as the Node API adds it.
pub async fn enqueue(args: EnqueueArgs, settings: &Settings) -> anyhow::Result<i32> {
    let payload = ProcessPayload {
        file_key: args.file_key,
        mime_type: args.mime,
        size: args.size,
        variants: args.variants,
        checksum: args.checksum,
        reprocess_guest_digest: None,
    };
    storage::validate_key(&payload.file_key)?;
    let queue = match args.queue {
        EnqueueQueue::Process => QueueName::Process,
        EnqueueQueue::VscanRetry => QueueName::VscanRetry,
    };
    let backend = app::queue(&settings.queue).await?;
    // The producer states attempts and backoff on the job, as the Node API does, so every
    // worker (Node or attachd) retries it the same way.
    let opts = EnqueueOptions {
        attempts: Some(
            args.attempts
                .unwrap_or(settings.queue.default_retry.attempts),
        ),
        backoff: Some(args.backoff.unwrap_or(settings.queue.default_retry.backoff)),
        delay: args.delay,
        job_id: args.job_id,
    };
    let id = backend
        .enqueue(queue, serde_json::to_value(&payload)?, &opts)
        .await?;
    println!(
        "{}",
        serde_json::json!({ "jobId": id, "queue": queue.as_str(), "name": queue.job_name() })
    );
    Ok(0)
}
