//! The job's security decisions: the antivirus re-check of the stored upload, quarantine, the
//! scanner retry schedule and the audit events that go with them.
//!
//! - **Where the scan sits.** Right after the object's size and sha256 are checked against the
//!   payload and the row, before any guest parses it. So nothing is rendered, written or
//!   published for bytes clamd has not called clean. clamd gets the very bytes the job read
//!   and checked, in 64 KiB INSTREAM chunks from the job's one copy: no second read from
//!   storage, and nothing to swap between the scan and the processing.
//! - **Quarantine** (clamd found a signature, the scan guest said `reject`, and by policy a
//!   `suspicious` verdict or an upload over clamd's stream limit): the original is copied under
//!   `ATTACH_QUARANTINE_PREFIX`, the decision is audited, the row becomes `quarantined` (final;
//!   only deletion moves it), then the original and any variants are deleted and a review job
//!   goes on `attachments.quarantine`. Those last steps run again for every later job that meets
//!   the quarantined row, so a crash between them leaves nothing behind for long.
//! - **Scanner unavailable**: the row goes back to `uploaded` with `error_code =
//!   scanner-unavailable` and a message saying it waits on the scanner (try n of N, next try
//!   in …); an `attachments.vscan.retry` job is added with the capped exponential delay; the
//!   process job completes with `waitingOn: "scanner"`. When the tries run out the row is
//!   `failed` with `scanner-unavailable`, unless `ATTACH_VSCAN_FAIL_OPEN` lets the upload
//!   through unscanned (with a `suspicious` finding saying so).

use super::{Handler, JobError, JobMeta, ProcessPayload, Summary};
use crate::audit::{Decision, Event};
use crate::db::{Attachment, ScanFields, Status};
use crate::error::Code;
use crate::queue::{EnqueueOptions, QueueName};
use crate::storage;
use crate::vscan::{OversizePolicy, SuspiciousPolicy, Verdict, VscanError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `error_code` of a row quarantined because clamd found a signature.
pub const QUARANTINE_CODE_VIRUS: &str = Code::VirusFound.as_str();
/// A summary's `waitingOn` while the upload waits for the scanner.
pub const WAITING_ON_SCANNER: &str = "scanner";
/// The finding added to an upload published unscanned under `ATTACH_VSCAN_FAIL_OPEN`.
pub const SKIPPED_RULE: &str = "antivirus-skipped";
/// The finding recording clamd's signature on a quarantined row.
pub const VIRUS_RULE: &str = "antivirus";

type Fail = (JobError, Option<ScanFields>);

/// The payload of an `attachments.vscan.retry` job: the upload's process payload and how many
/// scanner tries came before.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScanRetryPayload {
    #[serde(flatten)]
    pub upload: ProcessPayload,
    #[serde(default)]
    pub scan_tries: u32,
}

/// What the antivirus step leaves the job to do.
pub(super) enum Av {
    /// Go on to the guests; `Some` is the finding of a scan skipped under fail-open.
    Proceed(Option<serde_json::Value>),
    /// The job is over (quarantined, or waiting on the scanner); this is its summary.
    Settled(Box<Summary>),
}

/// Why an upload is quarantined.
pub(super) enum Cause {
    Clamd { signature: String },
    ScanGuest { rules: String },
    Suspicious { rules: String },
    Oversize { size: u64, limit: String },
}

impl Cause {
    fn code(&self) -> &'static str {
        match self {
            Cause::Clamd { .. } => QUARANTINE_CODE_VIRUS,
            Cause::ScanGuest { .. } => Code::ScanRejected.as_str(),
            Cause::Suspicious { .. } => Code::ScanSuspicious.as_str(),
            Cause::Oversize { .. } => Code::ScanTooLarge.as_str(),
        }
    }

    /// The `source` label of `attachments_quarantined_total`.
    fn source(&self) -> &'static str {
        match self {
            Cause::Clamd { .. } => "clamd",
            Cause::ScanGuest { .. } => "scan-guest",
            Cause::Suspicious { .. } => "suspicious",
            Cause::Oversize { .. } => "oversize",
        }
    }

    fn message(&self, quarantine_key: &str) -> String {
        let why = match self {
            Cause::Clamd { signature } => format!("clamd found {signature}"),
            Cause::ScanGuest { rules } => format!("scan rejected the upload: {rules}"),
            Cause::Suspicious { rules } => format!("scan found the upload suspicious: {rules}"),
            Cause::Oversize { size, limit } => {
                format!("{size} bytes, more than the virus scanner accepts ({limit})")
            }
        };
        format!("{why}; moved to {quarantine_key}")
    }
}

