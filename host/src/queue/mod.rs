//! The job queue as the worker sees it: which queues exist, a job as a processor receives it,
//! how a processor reports a failure (permanent or retryable), and the narrow [`QueueBackend`]
//! trait the worker drives. [`bullmq`] implements it on Redis with BullMQ's own protocol, so
//! jobs enqueued by the Node API (npm `bullmq` 6.x) are taken as a Node worker would take them.
//!
//! | Queue (= job name)           | Keys (prefix `attach`)                 | Holds                    |
//! |------------------------------|----------------------------------------|--------------------------|
//! | `attachments.process`        | `attach:attachments.process:*`         | one upload to process    |
//! | `attachments.vscan.retry`    | `attachments.vscan.retry` likewise     | uploads to scan again    |
//! | `attachments.cleanup.orphan` | `attachments.cleanup.orphan` likewise  | the repeatable cleanup   |
//! | `attachments.quarantine`     | `attachments.quarantine` likewise      | quarantined uploads for review (attachd only adds) |
//!
//! Why one queue per job name, named after it: BullMQ queue names cannot contain `:`, the seed's
//! `attach:jobs:process` therefore cannot be a queue name, and a queue named after the only job
//! it carries needs no mapping table in the API, the dashboards or this worker. Separate queues
//! also let a dashboard stack process depth against cleanup depth, and let one kind of job
//! never wait behind another.

mod bullmq;

pub use bullmq::{ping, BullBackend};

use crate::error::{Class, Code, ErrorCode};
use std::sync::Arc;
use std::time::Duration;

/// Redis key prefix shared with the Node API (`new Queue(name, { prefix: 'attach' })`).
pub const DEFAULT_PREFIX: &str = "attach";
/// Where Redis is when `ATTACH_REDIS_URL` is unset: a local development server.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Where Redis is: one server, or a Redis Cluster reached through its seed nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// `redis://…` or `rediss://…`.
    Server(String),
    /// Seed node URLs; the client learns the other nodes from them.
    Cluster(Vec<String>),
}

/// The schemes a Redis URL starts with: a comma followed by one of them starts the next seed.
const REDIS_SCHEMES: [&str; 4] = ["redis://", "rediss://", "valkey://", "valkeys://"];

