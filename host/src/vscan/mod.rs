//! The antivirus re-check: a clamd client ([`Clamd`], INSTREAM over TCP or a Unix socket), the
//! policy for its answers ([`Policy`]) and the component that applies it ([`Antivirus`], which
//! returns a [`Decision`] the job carries out). The job runs the scan on every stored upload,
//! after its size and checksum are checked and before any guest sees it, so nothing is
//! rendered, written or published for an upload clamd has not called clean.
//!
//! | Variable                         | Default        | Meaning                                          |
//! |----------------------------------|----------------|--------------------------------------------------|
//! | `ATTACH_VSCAN_ENDPOINT`          | unset (no AV)  | `tcp://host:port` or `unix:///path/clamd.ctl`    |
//! | `ATTACH_VSCAN_CONNECT_TIMEOUT`   | `3s`           | bound on connecting to clamd                     |
//! | `ATTACH_VSCAN_TIMEOUT`           | `60s`          | bound on each write, read and the verdict        |
//! | `ATTACH_VSCAN_MAX_STREAM`        | 25 MiB         | clamd's `StreamMaxLength`                        |
//! | `ATTACH_VSCAN_OVERSIZE`          | `fail`         | over the stream limit: `fail` or `quarantine`    |
//! | `ATTACH_VSCAN_RETRY_ATTEMPTS`    | `12`           | scanner tries before `scanner-unavailable`       |
//! | `ATTACH_VSCAN_RETRY_BASE`, `…_CAP` | `2s`, `5m`   | exponential backoff between tries                |
//! | `ATTACH_VSCAN_FAIL_OPEN`         | `0`            | `1`: publish unscanned once tries run out        |
//! | `ATTACH_QUARANTINE_PREFIX`       | `quarantine/`  | where quarantined originals are moved            |
//! | `ATTACH_SCAN_SUSPICIOUS`         | `publish`      | a `suspicious` guest verdict: `publish`, `quarantine` or `fail` |
//!
//! Why the retry is a new `attachments.vscan.retry` job and not a retry of the process job:
//! the seed asks for a 5 min cap, which BullMQ's exponential backoff does not have, and a job
//! that waits on the scanner is not a failing job: the process job completes (its summary says
//! it waits on the scanner), and each retry job computes its own capped delay.

mod antivirus;
mod clamd;
mod error;

pub use antivirus::{
    with_skipped, Antivirus, Cause, Decision, Refusal, ScanOutcome, Stop, Subject, Wait,
    QUARANTINE_CODE_VIRUS, SKIPPED_RULE, VIRUS_RULE,
};
pub use clamd::{parse_reply, Clamd, Scan, CHUNK_BYTES, MAX_REPLY_BYTES, MAX_SIGNATURE_CHARS};
pub use error::VscanError;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A connect to a clamd on the same host or network takes milliseconds; one that has not
/// connected in 3 s is down or unroutable (the same bound as the object store's).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// clamd scans a 25 MiB image in a second or two; 60 s covers a large archive on a busy daemon
/// and still declares a hung one unavailable well inside clamd's own 120 s `ReadTimeout`.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);
/// 25 MiB: the `StreamMaxLength` in the clamd.conf Debian's clamav-daemon ships. attachd stops
/// before it instead of letting clamd cut the connection mid-stream; set it to your clamd's.
pub const DEFAULT_MAX_STREAM: u64 = 25 * 1024 * 1024;
/// Twelve tries with the default backoff wait 2+4+…+256 s, then 300 s four times: about 24
/// minutes, which rides out a clamd restart or a signature reload (seconds to a minute) and a
/// short outage, and still reports a dead scanner within the half hour.
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 12;
/// The seed's backoff base.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(2);
/// The seed's backoff cap. It must stay below the orphan age (2 h by default): a row waiting on
/// the scanner is touched at every try, and a touched row is never an orphan.
pub const DEFAULT_RETRY_CAP: Duration = Duration::from_secs(5 * 60);
/// Quarantined originals live under their own prefix, outside the upload prefix (which the
/// orphan sweep empties) and the variants tree.
pub const DEFAULT_QUARANTINE_PREFIX: &str = "quarantine/";

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port`.
    Tcp(String),
    Unix(PathBuf),
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    /// `tcp://host:port` or `unix:///absolute/path`.
    fn from_str(s: &str) -> Result<Endpoint, String> {
        if let Some(addr) = s.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            let port_ok = addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(format!("{s:?}: expected tcp://host:port"));
            }
            return Ok(Endpoint::Tcp(addr.to_string()));
        }
        if let Some(path) = s.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("{s:?}: expected unix:///absolute/path"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        Err(format!(
            "{s:?}: expected tcp://host:port or unix:///path/to/clamd.ctl"
        ))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// clamd's answer about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// `signature` as clamd names it (custom signatures end in `.UNOFFICIAL`).
    Infected {
        signature: String,
    },
}

