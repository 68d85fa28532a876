//! Hot swap: a running worker picks up a new guest release without a restart.
//!
//! Two triggers: SIGHUP, and a change in the guest directory noticed by polling its
//! [`fingerprint`](crate::release::layout::fingerprint) every `ATTACH_GUEST_WATCH_INTERVAL`
//! (a few `stat` calls; polling rather than inotify, so it also sees a directory on a network
//! or overlay file system, and a `current` symlink switched to another directory). Either
//! way the new set is verified and compiled on a blocking thread, off the job path, and made
//! current between jobs ([`Sandbox::reload`]); a set that fails leaves the running one
//! serving. Every swap and refusal is logged, audited and counted.

use crate::audit::{self, Audit};
use crate::error::ErrorCode;
use crate::metrics::Metrics;
use crate::release::layout::{fingerprint, Fingerprint};
use crate::sandbox::{Reload, Sandbox, SandboxError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a changed directory must stay unchanged before it is loaded: a release copied in
/// file by file (the flat layout) is read once the copy has settled, not half-way through. An
/// installed release switches `current` in one rename and settles at once.
pub const SETTLE: Duration = Duration::from_millis(250);

/// Reloads the guests of one sandbox and reports what happened.
pub struct Swapper {
    sandbox: Arc<Sandbox>,
    metrics: Arc<Metrics>,
    audit: Audit,
}

impl Swapper {
    pub fn new(sandbox: Arc<Sandbox>, metrics: Arc<Metrics>, audit: Audit) -> Self {
        Swapper {
            sandbox,
            metrics,
            audit,
        }
    }

    /// Publishes the running set (`attachments_guest_info`, and `/guests` with the signing
    /// key and since when) and logs it: at start and after every swap.
    pub fn announce(&self) {
        let guests = self.sandbox.guests();
        let since = chrono::DateTime::<chrono::Utc>::from(guests.since()).to_rfc3339();
        let loaded: Vec<serde_json::Value> = guests
            .loaded()
            .iter()
            .map(|g| {
                serde_json::json!({
                    "name": g.guest.name, "world": g.world, "version": g.guest.version,
                    "sha256": g.guest.sha256, "key": g.key_id, "since": since,
                    "release": guests.release(),
                })
            })
            .collect();
        self.metrics
            .set_loaded_guests(serde_json::Value::from(loaded).to_string());
        self.metrics.guest_info.reset();
        for g in guests.loaded() {
            self.metrics
                .guest_info
                .with_label_values(&[&g.guest.name, &g.world, &g.guest.version, &g.guest.sha256])
                .set(1);
            tracing::info!(guest = %g.guest.name, world = %g.world, version = %g.guest.version,
                sha256 = %g.guest.sha256, key = g.key_id.as_deref().unwrap_or("unsigned"),
                release = %guests.release().display(), "guest serving");
        }
    }

    /// Verifies and compiles the guest directory again (on a blocking thread) and swaps if it
    /// holds a new set. `trigger` says why, for the log and the audit event.
    pub async fn reload(&self, trigger: &str) -> Result<Reload, SandboxError> {
        let sandbox = self.sandbox.clone();
        let result = tokio::task::spawn_blocking(move || sandbox.reload())
            .await
            .unwrap_or_else(|e| {
                Err(SandboxError::Load {
                    guest: "reload",
                    message: format!("the reload thread failed: {e}"),
                })
            });
        match &result {
            Ok(Reload::Unchanged) => {
                tracing::debug!(trigger, "guest directory checked: no new release");
            }
            Ok(Reload::Swapped { from, to }) => {
                self.metrics.guest_swaps.inc();
                self.announce();
                tracing::info!(trigger, "guests swapped: new jobs run on the new release");
                self.audit
                    .record_best_effort(
                        audit::Event::new(
                            audit::Decision::GuestSwapped,
                            format!("new guest release ({trigger})"),
                        )
                        .details(serde_json::json!({ "from": from, "to": to })),
                    )
                    .await;
            }
            Err(e) => self.refused(trigger, e).await,
        }
        result
    }

    async fn refused(&self, trigger: &str, e: &SandboxError) {
        self.metrics
            .guest_refusals
            .with_label_values(&[e.code()])
            .inc();
        tracing::error!(trigger, code = e.code(), error = %e,
            "guest release refused; the running guests keep serving");
        self.audit
            .record_best_effort(
                audit::Event::new(audit::Decision::GuestRefused, e.to_string()).details(
                    serde_json::json!({
                        "code": e.code(),
                        "trigger": trigger,
                        "dir": self.sandbox.paths().dir,
                    }),
                ),
            )
            .await;
    }

    /// Reloads on `hangup` (SIGHUP), and when the guest directory changes (looked at every
    /// `interval`; `None`: on SIGHUP only), until `shutdown`. The signal is taken by the
    /// caller at start, so a SIGHUP that arrives while the worker starts reloads instead of
    /// ending the process (its default action).
    pub async fn watch(
        self,
        mut hangup: tokio::signal::unix::Signal,
        interval: Option<Duration>,
        shutdown: CancellationToken,
    ) {
        let dir = self.sandbox.paths().dir.clone();
        // Where the running set was read from: a release placed while the worker started
        // differs from it and is loaded at the first look.
        let mut seen = self.sandbox.guests().fingerprint().clone();
        let mut tick = interval.map(|every| {
            let mut t = tokio::time::interval(every);
            // A look that took longer than the interval is not made up for in a burst.
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t
        });
        loop {
            let trigger = tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(()) = hangup.recv() => {
                    seen = look(&dir).await;
                    "SIGHUP"
                }
                Some(now) = async {
                    let tick = tick.as_mut()?;
                    loop {
                        tick.tick().await;
                        if let Some(now) = settled_change(&dir, &seen).await {
                            return Some(now);
                        }
                    }
                } => {
                    // Recorded whether or not it loads: a broken release is reported once,
                    // not at every tick; the next change (or a SIGHUP) tries again.
                    seen = now;
                    "guest directory changed"
                }
            };
            let _ = self.reload(trigger).await;
        }
    }
}

/// The directory's fingerprint, taken on a blocking thread (`stat` can block on a slow file
/// system; a runtime thread must not).
async fn look(dir: &std::path::Path) -> Fingerprint {
    let dir = dir.to_path_buf();
    let fallback = dir.clone();
    tokio::task::spawn_blocking(move || fingerprint(&dir))
        .await
        .unwrap_or_else(|_| Fingerprint {
            release: fallback,
            files: vec![],
        })
}

/// The directory's new fingerprint if it differs from `seen` and stays the same for
/// [`SETTLE`].
async fn settled_change(dir: &std::path::Path, seen: &Fingerprint) -> Option<Fingerprint> {
    let now = look(dir).await;
    if &now == seen {
        return None;
    }
    tokio::time::sleep(SETTLE).await;
    (look(dir).await == now).then_some(now)
}
