//! The process job's security decisions, as values: [`Antivirus`] asks clamd about the stored
//! upload, judges the scan guest's verdict by policy, records the audit events and scanner
//! metrics, and tells the job what to do next ([`Decision`]). The job carries the decision
//! out (moves the upload to quarantine, schedules the scanner retry, fails the upload); this
//! module writes no row and moves no object.
//!
//! - **Where the scan sits.** Right after the object's size and sha256 are checked against the
//!   payload and the row, before any guest parses it. So nothing is rendered, written or
//!   published for bytes clamd has not called clean. clamd gets the very bytes the job read
//!   and checked, in 64 KiB INSTREAM chunks from the job's one copy: no second read from
//!   storage, and nothing to swap between the scan and the processing.
//! - **Quarantine** ([`Cause`]): clamd found a signature, the scan guest said `reject`, and by
//!   policy a `suspicious` verdict or an upload over clamd's stream limit.
//! - **Scanner unavailable**: the job waits for the scanner ([`Wait`]: the capped exponential
//!   delay of `attachments.vscan.retry`, 2 s doubling up to 5 min by default). When the tries
//!   run out the upload fails closed (`scanner-unavailable`), unless `ATTACH_VSCAN_FAIL_OPEN`
//!   lets it through unscanned (with a `suspicious` finding saying so). Without a queue to
//!   wait on (the CLI) the outage is a retryable error.

use super::{OversizePolicy, Policy, SuspiciousPolicy, Verdict, VscanError};
use crate::audit::{self, Audit, Event};
use crate::db::{DbError, Finding, ScanFields, ScanVerdict};
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

/// `error_code` of a row quarantined because clamd found a signature.
pub const QUARANTINE_CODE_VIRUS: &str = "virus-found";
/// The finding added to an upload published unscanned under `ATTACH_VSCAN_FAIL_OPEN`.
pub const SKIPPED_RULE: &str = "antivirus-skipped";
/// The finding recording clamd's signature on a quarantined row.
pub const VIRUS_RULE: &str = "antivirus";
/// The engine named in [`VIRUS_RULE`] findings.
pub const ENGINE: &str = "clamd";

/// What the job does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go on; `skipped` is the finding of a scan skipped under fail-open, for the row.
    Proceed { skipped: Option<Finding> },
    /// The upload goes no further.
    Stop(Stop),
}

/// How an upload stops short of publication.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// Held for review.
    Quarantine(Cause),
    /// The scanner gave no verdict: try again later.
    WaitForScanner(Wait),
    /// The upload fails (permanently or not: see the refusal's job error).
    Fail(Refusal),
}

/// Why an upload is quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Clamd { signature: String },
    ScanGuest { rules: String },
    Suspicious { rules: String },
    Oversize { size: u64, limit: String },
}

impl Cause {
    /// The row's `error_code`.
    pub fn code(&self) -> &'static str {
        match self {
            Cause::Clamd { .. } => QUARANTINE_CODE_VIRUS,
            Cause::ScanGuest { .. } => "scan-rejected",
            Cause::Suspicious { .. } => "scan-suspicious",
            Cause::Oversize { .. } => "scan-too-large",
        }
    }

    /// The `source` label of `attachments_quarantined_total`.
    pub fn source(&self) -> &'static str {
        match self {
            Cause::Clamd { .. } => "clamd",
            Cause::ScanGuest { .. } => "scan-guest",
            Cause::Suspicious { .. } => "suspicious",
            Cause::Oversize { .. } => "oversize",
        }
    }

    /// The row's `error_message`, naming where the original went.
    pub fn message(&self, quarantine_key: &str) -> String {
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

    /// The scan the quarantined row records: `scan` (the guests', if they ran) with the verdict
    /// the cause stands for and, for a signature, clamd's finding.
    pub fn scan_fields(&self, scan: Option<ScanFields>) -> ScanFields {
        let mut fields = scan.unwrap_or(ScanFields {
            verdict: ScanVerdict::Reject,
            findings: vec![],
        });
        fields.verdict = match self {
            Cause::Suspicious { .. } => ScanVerdict::Suspicious,
            _ => ScanVerdict::Reject,
        };
        if let Cause::Clamd { signature } = self {
            fields.findings.push(Finding {
                engine: Some(ENGINE.into()),
                signature: Some(signature.clone()),
                ..Finding::new(VIRUS_RULE, ScanVerdict::Reject, signature.as_str())
            });
        }
        fields
    }

    /// The `quarantined` audit event's details.
    pub fn audit_details(&self, quarantine_key: &str) -> serde_json::Value {
        let mut details = serde_json::json!({
            "code": self.code(),
            "source": self.source(),
            "quarantineKey": quarantine_key,
        });
        if let Cause::Clamd { signature } = self {
            details["signature"] = serde_json::json!(signature);
        }
        details
    }
}

