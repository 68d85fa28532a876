//! Whether the services the worker needs answer, said where an operator looks.
//!
//! An unreachable Redis, database, object store or clamd must not look like a quiet queue.
//! Each is a [`Check`]: its name, its address without secrets, and a probe that asks it once.
//! - At start the worker waits for Redis and the database ([`wait_for`]), without which it can
//!   take no job, and says so: one warning line naming the service, its address and the
//!   error, repeated with backoff while it lasts ([`Outage`]), while `/readyz` answers 503
//!   with the same reason ([`Starting`]).
//! - While it runs, [`watch`] asks every configured service every [`WATCH_INTERVAL`], logs
//!   each outage the same way, logs its end, and sets `attachments_dependency_up`.
//! - `attachd worker --check` runs every check once ([`check_all`]) and exits non-zero if
//!   any fails.

use crate::metrics::{Metrics, Readiness};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long one probe may take: a service on the same network answers a PING, a `SELECT`, a
/// one-key listing or clamd's VERSION in milliseconds; 5 s tolerates a loaded server, and a
/// dead one is reported within it rather than hanging the check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a running worker asks each service: an outage is in the log within about
/// 10 s, and four small requests every 10 s per worker cost the services nothing.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(10);
/// The first repeat of an outage's warning comes this long after the first line; each
/// later repeat waits twice as long as the one before ...
pub const FIRST_REPEAT: Duration = Duration::from_secs(10);
/// ... up to this: a long outage still shows at least every 5 minutes to whoever reads
/// the log late, without a line every few seconds.
pub const MAX_REPEAT: Duration = Duration::from_secs(5 * 60);
/// At start, a failed connection to Redis or the database is tried again after 1 s, then
/// after twice the previous wait ...
pub const START_RETRY_FIRST: Duration = Duration::from_secs(1);
/// ... up to this, so a worker started before its services takes jobs within 30 s of them
/// coming up.
pub const START_RETRY_MAX: Duration = Duration::from_secs(30);
/// One attempt to connect at start: the database and Redis clients retry internally for
/// longer than this; past it the attempt counts as failed and is said.
pub const START_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks a service once whether it works; `Err` says why not.
type ProbeFn = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync;

/// A service the worker needs: what it is called in logs and metrics, where it is (never a
/// password), and how to ask it.
pub struct Check {
    /// `redis`, `database`, `storage` or `clamd`: the `dependency` label of
    /// `attachments_dependency_up`.
    pub service: &'static str,
    pub address: String,
    probe: Box<ProbeFn>,
}

impl Check {
    pub fn new<F, Fut>(service: &'static str, address: String, probe: F) -> Check
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Check {
            service,
            address,
            probe: Box::new(move || Box::pin(probe())),
        }
    }

    /// One probe, bounded by [`CHECK_TIMEOUT`].
    pub async fn once(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, (self.probe)()).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        }
    }
}

/// What the log says about one service after one observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    Nothing,
    /// The outage began now.
    Down,
    /// The outage goes on, this long so far (a repeat whose time has come).
    StillDown(Duration),
    /// It answers again after this long.
    Back(Duration),
}

/// One service's outage as the log tells it: the first failure at once, repeats after
/// [`FIRST_REPEAT`], doubling up to [`MAX_REPEAT`], and the recovery.
#[derive(Debug, Default)]
pub struct Outage {
    /// Since when, and when the next repeat is due with the wait after it.
    down: Option<(Instant, Instant, Duration)>,
}

impl Outage {
    pub fn observe(&mut self, ok: bool, now: Instant) -> Say {
        match (&mut self.down, ok) {
            (None, true) => Say::Nothing,
            (Some((since, _, _)), true) => {
                let lasted = now.saturating_duration_since(*since);
                self.down = None;
                Say::Back(lasted)
            }
            (None, false) => {
                self.down = Some((now, now + FIRST_REPEAT, FIRST_REPEAT));
                Say::Down
            }
            (Some((since, due, wait)), false) => {
                if now < *due {
                    return Say::Nothing;
                }
                *wait = (*wait * 2).min(MAX_REPEAT);
                *due = now + *wait;
                Say::StillDown(now.saturating_duration_since(*since))
            }
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }
}

/// Logs what [`Outage::observe`] decided for `service` at `address`. The end of an outage
/// is a warning too: whoever filters the log to warnings sees the outage, and so its end.
/// The message holds the address and the error; only the service is a field of its own,
/// for filtering (the rest would say it twice on every text line).
fn say(service: &str, address: &str, said: &Say, error: Option<&str>) {
    let error = error.unwrap_or("");
    match said {
        Say::Nothing => {}
        Say::Down => tracing::warn!(
            dependency = service,
            "{service} at {address} is unreachable: {error}"
        ),
        Say::StillDown(lasted) => tracing::warn!(
            dependency = service,
            "{service} at {address} still unreachable after {}: {error}",
            Secs(*lasted)
        ),
        Say::Back(lasted) => tracing::warn!(
            dependency = service,
            "{service} at {address} answers again after {}",
            Secs(*lasted)
        ),
    }
}

/// A duration in whole seconds, as the log says it.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0.as_secs())
    }
}