impl RedisTarget {
    /// `ATTACH_REDIS_URL`, one URL or several comma-separated (a cluster's seed nodes), and
    /// `ATTACH_REDIS_CLUSTER` (a cluster even when one seed is given). Only a comma that
    /// starts another URL separates seeds (a password may hold a comma). Each URL is parsed
    /// here, so a malformed one is a settings error at start, not an outage; the error does
    /// not repeat the URL.
    pub fn parse(url: &str, cluster: bool) -> Result<RedisTarget, String> {
        let mut nodes: Vec<String> = Vec::new();
        let mut rest = url.trim();
        while !rest.is_empty() {
            let next = rest.match_indices(',').map(|(i, _)| i).find(|&i| {
                let after = rest[i + 1..].trim_start();
                after.is_empty() || REDIS_SCHEMES.iter().any(|s| after.starts_with(s))
            });
            let (node, tail) = match next {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            if !node.trim().is_empty() {
                nodes.push(node.trim().to_owned());
            }
            rest = tail.trim_start();
        }
        for node in &nodes {
            redis::Client::open(node.as_str()).map_err(|e| format!("not a Redis URL: {e}"))?;
        }
        match nodes.len() {
            0 => Err("no Redis URL".into()),
            1 if !cluster => Ok(RedisTarget::Server(nodes.remove(0))),
            _ => {
                // The seeds together, as the cluster client takes them (same credentials and
                // TLS on every one, no Unix sockets): a mismatch is a settings error, not an
                // outage to wait out. The user information must be the same on every seed,
                // too: a password holding `,redis://` unencoded would split into seeds whose
                // pieces differ there, and one piece would be printed as a host.
                let userinfo = |node: &str| {
                    let rest = node.split_once("://").map_or(node, |(_, rest)| rest);
                    rest.rsplit_once('@')
                        .map(|(userinfo, _)| userinfo.to_owned())
                };
                if nodes.iter().any(|n| userinfo(n) != userinfo(&nodes[0])) {
                    return Err(
                        "the cluster seeds differ in user or password (percent-encode \
                                a password that holds a comma)"
                            .into(),
                    );
                }
                redis::cluster::ClusterClientBuilder::new(nodes.clone())
                    .build()
                    .map_err(|e| format!("not a set of Redis Cluster seeds: {e}"))?;
                Ok(RedisTarget::Cluster(nodes))
            }
        }
    }

    /// For logs and `/readyz`: each URL without its password.
    pub fn address(&self) -> String {
        match self {
            RedisTarget::Server(url) => crate::redact::redact(url),
            RedisTarget::Cluster(nodes) => {
                let nodes: Vec<String> = nodes.iter().map(|n| crate::redact::redact(n)).collect();
                format!("cluster {}", nodes.join(","))
            }
        }
    }
}

/// Whether `prefix` holds a Redis Cluster hash tag: a non-empty `{…}` (Redis hashes only
/// what is between the first `{` and the next `}` when that is not empty). On a cluster
/// every key of a queue must be in one slot: BullMQ's scripts touch several keys of a queue
/// at once, some built inside the script from the prefix, and a cluster runs a script only
/// on keys of one slot. A tag in the prefix puts every queue's keys in the tag's slot.
pub fn has_hash_tag(prefix: &str) -> bool {
    prefix
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .is_some_and(|(tag, _)| !tag.is_empty())
}

/// Attempts for a job whose producer set none. Five tries with the default backoff span
/// 2 + 4 + 8 + 16 = 30 s: long enough to ride out a storage or database restart, short enough
/// that a broken upload is reported within a minute.
pub const DEFAULT_ATTEMPTS: u32 = 5;
/// Backoff for a job whose producer set none: the seed's scanner retry policy (exponential,
/// 2 s base, 5 min cap), which suits every dependency attachd waits on.
pub const DEFAULT_BACKOFF: Backoff = Backoff::Exponential {
    base: Duration::from_secs(2),
};
/// No default retry waits longer than this (the seed's 5 min cap): beyond it a job is better
/// failed visibly than parked.
pub const MAX_DEFAULT_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// The queues attachd knows. Each carries one job name, and the queue is named after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueName {
    /// `attachments.process`: one upload through the sandboxed pipeline.
    Process,
    /// `attachments.vscan.retry`: an upload whose virus scan must run again because the scanner
    /// was unavailable. The process job schedules one (delayed by the scanner backoff) instead
    /// of failing; each retry that finds the scanner still down schedules the next.
    VscanRetry,
    /// `attachments.cleanup.orphan`: the repeatable orphan cleanup.
    Cleanup,
    /// `attachments.quarantine`: one job per quarantined upload, for a reviewer (a person, or
    /// the API's moderation tooling). attachd adds these and never consumes them.
    Quarantine,
}

impl QueueName {
    pub const ALL: [QueueName; 4] = [
        QueueName::Process,
        QueueName::VscanRetry,
        QueueName::Cleanup,
        QueueName::Quarantine,
    ];

    /// The BullMQ queue name (and the name of the one job it carries).
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueName::Process => "attachments.process",
            QueueName::VscanRetry => "attachments.vscan.retry",
            QueueName::Cleanup => "attachments.cleanup.orphan",
            QueueName::Quarantine => "attachments.quarantine",
        }
    }

    /// The job name producers use on this queue.
    pub const fn job_name(self) -> &'static str {
        self.as_str()
    }

    /// Every queue's name, in [`QueueName::ALL`] order: the `queue` labels of the metrics.
    pub fn labels() -> [&'static str; 4] {
        QueueName::ALL.map(QueueName::as_str)
    }
}

