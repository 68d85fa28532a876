//! The worker's circuit breaker against a real Redis, in process: a handler whose storage is
//! down, a health probe the test switches. Needs Redis (ATTACH_TEST_REDIS_URL, default
//! redis://127.0.0.1:6379); no guests, no Node.

use attachd::error::{Class, Code};
use attachd::metrics::Metrics;
use attachd::queue::Backoff;
use attachd::queue::{BullBackend, RedisTarget};
use attachd::queue::{EnqueueOptions, Failure, Job, Processor, QueueBackend, QueueName};
use attachd::worker::{self, Dependency, Health, WorkerConfig, BREAKER_THRESHOLD};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);
const JOBS: usize = 12;

struct Store {
    down: AtomicBool,
    calls: AtomicUsize,
    probes: AtomicUsize,
}

struct Handler(Arc<Store>);

#[async_trait::async_trait]
impl Processor for Handler {
    async fn process(&self, _job: Job) -> Result<serde_json::Value, Failure> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        if self.0.down.load(Ordering::SeqCst) {
            return Err(Failure {
                class: Class::Retryable,
                code: Code::StorageUnavailable,
                message: "storage unavailable during get: connection refused".into(),
            });
        }
        Ok(serde_json::json!({ "ok": true }))
    }
}

struct Probe(Arc<Store>);

#[async_trait::async_trait]
impl Health for Probe {
    async fn check(&self, d: Dependency) -> Result<(), String> {
        assert_eq!(d, Dependency::Storage);
        self.0.probes.fetch_add(1, Ordering::SeqCst);
        if self.0.down.load(Ordering::SeqCst) {
            Err("connection refused".into())
        } else {
            Ok(())
        }
    }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_outage_pauses_intake_instead_of_burning_attempts_and_resumes_when_it_answers() {
    let url =
        std::env::var("ATTACH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("attach-test-{}", uuid::Uuid::new_v4().simple());
    let backend: Arc<dyn QueueBackend> = Arc::new(
        BullBackend::connect(&RedisTarget::Server(url.clone()), &prefix)
            .await
            .unwrap(),
    );
    // Retried jobs park for a minute, so everything that runs in the test is a fresh job.
    let opts = EnqueueOptions {
        attempts: Some(3),
        backoff: Some(Backoff::Fixed(Duration::from_secs(60))),
        ..Default::default()
    };
    for i in 0..JOBS {
        backend
            .enqueue(QueueName::Process, serde_json::json!({ "n": i }), &opts)
            .await
            .unwrap();
    }
    let store = Arc::new(Store {
        down: AtomicBool::new(true),
        calls: AtomicUsize::new(0),
        probes: AtomicUsize::new(0),
    });
    let metrics = Metrics::new(&QueueName::labels());
    let shutdown = CancellationToken::new();
    let cfg = WorkerConfig {
        concurrency: 1,
        cleanup_schedule: None,
        ..WorkerConfig::default()
    };
    let run = tokio::spawn(worker::run(
        backend.clone(),
        vec![(
            QueueName::Process,
            Arc::new(Handler(store.clone())) as Arc<dyn Processor>,
        )],
        Arc::new(Probe(store.clone())),
        metrics.clone(),
        cfg,
        || {},
        shutdown.clone(),
    ));
    let open = metrics.circuit_open.with_label_values(&["storage"]);
    wait_until("the breaker to open", || open.get() == 1).await;
    // Two failed probes later, intake is still paused: only the jobs that tripped it ran.
    wait_until("two failed probes", || {
        store.probes.load(Ordering::SeqCst) >= 2
    })
    .await;
    assert_eq!(
        store.calls.load(Ordering::SeqCst),
        BREAKER_THRESHOLD as usize
    );
    let depth = backend.depth(QueueName::Process).await.unwrap();
    assert_eq!(depth.waiting, (JOBS - BREAKER_THRESHOLD as usize) as u64);
    assert_eq!(
        metrics.circuit_trips.with_label_values(&["storage"]).get(),
        1
    );

    store.down.store(false, Ordering::SeqCst);
    let processed = metrics
        .jobs_processed
        .with_label_values(&[QueueName::Process.as_str()]);
    wait_until("the waiting jobs to complete", || {
        processed.get() == (JOBS - BREAKER_THRESHOLD as usize) as u64
    })
    .await;
    assert_eq!(open.get(), 0);
    shutdown.cancel();
    assert_eq!(run.await.unwrap().unwrap().cut_off, 0);

    // Leave Redis as it was.
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("UNLINK")
            .arg(keys)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
}
