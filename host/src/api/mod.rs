//! `attachd serve`: the upload API the seed's Node service provided (sign, complete, status),
//! a review page for quarantined uploads, and the URLs the local store needs to stand in for
//! S3's presigned ones.
//!
//! The flow: `POST /api/attachments/sign` creates the `uploaded` row and answers where to put
//! the bytes (a presigned S3 PUT, or a signed URL on this server for the local store); the
//! client uploads; `POST /api/attachments/complete` checks the object is there at the size
//! signed, records the checksum and enqueues `attachments.process` with the seed's payload;
//! `GET /api/attachments/{id}` reports the row, with short-lived download URLs for a ready
//! upload's variants and original (never for a failed or quarantined one).
//!
//! Every `/api` route but the OpenAPI document needs a bearer token from
//! `ATTACH_API_TOKENS_FILE` with the route's scope; each token has a rate limit. Requests have
//! a deadline and JSON bodies a size cap. `/healthz`, `/readyz` and `/metrics` are open, as
//! the worker's are: they tell nothing about any upload.

mod actions;
mod auth;
mod error;
mod extract;
mod files;
mod http;
mod openapi;
mod review;
mod routes;
mod views;

pub use auth::{new_token, RateLimiter, Scope, SigningKey, TokenSet, Tokens, TOKEN_PREFIX};
pub use error::{ApiError, ErrorBody};
pub use files::Uploading;
pub use http::{router, serve, ApiMetrics};
pub use openapi::document;

use crate::audit::Audit;
use crate::db::Db;
use crate::queue::{Enqueue, RetryPolicy};
use crate::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where `attachd serve` listens when `ATTACH_API_ADDR` is unset: loopback, so nothing is
/// exposed until an operator says where (behind a TLS-terminating proxy, typically).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// How long upload and download URLs last: long enough to upload the largest accepted video
/// on a slow phone connection, short enough that a leaked URL soon stops working.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// S3's own limit on a presigned URL (SigV4: 7 days).
pub const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The lowest rate accepted: one request in about 17 minutes. Below it the bucket's waits
/// would not fit a Duration.
pub const MIN_RATE: f64 = 0.001;
/// Requests per second per token: a busy app signs and completes a few uploads a second per
/// backend; 50 with a burst of 100 leaves headroom while capping what a leaked token can do
/// (each sign creates a row).
pub const DEFAULT_RATE: u32 = 50;
pub const DEFAULT_BURST: u32 = 100;
/// Deadline of one request but an upload: a sign, complete or read takes milliseconds; 30 s
/// covers a slow database or store and bounds how long a request holds a connection.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of an upload through the local store's URL: 64 MiB (the image limit) at 1 MB/s
/// fits.
pub const DEFAULT_UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// JSON request bodies: a sign or complete is a few hundred bytes; 64 KiB covers a long
/// variant list and bounds what a caller makes the server parse.
pub const MAX_JSON_BODY: usize = 64 * 1024;
/// The signing key's file in the data directory when `ATTACH_API_SIGNING_KEY_FILE` is unset.
pub const SIGNING_KEY_FILE_NAME: &str = "api-signing.key";
/// The request head must arrive within this (as for the metrics server): bounds how long a
/// slowloris client holds a connection before any deadline of a request starts.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once: bounds tasks and file descriptors under a flood; more wait in
/// the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// A connection ends this long after its longest request's deadline (see `attachd serve`):
/// room for that request's answer to be sent.
pub const CONNECTION_LIFETIME_MARGIN: Duration = Duration::from_secs(30);
/// On SIGTERM, requests in flight get this long to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `ATTACH_API_*`.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub addr: String,
    pub tokens_file: Option<PathBuf>,
    /// Without a trailing `/`. `None`: `http://` + the listen address.
    pub public_url: Option<String>,
    pub signing_key_file: PathBuf,
    pub url_ttl: Duration,
    pub rate: f64,
    pub burst: u32,
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
}

/// `ATTACH_API_PUBLIC_URL`: an `http://` or `https://` base, no query or fragment.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or("expected an http:// or https:// URL")?;
    if rest.is_empty() || rest.contains(['?', '#', ' ', '"', '<', '>', '\\']) {
        return Err("expected a base URL: a host, maybe a port and a path".into());
    }
    Ok(s.to_owned())
}

/// The media types `sign` accepts: what the worker turns into variants. Anything else would
/// only fail in the worker, after the upload was paid for.
pub const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];
pub const VIDEO_TYPES: [&str; 2] = ["video/mp4", "video/quicktime"];

/// Everything a request handler needs. Built once; shared by reference.
pub struct Api {
    pub db: Db,
    pub storage: Arc<dyn Storage>,
    /// The same store when it is the local one, whose upload and download URLs this server
    /// serves itself.
    pub local: Option<Arc<crate::storage::LocalStorage>>,
    /// Keys being uploaded through those URLs now.
    pub uploading: Uploading,
    pub queue: Arc<dyn Enqueue>,
    pub audit: Audit,
    /// Read again on SIGHUP.
    pub tokens: TokenSet,
    pub limiter: RateLimiter,
    pub key: SigningKey,
    pub public_url: String,
    pub url_ttl: Duration,
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
    pub upload_prefix: String,
    pub quarantine_prefix: String,
    pub max_image_bytes: u64,
    /// `None`: video is off.
    pub max_video_bytes: Option<u64>,
    /// Attempts and backoff of the jobs `complete` and a release add.
    pub retry: RetryPolicy,
    /// `/readyz`.
    pub ready: crate::metrics::ReadyCache,
    pub metrics: ApiMetrics,
}

impl Api {
    /// The most bytes an upload of `mime` may have, or `None` if the type is not accepted.
    pub fn max_bytes(&self, mime: &str) -> Option<u64> {
        if IMAGE_TYPES.contains(&mime) {
            Some(self.max_image_bytes)
        } else if VIDEO_TYPES.contains(&mime) {
            self.max_video_bytes
        } else {
            None
        }
    }

    /// Types `sign` takes, for its error message.
    pub fn accepted_types(&self) -> Vec<&'static str> {
        let mut types = IMAGE_TYPES.to_vec();
        if self.max_video_bytes.is_some() {
            types.extend(VIDEO_TYPES);
        }
        types
    }
}