impl std::fmt::Display for QueueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as a processor sees it: what to do and how often it was tried.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub queue: QueueName,
    pub name: String,
    pub data: serde_json::Value,
    /// Attempts that ended (failed) before this one.
    pub attempts_made: u32,
    /// Times the job was started, this one included (a stalled, restarted run counts too).
    pub attempts_started: u32,
}

/// Why a job failed, as a processor reports it. `class` decides retry: a permanent failure
/// fails the job now, whatever attempts remain; a retryable one uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: Class,
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn from_error(err: &(impl ErrorCode + std::fmt::Display)) -> Self {
        Failure {
            class: err.class(),
            code: err.error_code(),
            message: err.to_string(),
        }
    }

    /// The job's `failedReason` as Node sees it: `<code>: <message>`.
    pub fn reason(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// What the worker runs for each job of a queue.
#[async_trait::async_trait]
pub trait Processor: Send + Sync + 'static {
    /// `Ok` is the job's return value (what Node's `job.waitUntilFinished` resolves to).
    async fn process(&self, job: Job) -> Result<serde_json::Value, Failure>;
}

/// How one job ended on this worker, reported to the worker as it is handed to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Retryable failure with attempts left: the job waits `delay` and runs again.
    Retried {
        code: Code,
        delay: Duration,
    },
    /// Permanent failure, or attempts exhausted.
    Failed {
        code: Code,
        exhausted: bool,
    },
}

/// Where a consumer reports [`QueueEvent`]s. Called inline on the job's own task (a few
/// counter updates): a channel would wake another task for every job, which at thousands of
/// jobs a second costs more than the job path itself.
pub type EventSink = Arc<dyn Fn(QueueEvent) + Send + Sync>;

/// What a consumer tells the worker while it runs.
#[derive(Debug, Clone)]
pub enum QueueEvent {
    Finished {
        queue: QueueName,
        job_id: String,
        outcome: Outcome,
        duration: Duration,
    },
    /// This worker took over a job whose previous run stalled (its worker died or froze and
    /// its lock lapsed).
    Stalled { queue: QueueName, job_id: String },
    /// The backend could not talk to Redis (fetching, finishing or renewing a lock).
    BackendError { queue: QueueName, message: String },
}

/// Retry backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    Fixed(Duration),
    /// `base × 2^(attempt − 1)`, as BullMQ computes it.
    Exponential {
        base: Duration,
    },
}

impl Backoff {
    /// Delay before the attempt after `attempt` (1-based) failed, capped at `cap`.
    pub fn delay(self, attempt: u32, cap: Duration) -> Duration {
        let d = match self {
            Backoff::Fixed(d) => d,
            Backoff::Exponential { base } => {
                let factor = 1u32
                    .checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX);
                base.checked_mul(factor).unwrap_or(cap)
            }
        };
        d.min(cap)
    }

    /// `fixed:1s`, `exponential:2s` (a bare duration means exponential).
    pub fn parse(s: &str) -> Result<Backoff, String> {
        let (kind, dur) = s.split_once(':').unwrap_or(("exponential", s));
        let d = crate::config::parse_duration(dur)?;
        match kind {
            "fixed" => Ok(Backoff::Fixed(d)),
            "exponential" => Ok(Backoff::Exponential { base: d }),
            other => Err(format!(
                "{other:?}: backoff must be fixed:<duration> or exponential:<duration>"
            )),
        }
    }
}

/// The spelling [`Backoff::parse`] reads: `fixed:5s`, `exponential:2s`.
impl std::fmt::Display for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backoff::Fixed(d) => write!(f, "fixed:{}", crate::config::format_duration(*d)),
            Backoff::Exponential { base } => {
                write!(f, "exponential:{}", crate::config::format_duration(*base))
            }
        }
    }
}