/// What `/readyz` answers while the worker is starting: not ready, and why (the service it
/// waits for), then whatever the running worker's readiness says.
#[derive(Default)]
pub struct Starting {
    state: Mutex<Phase>,
}

#[derive(Default)]
enum Phase {
    #[default]
    Connecting,
    Waiting(String),
    Running(Arc<dyn Readiness>),
}

impl Starting {
    /// `/readyz` now says "starting: {why}".
    pub fn waiting(&self, why: String) {
        *self.lock() = Phase::Waiting(why);
    }

    /// From now on `/readyz` asks `readiness`.
    pub fn running(&self, readiness: Arc<dyn Readiness>) {
        *self.lock() = Phase::Running(readiness);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl Readiness for Starting {
    async fn ready(&self) -> Result<(), String> {
        let running = match &*self.lock() {
            Phase::Connecting => return Err("starting: connecting to its services".into()),
            Phase::Waiting(why) => return Err(format!("starting: {why}")),
            Phase::Running(readiness) => readiness.clone(),
        };
        running.ready().await
    }
}

/// Connects to `service` at start, as many times as it takes: each failure is said (see
/// [`Outage`]) and put in `/readyz`, and the next attempt waits [`START_RETRY_FIRST`],
/// doubling up to [`START_RETRY_MAX`]. `None` when `stop` fires first.
pub async fn wait_for<T, E, F, Fut>(
    service: &'static str,
    address: &str,
    starting: &Starting,
    stop: &CancellationToken,
    mut attempt: F,
) -> Option<T>
where
    E: fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut outage = Outage::default();
    let mut delay = START_RETRY_FIRST;
    loop {
        let answer = tokio::select! {
            _ = stop.cancelled() => return None,
            answer = tokio::time::timeout(START_ATTEMPT_TIMEOUT, attempt()) => answer,
        };
        let error = match answer {
            Ok(Ok(connected)) => {
                say(
                    service,
                    address,
                    &outage.observe(true, Instant::now()),
                    None,
                );
                return Some(connected);
            }
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => format!("no answer within {} s", START_ATTEMPT_TIMEOUT.as_secs()),
        };
        starting.waiting(format!("waiting for {service} at {address}: {error}"));
        say(
            service,
            address,
            &outage.observe(false, Instant::now()),
            Some(&error),
        );
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(START_RETRY_MAX);
    }
}

/// Asks every service every `interval` until `stop`, each on its own task (a slow one does
/// not delay the others): logs outages and recoveries, sets
/// `attachments_dependency_up{dependency}`.
pub async fn watch(
    checks: Vec<Check>,
    interval: Duration,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for check in checks {
        let (metrics, stop) = (metrics.clone(), stop.clone());
        tasks.spawn(async move {
            let up = metrics.dependency_up.with_label_values(&[check.service]);
            let mut outage = Outage::default();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let answer = tokio::select! {
                    _ = stop.cancelled() => return,
                    answer = check.once() => answer,
                };
                up.set(i64::from(answer.is_ok()));
                let said = outage.observe(answer.is_ok(), Instant::now());
                say(
                    check.service,
                    &check.address,
                    &said,
                    answer.err().as_deref(),
                );
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// One line of `attachd worker --check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub service: &'static str,
    pub address: String,
    pub answer: Result<(), String>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.answer {
            Ok(()) => write!(f, "ok    {:<9} {}", self.service, self.address),
            Err(e) => write!(f, "FAIL  {:<9} {}: {e}", self.service, self.address),
        }
    }
}

/// Every check once, one after the other in the order given (each bounded by
/// [`CHECK_TIMEOUT`], so a check of four services ends within 20 s).
pub async fn check_all(checks: &[Check]) -> Vec<Verdict> {
    let mut verdicts = Vec::with_capacity(checks.len());
    for check in checks {
        verdicts.push(Verdict {
            service: check.service,
            address: check.address.clone(),
            answer: check.once().await,
        });
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_said_at_once_then_with_doubling_repeats_up_to_the_cap_then_its_end() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut o = Outage::default();
        assert_eq!(
            o.observe(true, at(0)),
            Say::Nothing,
            "healthy: nothing to say"
        );
        assert_eq!(o.observe(false, at(10)), Say::Down);
        assert_eq!(
            o.observe(false, at(15)),
            Say::Nothing,
            "before the first repeat"
        );
        assert_eq!(
            o.observe(false, at(20)),
            Say::StillDown(Duration::from_secs(10))
        );
        // The next repeat waits 20 s, then 40 s, ...
        assert_eq!(o.observe(false, at(30)), Say::Nothing);
        assert_eq!(
            o.observe(false, at(40)),
            Say::StillDown(Duration::from_secs(30))
        );
        assert_eq!(o.observe(false, at(70)), Say::Nothing);
        assert_eq!(
            o.observe(false, at(80)),
            Say::StillDown(Duration::from_secs(70))
        );
        // ... never more than MAX_REPEAT apart.
        let mut last = at(80);
        let mut now = at(80);
        for _ in 0..1000 {
            now += Duration::from_secs(1);
            if let Say::StillDown(_) = o.observe(false, now) {
                assert!(now - last <= MAX_REPEAT);
                last = now;
            }
        }
        assert!(o.is_down());
        assert_eq!(
            o.observe(true, now),
            Say::Back(now - at(10)),
            "the end is said with the outage's length"
        );
        assert!(!o.is_down());
        assert_eq!(o.observe(false, now), Say::Down, "a new outage starts over");
    }

    struct Answers(Mutex<Vec<Result<(), String>>>);

    #[async_trait::async_trait]
    impl Readiness for Answers {
        async fn ready(&self) -> Result<(), String> {
            self.0.lock().unwrap().remove(0)
        }
    }

    #[tokio::test]
    async fn readyz_says_what_the_starting_worker_waits_for_then_asks_the_running_one() {
        let s = Starting::default();
        assert!(s.ready().await.unwrap_err().starts_with("starting"));
        s.waiting("waiting for redis at redis://127.0.0.1:1: refused".into());
        assert_eq!(
            s.ready().await,
            Err("starting: waiting for redis at redis://127.0.0.1:1: refused".into())
        );
        s.running(Arc::new(Answers(Mutex::new(vec![
            Ok(()),
            Err("database: gone".into()),
        ]))));
        assert_eq!(s.ready().await, Ok(()));
        assert_eq!(s.ready().await, Err("database: gone".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_at_start_retries_with_doubling_waits_and_stops_on_request() {
        let starting = Starting::default();
        let stop = CancellationToken::new();
        let mut tries = Vec::new();
        let t0 = Instant::now();
        let got = wait_for("redis", "redis://x", &starting, &stop, || {
            tries.push(t0.elapsed().as_secs());
            let n = tries.len();
            async move {
                if n < 5 {
                    Err("refused")
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got, Some(5));
        assert_eq!(tries, [0, 1, 3, 7, 15], "waits of 1, 2, 4, 8 s");
        assert!(starting
            .ready()
            .await
            .unwrap_err()
            .contains("waiting for redis at redis://x: refused"));

        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(100)).await;
            stopper.cancel();
        });
        let never: Option<()> = wait_for("database", "db", &starting, &stop, || async {
            Err::<(), _>("refused")
        })
        .await;
        assert_eq!(never, None, "a stop ends the wait");
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_at_start_that_never_answers_is_cut_and_said() {
        let starting = Starting::default();
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            // Past the first attempt's bound, before the second's.
            tokio::time::sleep(START_ATTEMPT_TIMEOUT + START_RETRY_FIRST + Duration::from_secs(1))
                .await;
            stopper.cancel();
        });
        let never: Option<()> = wait_for("redis", "redis://x", &starting, &stop, || {
            std::future::pending::<Result<(), &str>>()
        })
        .await;
        assert_eq!(never, None);
        assert_eq!(
            starting.ready().await,
            Err("starting: waiting for redis at redis://x: no answer within 10 s".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_check_prints_a_line_per_service_and_bounds_a_hanging_one() {
        let checks = [
            Check::new("redis", "redis://127.0.0.1:6379".into(), || async {
                Ok(())
            }),
            Check::new("database", "postgres://app:***@db/x".into(), || async {
                Err("connection refused".into())
            }),
            Check::new("clamd", "tcp://127.0.0.1:3310".into(), || {
                std::future::pending()
            }),
        ];
        let lines: Vec<String> = check_all(&checks)
            .await
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "ok    redis     redis://127.0.0.1:6379",
                "FAIL  database  postgres://app:***@db/x: connection refused",
                "FAIL  clamd     tcp://127.0.0.1:3310: no answer within 5 s",
            ]
        );
    }
}