/// What happens to an upload larger than clamd accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OversizePolicy {
    /// The row is `failed` with `scan-too-large`; the upload stays where it is, unpublished.
    Fail,
    /// The upload is quarantined for review, as an infected one would be.
    Quarantine,
}

/// What happens to an upload the scan guest calls `suspicious`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuspiciousPolicy {
    /// Variants are published; the verdict and findings are on the row (the default: most
    /// suspicious findings, such as a declared type that differs from the real one, are benign).
    Publish,
    /// The upload is quarantined for review.
    Quarantine,
    /// The row is `failed` with `scan-suspicious`.
    Fail,
}

/// How long to wait between scanner tries, and how many to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Scanner tries in all, the first (in the process job) included.
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_RETRY_ATTEMPTS,
            base: DEFAULT_RETRY_BASE,
            cap: DEFAULT_RETRY_CAP,
        }
    }
}

impl RetryPolicy {
    /// The wait after try `tries` (1-based) failed: `base × 2^(tries−1)`, at most `cap`.
    pub fn delay(&self, tries: u32) -> Duration {
        let factor = 1u32
            .checked_shl(tries.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

/// Everything the job decides on security grounds, with its defaults.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `None`: no antivirus re-check (the scan guest's verdict still applies).
    pub scanner: Option<Clamd>,
    pub retry: RetryPolicy,
    /// Publish an unscanned upload once the tries run out (explicit opt-in, warned at start).
    pub fail_open: bool,
    pub oversize: OversizePolicy,
    pub suspicious: SuspiciousPolicy,
    /// Ends with `/`.
    pub quarantine_prefix: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            scanner: None,
            retry: RetryPolicy::default(),
            fail_open: false,
            oversize: OversizePolicy::Fail,
            suspicious: SuspiciousPolicy::Publish,
            quarantine_prefix: DEFAULT_QUARANTINE_PREFIX.into(),
        }
    }
}

impl Policy {
    /// Refuses settings that would lose or leak uploads: a quarantine prefix that is not a
    /// folder or sits inside the upload prefix (the orphan sweep would delete quarantined
    /// files) or the variants tree (cleanup would), a backoff cap that reaches the orphan age
    /// (a row waiting on the scanner would be swept), or no tries at all.
    pub fn check(&self, upload_prefix: &str, orphan_max_age: Duration) -> Result<(), String> {
        let q = &self.quarantine_prefix;
        crate::storage::validate_key(q.trim_end_matches('/'))
            .ok()
            .filter(|_| q.ends_with('/'))
            .ok_or_else(|| {
                format!("ATTACH_QUARANTINE_PREFIX {q:?} must be a folder such as quarantine/")
            })?;
        for (inside, what) in [
            (upload_prefix, "ATTACH_UPLOAD_PREFIX"),
            (crate::storage::VARIANTS_ROOT, "the variants tree"),
        ] {
            if !inside.is_empty() && (q.starts_with(inside) || inside.starts_with(q.as_str())) {
                return Err(format!(
                    "ATTACH_QUARANTINE_PREFIX {q:?} overlaps {what} ({inside:?}): cleanup would delete quarantined files"
                ));
            }
        }
        if self.retry.attempts == 0 {
            return Err("ATTACH_VSCAN_RETRY_ATTEMPTS must be at least 1".into());
        }
        if self.retry.base.is_zero() {
            return Err("ATTACH_VSCAN_RETRY_BASE must be more than 0".into());
        }
        if self.retry.cap >= orphan_max_age {
            return Err(format!(
                "ATTACH_VSCAN_RETRY_CAP ({} s) must be shorter than ATTACH_ORPHAN_MAX_AGE ({} s): \
                 cleanup would delete uploads that wait on the scanner",
                self.retry.cap.as_secs(),
                orphan_max_age.as_secs()
            ));
        }
        Ok(())
    }

    /// Where `file_key`'s original goes when it is quarantined.
    pub fn quarantine_key(&self, file_key: &str) -> String {
        format!("{}{file_key}", self.quarantine_prefix)
    }