/// Attempts and backoff for jobs whose producer set none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_ATTEMPTS,
            backoff: DEFAULT_BACKOFF,
        }
    }
}

/// A repeatable job's schedule: `15m` (every 15 minutes) or a cron pattern (`*/15 * * * *`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Every(Duration),
    Cron(String),
}

impl std::str::FromStr for Schedule {
    type Err = String;

    /// A duration wins; anything with five or six space-separated fields is taken as cron and
    /// checked when the schedule is registered.
    fn from_str(s: &str) -> Result<Schedule, String> {
        let s = s.trim();
        if let Ok(d) = crate::config::parse_duration(s) {
            if d.is_zero() {
                return Err("a schedule of 0 would run without pause".into());
            }
            return Ok(Schedule::Every(d));
        }
        match s.split_whitespace().count() {
            5 | 6 => Ok(Schedule::Cron(s.to_string())),
            _ => Err(format!(
                "{s:?} is neither a duration (15m) nor a cron pattern (*/15 * * * *)"
            )),
        }
    }
}

/// How a consumer takes jobs.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub concurrency: usize,
    /// How long a job's lock lasts without renewal; renewed every half of it while the job runs.
    /// A worker that dies leaves the lock to expire, and then the stalled check recovers the job.
    pub lock_duration: Duration,
    /// How often this worker checks for jobs whose lock expired.
    pub stalled_interval: Duration,
    /// Applied to jobs that carry no `attempts` of their own.
    pub default_retry: RetryPolicy,
}

/// Jobs per state, for the depth gauges. `waiting` counts every job not yet started: the wait
/// list, prioritized jobs and those held back while the queue is paused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub waiting: u64,
    pub active: u64,
    pub delayed: u64,
}

/// Jobs [`QueueBackend::pending_uploads`] reads at most per call (ids and data), across the
/// queues asked about. Reading one job costs Redis one `HGET` (pipelined by
/// [`PENDING_SCAN_PAGE`]) and the caller about 100 bytes for its key, so the bound keeps a
/// cleanup run under a second of Redis time and ~10 MB of memory. A backlog larger than this
/// cannot be proven free of an upload, and the caller must then treat every upload as queued.
pub const MAX_PENDING_SCAN: usize = 100_000;
/// Job hashes read per pipelined round trip while scanning: large enough that a full scan
/// takes ~100 round trips, small enough that no one reply blocks Redis noticeably.
pub const PENDING_SCAN_PAGE: usize = 1_000;

/// The uploads that jobs not yet finished will process: what [`QueueBackend::pending_uploads`]
/// found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingUploads {
    /// `fileKey` of every waiting, paused, prioritized, delayed, waiting-children or active job.
    pub file_keys: std::collections::HashSet<String>,
    /// Jobs read.
    pub jobs: usize,
    /// False when the queues held more jobs than the scan's bound: `file_keys` is then a
    /// subset, and an upload missing from it may still be queued.
    pub complete: bool,
}

/// Producer-side options for [`Enqueue::enqueue`].
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    pub attempts: Option<u32>,
    pub backoff: Option<Backoff>,
    pub delay: Option<Duration>,
    pub job_id: Option<String>,
}

/// Whether [`QueueBackend::ensure_schedule`] had to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleChange {
    /// The schedule was already registered as asked: nothing written.
    Unchanged,
    /// Absent or different, now registered.
    Registered,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    #[error("invalid queue configuration: {0}")]
    Config(String),
    #[error("queue protocol error: {0}")]
    Protocol(String),
}

impl ErrorCode for QueueError {
    fn error_code(&self) -> Code {
        match self {
            QueueError::Unavailable(_) => Code::RedisUnavailable,
            QueueError::Config(_) => Code::QueueConfig,
            QueueError::Protocol(_) => Code::QueueProtocol,
        }
    }