/// The next scanner try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Tries made so far, the one that just failed included.
    pub tries: u32,
    /// From now to the next try.
    pub delay: Duration,
    /// The row's `error_message` while it waits.
    pub message: String,
}

/// Why the upload fails instead of going on.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The scanner's error: over its stream limit (`ATTACH_VSCAN_OVERSIZE=fail`), unavailable
    /// with no queue to wait on, or a protocol fault.
    Scanner(VscanError),
    /// The scanner stayed unavailable through every try: the upload fails closed.
    Exhausted { tries: u32, message: String },
    /// `ATTACH_SCAN_SUSPICIOUS=fail` and the scan guest called the upload suspicious.
    Suspicious { rules: String },
}

/// Who a decision is about, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub file_key: &'a str,
    pub job_id: Option<&'a str>,
    /// sha256 of the bytes judged.
    pub checksum: Option<&'a str>,
}

impl Subject<'_> {
    fn event(&self, decision: audit::Decision, reason: impl Into<String>) -> Event {
        Event::new(decision, reason).about(self.file_key, self.job_id, self.checksum)
    }
}

/// The `outcome` label of `attachments_vscan_scans_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutcome {
    Clean,
    Infected,
    TooLarge,
    Unavailable,
    Error,
}

impl ScanOutcome {
    pub const ALL: [ScanOutcome; 5] = [
        ScanOutcome::Clean,
        ScanOutcome::Infected,
        ScanOutcome::TooLarge,
        ScanOutcome::Unavailable,
        ScanOutcome::Error,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            ScanOutcome::Clean => "clean",
            ScanOutcome::Infected => "infected",
            ScanOutcome::TooLarge => "too-large",
            ScanOutcome::Unavailable => "unavailable",
            ScanOutcome::Error => "error",
        }
    }
}

/// The antivirus step of the job. Cheap to clone.
#[derive(Clone)]
pub struct Antivirus {
    policy: Arc<Policy>,
    metrics: Arc<Metrics>,
    audit: Audit,
}