    /// Settings that make attachd less strict than its defaults, each with why, for the
    /// warning and the audit event at start. (No scanner at all is the default, not a
    /// weakening: the seed re-scans only when an endpoint is provided.)
    pub fn weakenings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.scanner.is_some() && self.fail_open {
            out.push(
                "ATTACH_VSCAN_FAIL_OPEN=1: uploads are published without the antivirus scan once \
                 the scanner stays unavailable through every retry"
                    .to_string(),
            );
        }
        out
    }
}

impl Policy {
    /// A warning when the scanner cannot take uploads the pipeline accepts: those between
    /// clamd's stream limit and the largest accepted upload (`max_upload`, images or video)
    /// all end with the over-size outcome. Worth saying at start: Debian's clamd takes 25 MiB,
    /// while attachd accepts 64 MiB images and 256 MiB videos by default.
    pub fn size_gap(&self, max_upload: u64) -> Option<String> {
        let clamd = self.scanner.as_ref()?;
        if max_upload <= clamd.max_stream {
            return None;
        }
        let outcome = match self.oversize {
            OversizePolicy::Fail => "fail with scan-too-large",
            OversizePolicy::Quarantine => "be quarantined",
        };
        Some(format!(
            "uploads over {} bytes (ATTACH_VSCAN_MAX_STREAM) will {outcome}, though up to {} \
             bytes are accepted; raise clamd's StreamMaxLength and ATTACH_VSCAN_MAX_STREAM \
             together to scan them",
            clamd.max_stream, max_upload
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_limit_below_the_largest_upload_is_reported_with_its_outcome() {
        let clamd = Clamd {
            endpoint: "tcp://127.0.0.1:3310".parse().unwrap(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            max_stream: DEFAULT_MAX_STREAM,
        };
        let mut policy = Policy {
            scanner: Some(clamd),
            ..Policy::default()
        };
        let gap = policy.size_gap(256 * 1024 * 1024).expect("a gap");
        assert!(
            gap.contains("26214400") && gap.contains("scan-too-large"),
            "{gap}"
        );
        assert_eq!(policy.size_gap(DEFAULT_MAX_STREAM), None);
        policy.oversize = OversizePolicy::Quarantine;
        assert!(policy.size_gap(u64::MAX).unwrap().contains("quarantined"));
        policy.scanner = None;
        assert_eq!(policy.size_gap(u64::MAX), None, "no scanner, no gap");
    }

    #[test]
    fn endpoints_are_tcp_host_port_or_absolute_unix_paths() {
        assert_eq!(
            "tcp://127.0.0.1:3310".parse(),
            Ok(Endpoint::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            "unix:///run/clamav/clamd.ctl".parse(),
            Ok(Endpoint::Unix("/run/clamav/clamd.ctl".into()))
        );
        for bad in [
            "127.0.0.1:3310",
            "tcp://host",
            "tcp://:3310",
            "tcp://h:99999",
            "unix://relative",
            "http://h:1",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_delay_doubles_from_the_base_up_to_the_cap() {
        let r = RetryPolicy::default();
        let delays: Vec<u64> = (1..=10).map(|t| r.delay(t).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(r.delay(200), r.cap);
    }

    #[test]
    fn default_waits_span_about_24_minutes() {
        let r = RetryPolicy::default();
        let total: u64 = (1..r.attempts).map(|t| r.delay(t).as_secs()).sum();
        assert_eq!(total, 1410);
    }

    #[test]
    fn quarantine_prefix_must_be_a_folder_outside_uploads_and_variants() {
        let two_hours = Duration::from_secs(7200);
        let mut p = Policy::default();
        assert_eq!(p.check("uploads/", two_hours), Ok(()));
        for bad in [
            "uploads/quarantine/",
            "variants/q/",
            "quarantine",
            "../q/",
            "",
        ] {
            p.quarantine_prefix = bad.into();
            assert!(p.check("uploads/", two_hours).is_err(), "{bad:?}");
        }
        p.quarantine_prefix = "quarantine/".into();
        p.retry.cap = two_hours;
        assert!(
            p.check("uploads/", two_hours).is_err(),
            "cap reaches the orphan age"
        );
    }

    #[test]
    fn fail_open_is_reported_as_a_weakening() {
        let mut p = Policy {
            scanner: Some(Clamd {
                endpoint: Endpoint::Tcp("127.0.0.1:1".into()),
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                io_timeout: DEFAULT_IO_TIMEOUT,
                max_stream: DEFAULT_MAX_STREAM,
            }),
            ..Policy::default()
        };
        assert!(p.weakenings().is_empty());
        p.fail_open = true;
        assert_eq!(p.weakenings().len(), 1);
    }
}