    fn class(&self) -> Class {
        match self {
            QueueError::Unavailable(_) | QueueError::Protocol(_) => Class::Retryable,
            QueueError::Config(_) => Class::Permanent,
        }
    }
}

/// A running consumer of one queue.
#[async_trait::async_trait]
pub trait Consumer: Send + Sync {
    fn queue(&self) -> QueueName;
    /// Starts taking jobs.
    async fn start(&self) -> Result<(), QueueError>;
    /// Stops taking new jobs; jobs in flight go on (their locks are still renewed).
    fn pause(&self);
    fn resume(&self);
    /// Stops taking jobs and waits up to `grace` for those in flight. Returns how many were
    /// still running when the grace ran out: their locks are no longer renewed, so another
    /// worker's stalled check takes them over once the locks expire.
    async fn close(&self, grace: Duration) -> usize;
}

/// Adding a job: all the process job needs of a queue (scanner retries, quarantine reviews),
/// so it depends on this port rather than on the whole [`QueueBackend`].
#[async_trait::async_trait]
pub trait Enqueue: Send + Sync {
    /// Adds a job; returns its id.
    async fn enqueue(
        &self,
        queue: QueueName,
        data: serde_json::Value,
        opts: &EnqueueOptions,
    ) -> Result<String, QueueError>;
}

/// The queue backend the worker drives.
#[async_trait::async_trait]
pub trait QueueBackend: Enqueue {
    /// A consumer for `queue` that runs `processor` on each job and reports to `events`. It does
    /// not take jobs until [`Consumer::start`].
    async fn consumer(
        &self,
        queue: QueueName,
        settings: ConsumerSettings,
        processor: Arc<dyn Processor>,
        events: EventSink,
    ) -> Result<Box<dyn Consumer>, QueueError>;

    /// Registers the repeatable job `id` on `queue`, once however many workers call this.
    async fn ensure_schedule(
        &self,
        queue: QueueName,
        id: &str,
        schedule: &Schedule,
        data: serde_json::Value,
        job: &EnqueueOptions,
    ) -> Result<ScheduleChange, QueueError>;

    async fn depth(&self, queue: QueueName) -> Result<Depth, QueueError>;

    /// The `fileKey` of every job in `queues` that may still run: waiting, paused,
    /// prioritized, delayed, waiting for children, or active. Reads at most `limit` jobs; more
    /// than that and the answer says it is incomplete. Whoever added the jobs (the Node API,
    /// `attachd enqueue`, a scanner retry) and whatever their ids, they are found: the scan
    /// reads the queue's lists, not ids attachd chose.
    async fn pending_uploads(
        &self,
        queues: &[QueueName],
        limit: usize,
    ) -> Result<PendingUploads, QueueError>;

    /// Redis answers.
    async fn ping(&self) -> Result<(), QueueError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_prefix_needs_a_non_empty_hash_tag_as_redis_reads_it() {
        assert!(has_hash_tag("{attach}"));
        assert!(has_hash_tag("app-{attach}"));
        assert!(
            has_hash_tag("a}{b}"),
            "the first {{ and the next }} after it"
        );
        assert!(!has_hash_tag("attach"));
        assert!(
            !has_hash_tag("{}attach"),
            "an empty tag: Redis hashes the whole key"
        );
        assert!(!has_hash_tag("{}{attach}"), "only the first {{ counts");
        assert!(!has_hash_tag("{attach"));
    }