impl Antivirus {
    pub fn new(policy: Arc<Policy>, metrics: Arc<Metrics>, audit: Audit) -> Self {
        Antivirus {
            policy,
            metrics,
            audit,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Streams the upload to clamd (when one is configured) and decides on the answer. `data`
    /// is the upload as the job read and checked it: clamd judges exactly the bytes the guests
    /// will parse, with no second read from storage and no window for the object to change.
    /// `tries_before`: scanner tries already made for this upload; `can_wait`: whether the job
    /// can schedule a later try (it has a queue). An `Err` is an audit event that could not be
    /// stored: no decision stands without its event.
    pub async fn check(
        &self,
        subject: &Subject<'_>,
        data: &[u8],
        tries_before: u32,
        can_wait: bool,
    ) -> Result<Decision, DbError> {
        let Some(clamd) = &self.policy.scanner else {
            return Ok(Decision::Proceed { skipped: None });
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
        let count = |outcome: ScanOutcome| {
            m.vscan_scans.with_label_values(&[outcome.label()]).inc();
        };
        match result {
            Ok(scan) => {
                m.vscan_up.set(1);
                m.vscan_duration.observe(scan.duration.as_secs_f64());
                match scan.verdict {
                    Verdict::Clean => {
                        count(ScanOutcome::Clean);
                        let e = subject
                            .event(audit::Decision::VscanClean, "clamd: no signature matched")
                            .details(serde_json::json!({
                                "bytes": scan.bytes,
                                "durationMs": scan.duration.as_millis() as u64,
                            }));
                        self.audit.record(e).await?;
                        Ok(Decision::Proceed { skipped: None })
                    }
                    Verdict::Infected { signature } => {
                        count(ScanOutcome::Infected);
                        let e = subject
                            .event(
                                audit::Decision::VscanInfected,
                                format!("clamd found {signature}"),
                            )
                            .details(serde_json::json!({ "signature": signature }));
                        self.audit.record(e).await?;
                        Ok(quarantine(Cause::Clamd { signature }))
                    }
                }
            }
            Err(VscanError::TooLarge { size, limit }) => {
                m.vscan_up.set(1);
                count(ScanOutcome::TooLarge);
                let e = subject
                    .event(
                        audit::Decision::VscanTooLarge,
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
                self.audit.record(e).await?;
                Ok(match self.policy.oversize {
                    OversizePolicy::Fail => {
                        fail(Refusal::Scanner(VscanError::TooLarge { size, limit }))
                    }
                    OversizePolicy::Quarantine => quarantine(Cause::Oversize { size, limit }),
                })
            }
            Err(e) if e.is_scanner_down() => {
                m.vscan_up.set(0);
                count(match e {
                    VscanError::Scanner { .. } => ScanOutcome::Error,
                    _ => ScanOutcome::Unavailable,
                });
                self.scanner_down(subject, tries_before, can_wait, e).await
            }
            Err(e) => Ok(fail(Refusal::Scanner(e))),
        }
    }

    /// The scanner gave no verdict: wait for the next try, or fail closed (or, by explicit
    /// configuration, open) when the tries are used up.
    async fn scanner_down(
        &self,
        subject: &Subject<'_>,
        tries_before: u32,
        can_wait: bool,
        err: VscanError,
    ) -> Result<Decision, DbError> {
        let retry = self.policy.retry;
        let tries = tries_before.saturating_add(1);
        if tries >= retry.attempts {
            if self.policy.fail_open {
                let reason = format!(
                    "scanner unavailable after {tries} tries ({err}); ATTACH_VSCAN_FAIL_OPEN lets the upload through unscanned"
                );
                tracing::warn!(file_key = %subject.file_key, "{reason}");
                let e = subject
                    .event(audit::Decision::VscanSkipped, reason.clone())
                    .details(serde_json::json!({ "tries": tries, "error": err.to_string() }));
                self.audit.record(e).await?;
                let skipped = Finding::new(SKIPPED_RULE, ScanVerdict::Suspicious, reason);
                return Ok(Decision::Proceed {
                    skipped: Some(skipped),
                });
            }
            let e = subject
                .event(
                    audit::Decision::VscanExhausted,
                    format!("scanner unavailable after {tries} tries: failed closed ({err})"),
                )
                .details(serde_json::json!({ "tries": tries, "error": err.to_string() }));
            self.audit.record(e).await?;
            return Ok(fail(Refusal::Exhausted {
                tries,
                message: err.to_string(),
            }));
        }
        if !can_wait {
            // No queue to schedule on (the CLI): the caller sees a retryable error, and the
            // row is given back with the code by the job's failure path.
            let e = subject
                .event(audit::Decision::VscanUnavailable, err.to_string())
                .details(serde_json::json!({ "tries": tries, "scheduled": false }));
            self.audit.record_best_effort(e).await;
            return Ok(fail(Refusal::Scanner(err)));
        }
        let delay = retry.delay(tries);
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let message = format!(
            "waiting on the virus scanner: try {tries} of {} failed ({err}); next try in {delay_ms} ms",
            retry.attempts
        );
        let e = subject
            .event(audit::Decision::VscanUnavailable, message.clone())
            .details(serde_json::json!({
                "tries": tries,
                "attempts": retry.attempts,
                "nextTryInMs": delay_ms,
                "error": err.to_string(),
            }));
        self.audit.record(e).await?;
        Ok(Decision::Stop(Stop::WaitForScanner(Wait {
            tries,
            delay,
            message,
        })))
    }

    /// Audits the scan guest's verdict (every upload the guests saw).
    pub async fn audit_guest_verdict(
        &self,
        subject: &Subject<'_>,
        scan: Option<&ScanFields>,
    ) -> Result<(), DbError> {
        let Some(scan) = scan else {
            return Ok(());
        };
        let rules = scan.rules_with(scan.verdict);
        let reason = if rules.is_empty() {
            format!("scan verdict {}", scan.verdict)
        } else {
            format!("scan verdict {}: {rules}", scan.verdict)
        };
        let event = subject
            .event(scan.verdict.into(), reason)
            .details(serde_json::json!({ "findings": scan.findings }));
        self.audit.record(event).await
    }

    /// `ATTACH_SCAN_SUSPICIOUS` on an upload the guests rendered: whether it is published.
    pub fn judge_guest_scan(&self, scan: Option<&ScanFields>) -> Decision {
        let Some(scan) = scan.filter(|s| s.verdict == ScanVerdict::Suspicious) else {
            return Decision::Proceed { skipped: None };
        };
        let rules = scan.rules_with(ScanVerdict::Suspicious);
        match self.policy.suspicious {
            SuspiciousPolicy::Publish => Decision::Proceed { skipped: None },
            SuspiciousPolicy::Fail => fail(Refusal::Suspicious { rules }),
            SuspiciousPolicy::Quarantine => quarantine(Cause::Suspicious { rules }),
        }
    }
}

fn quarantine(cause: Cause) -> Decision {
    Decision::Stop(Stop::Quarantine(cause))
}

fn fail(refusal: Refusal) -> Decision {
    Decision::Stop(Stop::Fail(refusal))
}

/// Adds the fail-open finding to the row's scan, raising a `clean` verdict to `suspicious`:
/// an unscanned upload is not a clean one.
pub fn with_skipped(scan: Option<ScanFields>, skipped: Option<Finding>) -> Option<ScanFields> {
    let Some(finding) = skipped else {
        return scan;
    };
    let mut scan = scan.unwrap_or_else(ScanFields::clean);
    if scan.verdict == ScanVerdict::Clean {
        scan.verdict = ScanVerdict::Suspicious;
    }
    scan.findings.push(finding);
    Some(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn antivirus(policy: Policy) -> Antivirus {
        Antivirus::new(Arc::new(policy), Metrics::new(&[]), Audit::new(None))
    }

    #[test]
    fn a_skipped_scan_makes_a_clean_upload_suspicious() {
        let finding = Finding::new(SKIPPED_RULE, ScanVerdict::Suspicious, "down");
        let scan = with_skipped(None, Some(finding)).unwrap();
        assert_eq!(scan.verdict, ScanVerdict::Suspicious);
        assert_eq!(scan.rules_with(ScanVerdict::Suspicious), SKIPPED_RULE);
        assert_eq!(with_skipped(None, None), None);
        // A reject stays a reject.
        let reject = ScanFields {
            verdict: ScanVerdict::Reject,
            findings: vec![],
        };
        let finding = Finding::new(SKIPPED_RULE, ScanVerdict::Suspicious, "down");
        let scan = with_skipped(Some(reject), Some(finding)).unwrap();
        assert_eq!(scan.verdict, ScanVerdict::Reject);
    }

    #[test]
    fn a_suspicious_guest_verdict_is_published_failed_or_quarantined_by_policy() {
        let scan = ScanFields {
            verdict: ScanVerdict::Suspicious,
            findings: vec![
                Finding::new("mime-mismatch", ScanVerdict::Suspicious, "png as jpeg"),
                Finding::new("note", ScanVerdict::Clean, ""),
            ],
        };
        let with = |suspicious| {
            antivirus(Policy {
                suspicious,
                ..Policy::default()
            })
            .judge_guest_scan(Some(&scan))
        };
        let proceed = Decision::Proceed { skipped: None };
        assert_eq!(with(SuspiciousPolicy::Publish), proceed);
        assert_eq!(
            with(SuspiciousPolicy::Fail),
            fail(Refusal::Suspicious {
                rules: "mime-mismatch".into()
            })
        );
        assert_eq!(
            with(SuspiciousPolicy::Quarantine),
            quarantine(Cause::Suspicious {
                rules: "mime-mismatch".into()
            })
        );
        let strict = antivirus(Policy {
            suspicious: SuspiciousPolicy::Fail,
            ..Policy::default()
        });
        assert_eq!(strict.judge_guest_scan(Some(&ScanFields::clean())), proceed);
        assert_eq!(strict.judge_guest_scan(None), proceed);
    }

    #[test]
    fn a_quarantined_row_records_the_causes_verdict_and_clamds_signature() {
        let clamd = Cause::Clamd {
            signature: "Eicar-Signature".into(),
        };
        let fields = clamd.scan_fields(None);
        assert_eq!(fields.verdict, ScanVerdict::Reject);
        assert_eq!(
            serde_json::to_value(&fields.findings).unwrap(),
            serde_json::json!([{
                "rule": VIRUS_RULE, "verdict": "reject", "detail": "Eicar-Signature",
                "signature": "Eicar-Signature", "engine": "clamd",
            }])
        );
        let guest = ScanFields {
            verdict: ScanVerdict::Suspicious,
            findings: vec![Finding::new("svg-script", ScanVerdict::Suspicious, "x")],
        };
        let suspicious = Cause::Suspicious {
            rules: "svg-script".into(),
        };
        assert_eq!(suspicious.scan_fields(Some(guest.clone())), guest);
        let oversize = Cause::Oversize {
            size: 2,
            limit: "1 bytes".into(),
        };
        assert_eq!(oversize.scan_fields(None).verdict, ScanVerdict::Reject);
        assert_eq!(
            oversize.audit_details("q/k"),
            serde_json::json!({ "code": "scan-too-large", "source": "oversize", "quarantineKey": "q/k" })
        );
    }

    #[test]
    fn every_scan_outcome_and_quarantine_source_has_a_series_from_the_start() {
        let text = Metrics::new(&[]).render();
        for outcome in ScanOutcome::ALL {
            let series = format!(
                "attachments_vscan_scans_total{{outcome=\"{}\"}} 0",
                outcome.label()
            );
            assert!(text.contains(&series), "missing {series}");
        }
        let causes = [
            Cause::Clamd {
                signature: String::new(),
            },
            Cause::ScanGuest {
                rules: String::new(),
            },
            Cause::Suspicious {
                rules: String::new(),
            },
            Cause::Oversize {
                size: 0,
                limit: String::new(),
            },
        ];
        for cause in causes {
            let series = format!(
                "attachments_quarantined_total{{source=\"{}\"}} 0",
                cause.source()
            );
            assert!(text.contains(&series), "missing {series}");
        }
    }
}