/// A short, stable name for a key in queue job ids (BullMQ ids cannot hold every character a
/// key can).
fn key_digest(key: &str) -> String {
    crate::sandbox::hex(&Sha256::digest(key.as_bytes()))[..32].to_string()
}

/// Adds the fail-open finding to the row's scan, raising a `clean` verdict to `suspicious`:
/// an unscanned upload is not a clean one.
pub(super) fn with_skipped_av(
    scan: Option<ScanFields>,
    skipped: Option<serde_json::Value>,
) -> Option<ScanFields> {
    let Some(finding) = skipped else {
        return scan;
    };
    let mut scan = scan.unwrap_or(ScanFields {
        verdict: "clean".into(),
        findings: serde_json::Value::Array(vec![]),
    });
    if scan.verdict == "clean" {
        scan.verdict = "suspicious".into();
    }
    match &mut scan.findings {
        serde_json::Value::Array(list) => list.push(finding),
        other => *other = serde_json::Value::Array(vec![finding]),
    }
    Some(scan)
}

/// The rules of the findings with `verdict`, comma-separated.
fn rules_with(scan: Option<&ScanFields>, verdict: &str) -> String {
    scan.and_then(|s| s.findings.as_array())
        .into_iter()
        .flatten()
        .filter(|f| f["verdict"] == verdict)
        .filter_map(|f| f["rule"].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Handler {
    /// Streams the upload to clamd (when one is configured) and acts on the answer. `data` is
    /// the upload as the job read and checked it: clamd judges exactly the bytes the guests
    /// will parse, with no second read from storage and no window for the object to change.
    pub(super) async fn antivirus(
        &self,
        payload: &ProcessPayload,
        row: &Attachment,
        token: &str,
        checksum: &str,
        data: &[u8],
        meta: &JobMeta,
    ) -> Result<Av, Fail> {
        let Some(clamd) = &self.policy.scanner else {
            return Ok(Av::Proceed(None));
        };
        let key = &payload.file_key;
        let plain = |e: JobError| (e, None);
        let event = |d: Decision, reason: String| {
            Event::new(d, reason).about(key, meta.job_id.as_deref(), Some(checksum))
        };
        let size = data.len() as u64;
        let result = if size > clamd.max_stream {
            // Decided before sending a byte: clamd would cut the stream at its limit.
            Err(VscanError::TooLarge {
                size,
                limit: format!("{} bytes", clamd.max_stream),
            })
        } else {
            clamd.scan(data, Some(size)).await
        };
        let m = &self.metrics;
        match result {
            Ok(scan) => {
                m.vscan_up.set(1);
                m.vscan_duration.observe(scan.duration.as_secs_f64());
                match scan.verdict {
                    Verdict::Clean => {
                        m.vscan_scans.with_label_values(&["clean"]).inc();
                        let e = event(Decision::VscanClean, "clamd: no signature matched".into())
                            .details(serde_json::json!({
                                "bytes": scan.bytes,
                                "durationMs": scan.duration.as_millis() as u64,
                            }));
                        self.audit.record(e).await.map_err(|e| plain(e.into()))?;
                        Ok(Av::Proceed(None))
                    }
                    Verdict::Infected { signature } => {
                        m.vscan_scans.with_label_values(&["infected"]).inc();
                        let e = event(Decision::VscanInfected, format!("clamd found {signature}"))
                            .details(serde_json::json!({ "signature": signature }));
                        self.audit.record(e).await.map_err(|e| plain(e.into()))?;
                        let cause = Cause::Clamd { signature };
                        let summary = self
                            .quarantine(payload, token, checksum, meta, cause, None)
                            .await?;
                        Ok(Av::Settled(Box::new(summary)))
                    }
                }
            }
            Err(VscanError::TooLarge { size, limit }) => {
                m.vscan_up.set(1);
                m.vscan_scans.with_label_values(&["too-large"]).inc();
                let e = event(
                    Decision::VscanTooLarge,
                    format!("{size} bytes, more than the virus scanner accepts ({limit})"),
                )
                .details(serde_json::json!({
                    "size": size,
                    "limit": limit,
                    "outcome": match self.policy.oversize {
                        OversizePolicy::Fail => "failed",
                        OversizePolicy::Quarantine => "quarantined",
                    },
                }));
                self.audit.record(e).await.map_err(|e| plain(e.into()))?;
                match self.policy.oversize {
                    OversizePolicy::Fail => {
                        Err(plain(JobError::Vscan(VscanError::TooLarge { size, limit })))
                    }
                    OversizePolicy::Quarantine => {
                        let cause = Cause::Oversize { size, limit };
                        let summary = self
                            .quarantine(payload, token, checksum, meta, cause, None)
                            .await?;
                        Ok(Av::Settled(Box::new(summary)))
                    }
                }
            }
            Err(e) if e.is_scanner_down() => {
                m.vscan_up.set(0);
                let outcome = match e {
                    VscanError::Scanner { .. } => "error",
                    _ => "unavailable",
                };
                m.vscan_scans.with_label_values(&[outcome]).inc();
                self.scanner_down(payload, row, token, checksum, meta, e)
                    .await
            }
            Err(e) => Err(plain(e.into())),
        }
    }

    /// The scanner gave no verdict: schedule the next try, or fail closed (or, by explicit
    /// configuration, open) when the tries are used up.
    async fn scanner_down(
        &self,
        payload: &ProcessPayload,
        row: &Attachment,
        token: &str,
        checksum: &str,
        meta: &JobMeta,
        err: VscanError,
    ) -> Result<Av, Fail> {
        let key = &payload.file_key;
        let plain = |e: JobError| (e, None);
        let retry = self.policy.retry;
        let tries = meta.scan_tries.saturating_add(1);
        let event = |d: Decision, reason: String| {
            Event::new(d, reason).about(key, meta.job_id.as_deref(), Some(checksum))
        };
        if tries >= retry.attempts {
            if self.policy.fail_open {
                let reason = format!(
                    "scanner unavailable after {tries} tries ({err}); ATTACH_VSCAN_FAIL_OPEN lets the upload through unscanned"
                );
                tracing::warn!(file_key = %key, "{reason}");
                let e = event(Decision::VscanSkipped, reason.clone())
                    .details(serde_json::json!({ "tries": tries, "error": err.to_string() }));
                self.audit.record(e).await.map_err(|e| plain(e.into()))?;
                return Ok(Av::Proceed(Some(serde_json::json!({
                    "rule": SKIPPED_RULE,
                    "verdict": "suspicious",
                    "detail": reason,
                }))));
            }
            let e = event(
                Decision::VscanExhausted,
                format!("scanner unavailable after {tries} tries: failed closed ({err})"),
            )
            .details(serde_json::json!({ "tries": tries, "error": err.to_string() }));
            self.audit.record(e).await.map_err(|e| plain(e.into()))?;
            return Err(plain(JobError::ScannerExhausted {
                tries,
                message: err.to_string(),
            }));
        }
        let Some(queue) = &self.queue else {
            // No queue to schedule on (the CLI): the caller sees a retryable error, and the
            // row is given back with the code by the job's failure path.
            let e = event(Decision::VscanUnavailable, err.to_string())
                .details(serde_json::json!({ "tries": tries, "scheduled": false }));
            self.audit.record_best_effort(e).await;
            return Err(plain(err.into()));
        };
        let delay = retry.delay(tries);
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let message = format!(
            "waiting on the virus scanner: try {tries} of {} failed ({err}); next try in {delay_ms} ms",
            retry.attempts
        );
        let e = event(Decision::VscanUnavailable, message.clone()).details(serde_json::json!({
            "tries": tries,
            "attempts": retry.attempts,
            "nextTryInMs": delay_ms,
            "error": err.to_string(),
        }));
        self.audit.record(e).await.map_err(|e| plain(e.into()))?;
        // The row first: it says it waits on the scanner before the retry job can run.
        let released = self
            .db
            .release(key, token, "scanner-unavailable", &message)
            .await
            .map_err(|e| plain(e.into()))?;
        if !released {
            return Err(plain(JobError::ClaimLost {
                file_key: key.clone(),
            }));
        }
        let retry_payload = ScanRetryPayload {
            upload: payload.clone(),
            scan_tries: tries,
        };
        let data = serde_json::to_value(&retry_payload)
            .map_err(|e| plain(JobError::Task(e.to_string())))?;
        // One id per claim of the row: a process job retried after this point adds its own.
        let opts = EnqueueOptions {
            delay: Some(delay),
            job_id: Some(format!("vscan-{}-{}", key_digest(key), row.attempts)),
            ..EnqueueOptions::default()
        };
        let job_id = queue
            .enqueue(QueueName::VscanRetry, data, &opts)
            .await
            .map_err(|e| plain(e.into()))?;
        self.metrics.vscan_retries.inc();
        tracing::warn!(file_key = %key, tries, delay_ms, retry_job = %job_id, "virus scanner unavailable; scan retry scheduled");
        let row = self
            .db
            .get(key)
            .await
            .map_err(|e| plain(e.into()))?
            .ok_or_else(|| {
                plain(JobError::Missing {
                    file_key: key.clone(),
                })
            })?;
        let mut summary = Summary::from_row(&row, false);
        summary.waiting_on = Some(WAITING_ON_SCANNER.into());
        summary.next_try_in_ms = Some(delay_ms);
        Ok(Av::Settled(Box::new(summary)))
    }

    /// Moves the upload to quarantine and makes the row say so; see the module docs for the
    /// order and why.
    pub(super) async fn quarantine(
        &self,
        payload: &ProcessPayload,
        token: &str,
        checksum: &str,
        meta: &JobMeta,
        cause: Cause,
        scan: Option<ScanFields>,
    ) -> Result<Summary, Fail> {
        let key = &payload.file_key;
        let quarantine_key = self.policy.quarantine_key(key);
        let fail = |e: JobError| (e, scan.clone());
        // The copy first: until it exists the original stays where it is and the row stays
        // claimable, so a failure here is retried with nothing lost.
        self.storage
            .copy(key, &quarantine_key)
            .await
            .map_err(|e| fail(e.into()))?;
        let mut fields = scan.clone().unwrap_or(ScanFields {
            verdict: "reject".into(),
            findings: serde_json::Value::Array(vec![]),
        });
        fields.verdict = match cause {
            Cause::Suspicious { .. } => "suspicious".into(),
            _ => "reject".into(),
        };
        if let Cause::Clamd { signature } = &cause {
            let finding = serde_json::json!({
                "rule": VIRUS_RULE,
                "verdict": "reject",
                "detail": signature,
                "signature": signature,
                "engine": "clamd",
            });
            match &mut fields.findings {
                serde_json::Value::Array(list) => list.push(finding),
                other => *other = serde_json::Value::Array(vec![finding]),
            }
        }
        let message = cause.message(&quarantine_key);
        let mut details = serde_json::json!({
            "code": cause.code(),
            "source": cause.source(),
            "quarantineKey": quarantine_key,
        });
        if let Cause::Clamd { signature } = &cause {
            details["signature"] = serde_json::json!(signature);
        }
        let event = Event::new(Decision::Quarantined, message.clone())
            .about(key, meta.job_id.as_deref(), Some(checksum))
            .details(details);
        self.audit.record(event).await.map_err(|e| fail(e.into()))?;
        let marked = self
            .db
            .mark_quarantined(key, token, cause.code(), &message, &fields)
            .await
            .map_err(|e| fail(e.into()))?;
        if !marked {
            return Err(fail(JobError::ClaimLost {
                file_key: key.clone(),
            }));
        }
        self.metrics
            .quarantined
            .with_label_values(&[cause.source()])
            .inc();
        tracing::warn!(file_key = %key, quarantine_key = %quarantine_key, code = cause.code(), "upload quarantined");
        let row = self
            .db
            .get(key)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or_else(|| {
                fail(JobError::Missing {
                    file_key: key.clone(),
                })
            })?;
        self.settle_quarantine(&row).await.map_err(fail)?;
        let mut summary = Summary::from_row(&row, false);
        summary.quarantine_key = Some(quarantine_key);
        Ok(summary)
    }

    /// The steps after the row says `quarantined`, each safe to repeat: the original leaves the
    /// upload prefix (once its quarantined copy exists), any variants go, and a review job is
    /// on the quarantine queue (one per upload: its id is derived from the key).
    async fn settle_quarantine(&self, row: &Attachment) -> Result<(), JobError> {
        let key = &row.file_key;
        let quarantine_key = self.policy.quarantine_key(key);
        if self.storage.head(&quarantine_key).await?.is_none()
            && self.storage.head(key).await?.is_some()
        {
            self.storage.copy(key, &quarantine_key).await?;
        }
        if self.storage.head(&quarantine_key).await?.is_some() {
            self.storage.delete(key).await?;
        } else {
            tracing::warn!(file_key = %key, quarantine_key = %quarantine_key,
                "quarantined upload has no quarantined copy (removed by an operator?); original left in place");
        }
        self.storage
            .delete_prefix(&storage::variants_prefix(key))
            .await?;
        let Some(queue) = &self.queue else {
            tracing::debug!(file_key = %key, "no queue: no quarantine review job added");
            return Ok(());
        };
        let review = serde_json::json!({
            "fileKey": key,
            "quarantineKey": quarantine_key,
            "checksum": row.checksum,
            "code": row.error_code,
            "reason": row.error_message,
            "scanVerdict": row.scan_verdict,
            "findings": row.scan_findings,
            "quarantinedAt": row.processed_at,
        });
        let opts = EnqueueOptions {
            job_id: Some(format!("quarantine-{}", key_digest(key))),
            ..EnqueueOptions::default()
        };
        queue.enqueue(QueueName::Quarantine, review, &opts).await?;
        Ok(())
    }

    /// A job that finds its row finished: a quarantined row gets its quarantine completed (a
    /// crash may have stopped the first job between the row and the moves).
    pub(super) async fn finished(&self, row: Attachment) -> Result<Summary, JobError> {
        let mut summary = Summary::from_row(&row, true);
        if row.status == Status::Quarantined {
            self.settle_quarantine(&row).await?;
            summary.quarantine_key = Some(self.policy.quarantine_key(&row.file_key));
        }
        Ok(summary)
    }

    /// Audits the scan guest's verdict (every upload the guests saw).
    pub(super) async fn audit_guest_verdict(
        &self,
        payload: &ProcessPayload,
        checksum: &str,
        meta: &JobMeta,
        scan: Option<&ScanFields>,
    ) -> Result<(), crate::db::DbError> {
        let Some(scan) = scan else {
            return Ok(());
        };
        let decision = match scan.verdict.as_str() {
            "reject" => Decision::ScanReject,
            "suspicious" => Decision::ScanSuspicious,
            _ => Decision::ScanClean,
        };
        let rules = rules_with(Some(scan), &scan.verdict);
        let reason = if rules.is_empty() {
            format!("scan verdict {}", scan.verdict)
        } else {
            format!("scan verdict {}: {rules}", scan.verdict)
        };
        let event = Event::new(decision, reason)
            .about(&payload.file_key, meta.job_id.as_deref(), Some(checksum))
            .details(serde_json::json!({ "findings": scan.findings }));
        self.audit.record(event).await
    }

    /// `ATTACH_SCAN_SUSPICIOUS`: `Some` when the upload is settled (quarantined) instead of
    /// published.
    pub(super) async fn apply_suspicious_policy(
        &self,
        payload: &ProcessPayload,
        token: &str,
        checksum: &str,
        meta: &JobMeta,
        scan: Option<&ScanFields>,
    ) -> Result<Option<Summary>, Fail> {
        if scan.is_none_or(|s| s.verdict != "suspicious") {
            return Ok(None);
        }
        let rules = rules_with(scan, "suspicious");
        match self.policy.suspicious {
            SuspiciousPolicy::Publish => Ok(None),
            SuspiciousPolicy::Fail => Err((JobError::ScanSuspicious { rules }, scan.cloned())),
            SuspiciousPolicy::Quarantine => {
                let cause = Cause::Suspicious { rules };
                self.quarantine(payload, token, checksum, meta, cause, scan.cloned())
                    .await
                    .map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_payload_is_the_process_payload_plus_the_tries() {
        let p: ScanRetryPayload = serde_json::from_value(serde_json::json!({
            "fileKey": "uploads/a.jpg", "mimeType": "image/jpeg", "size": 3, "scanTries": 2,
        }))
        .unwrap();
        assert_eq!(p.scan_tries, 2);
        assert_eq!(p.upload.file_key, "uploads/a.jpg");
        // A retry job a Node producer added without the count starts from zero.
        let p: ScanRetryPayload = serde_json::from_value(serde_json::json!({
            "fileKey": "k", "mimeType": "image/png", "size": 1,
        }))
        .unwrap();
        assert_eq!(p.scan_tries, 0);
    }

    #[test]
    fn a_skipped_scan_makes_a_clean_upload_suspicious() {
        let finding = serde_json::json!({ "rule": SKIPPED_RULE, "verdict": "suspicious" });
        let scan = with_skipped_av(None, Some(finding)).unwrap();
        assert_eq!(scan.verdict, "suspicious");
        assert_eq!(rules_with(Some(&scan), "suspicious"), SKIPPED_RULE);
        assert_eq!(with_skipped_av(None, None), None);
    }

    #[test]
    fn key_digests_are_short_stable_and_colon_free() {
        let d = key_digest("uploads/a:b.jpg");
        assert_eq!(d.len(), 32);
        assert_eq!(d, key_digest("uploads/a:b.jpg"));
        assert!(!d.contains(':'));
    }
}