    #[test]
    fn several_urls_or_the_cluster_flag_make_a_cluster_and_addresses_hide_passwords() {
        let parse = |url, cluster| RedisTarget::parse(url, cluster).unwrap();
        assert_eq!(
            parse("redis://h:6379", false),
            RedisTarget::Server("redis://h:6379".into())
        );
        assert_eq!(
            parse(" redis://h:6379, ", false),
            RedisTarget::Server("redis://h:6379".into()),
            "a stray comma or space is not a second seed"
        );
        let comma = parse("redis://:pa,ss@h:6379", false);
        assert_eq!(comma, RedisTarget::Server("redis://:pa,ss@h:6379".into()));
        assert_eq!(
            comma.address(),
            "redis://:***@h:6379",
            "a comma in a password"
        );
        let one_seed = parse("redis://h:7000", true);
        assert_eq!(
            one_seed,
            RedisTarget::Cluster(vec!["redis://h:7000".into()])
        );
        assert!(RedisTarget::parse("http://h", false).is_err());
        assert!(RedisTarget::parse(" , ", false).is_err());
        // Seeds the cluster client refuses together are a settings error.
        assert!(RedisTarget::parse("redis://:a@h:7000,redis://:b@h:7001", false).is_err());
        assert!(RedisTarget::parse("redis://pw,redis://x@h:7000", false).is_err());
        let seeds = parse("redis://:pw@a:7000, redis://:pw@b:7001", false);
        assert_eq!(
            seeds,
            RedisTarget::Cluster(vec![
                "redis://:pw@a:7000".into(),
                "redis://:pw@b:7001".into()
            ])
        );
        assert_eq!(
            seeds.address(),
            "cluster redis://:***@a:7000,redis://:***@b:7001"
        );
    }

    #[test]
    fn queue_names_are_the_ones_node_producers_use_distinct_and_valid_bullmq_names() {
        // The contract with the Node API and the dashboards (see the table in the module docs).
        let expected = [
            "attachments.process",
            "attachments.vscan.retry",
            "attachments.cleanup.orphan",
            "attachments.quarantine",
        ];
        assert_eq!(QueueName::labels(), expected);
        let distinct: std::collections::HashSet<_> = QueueName::labels().into_iter().collect();
        assert_eq!(
            distinct.len(),
            QueueName::ALL.len(),
            "two queues share a name"
        );
        for q in QueueName::ALL {
            // BullMQ builds its Redis keys as `prefix:queue:…`: a `:` in the name breaks them.
            assert!(!q.as_str().contains(':'), "{q}");
        }
    }

    #[test]
    fn schedule_reads_durations_and_cron_patterns() {
        assert_eq!("15m".parse(), Ok(Schedule::Every(Duration::from_secs(900))));
        assert_eq!(
            "*/15 * * * *".parse(),
            Ok(Schedule::Cron("*/15 * * * *".into()))
        );
        assert_eq!(
            "0 */5 * * * *".parse(),
            Ok(Schedule::Cron("0 */5 * * * *".into()))
        );
        assert!("0s".parse::<Schedule>().is_err());
        assert!("soon".parse::<Schedule>().is_err());
    }

    #[test]
    fn exponential_backoff_doubles_from_its_base_and_stops_at_the_cap() {
        let b = Backoff::Exponential {
            base: Duration::from_secs(2),
        };
        let cap = MAX_DEFAULT_BACKOFF;
        let delays: Vec<u64> = (1..=4).map(|a| b.delay(a, cap).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16]);
        assert_eq!(b.delay(40, cap), cap);
        assert_eq!(
            Backoff::Fixed(Duration::from_millis(300)).delay(7, cap),
            Duration::from_millis(300)
        );
    }

    #[test]
    fn backoff_parses_kind_and_duration() {
        assert_eq!(
            Backoff::parse("fixed:1s"),
            Ok(Backoff::Fixed(Duration::from_secs(1)))
        );
        assert_eq!(
            Backoff::parse("2s"),
            Ok(Backoff::Exponential {
                base: Duration::from_secs(2)
            })
        );
        assert!(Backoff::parse("linear:1s").is_err());
    }

    #[test]
    fn failure_reason_is_code_then_message() {
        let f = Failure {
            class: Class::Permanent,
            code: Code::ObjectNotFound,
            message: "object `a` does not exist".into(),
        };
        assert_eq!(f.reason(), "object-not-found: object `a` does not exist");
    }
}
