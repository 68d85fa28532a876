//! The API's errors: each a stable kebab-case code (README "API errors"), an HTTP status, and
//! a message for the caller. Failures of the services behind the API (database, store,
//! Redis) answer 503 with a generic message: their detail, which may name hosts and keys, goes
//! to the log only.

use crate::db::DbError;
use crate::error::ErrorCode as _;
use crate::queue::QueueError;
use crate::storage::StorageError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no bearer token: send `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("the bearer token is not valid")]
    InvalidToken,
    #[error("this token lacks the `{0}` scope")]
    InsufficientScope(&'static str),
    #[error("too many requests for this token; retry in {} ms", .0.as_millis())]
    RateLimited(Duration),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{size} bytes is more than the {max} allowed for {mime}")]
    UploadTooLarge { size: u64, max: u64, mime: String },
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("{0}")]
    InvalidFileKey(String),
    #[error("no such attachment")]
    NotFound,
    #[error("no signed upload has this file key: sign it first")]
    UploadNotSigned,
    #[error("the upload is not in the store: upload it to the signed URL first")]
    UploadMissing,
    #[error("the stored upload is {actual} bytes, not the {declared} declared")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("{0}")]
    UploadMismatch(String),
    #[error("this upload was completed already (status {0})")]
    AlreadyCompleted(String),
    #[error("the attachment is not quarantined (status {0})")]
    NotQuarantined(String),
    #[error("the URL has expired")]
    UrlExpired,
    #[error("the URL's signature does not match")]
    InvalidSignature,
    #[error("an upload URL writes once: the object exists already")]
    AlreadyUploaded,
    #[error("another upload to this URL is in progress")]
    UploadInProgress,
    #[error("the request took longer than {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the review session is missing or has expired: log in again")]
    SessionRequired,
    #[error("the form's CSRF token does not match this session")]
    CsrfMismatch,
    #[error("the database is unavailable; retry later")]
    Database(#[source] DbError),
    #[error("the object store is unavailable; retry later")]
    Storage(#[source] StorageError),
    #[error("the queue (Redis) is unavailable; retry later")]
    Queue(#[source] QueueError),
}

impl ApiError {
    /// The released code (README "API errors"): never reword one.
    pub const fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidToken => "invalid-token",
            ApiError::InsufficientScope(_) => "insufficient-scope",
            ApiError::RateLimited(_) => "rate-limited",
            ApiError::InvalidRequest(_) => "invalid-request",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::UploadTooLarge { .. } => "upload-too-large",
            ApiError::BodyTooLarge(_) => "body-too-large",
            ApiError::InvalidFileKey(_) => "invalid-file-key",
            ApiError::NotFound => "not-found",
            ApiError::UploadNotSigned => "upload-not-signed",
            ApiError::UploadMissing => "upload-missing",
            ApiError::SizeMismatch { .. } => "size-mismatch",
            ApiError::UploadMismatch(_) => "upload-mismatch",
            ApiError::AlreadyCompleted(_) => "already-completed",
            ApiError::NotQuarantined(_) => "not-quarantined",
            ApiError::UrlExpired => "url-expired",
            ApiError::InvalidSignature => "invalid-signature",
            ApiError::AlreadyUploaded => "already-uploaded",
            ApiError::UploadInProgress => "upload-in-progress",
            ApiError::Timeout(_) => "request-timeout",
            ApiError::SessionRequired => "session-required",
            ApiError::CsrfMismatch => "csrf-mismatch",
            ApiError::Database(_) => "database-unavailable",
            ApiError::Storage(_) => "storage-unavailable",
            ApiError::Queue(_) => "queue-unavailable",
        }
    }

    /// Every code, for the README's table and its test.
    pub const CODES: [&'static str; 26] = [
        "unauthenticated",
        "invalid-token",
        "insufficient-scope",
        "rate-limited",
        "invalid-request",
        "unsupported-media-type",
        "upload-too-large",
        "body-too-large",
        "invalid-file-key",
        "not-found",
        "upload-not-signed",
        "upload-missing",
        "size-mismatch",
        "upload-mismatch",
        "already-completed",
        "not-quarantined",
        "url-expired",
        "invalid-signature",
        "already-uploaded",
        "upload-in-progress",
        "request-timeout",
        "session-required",
        "csrf-mismatch",
        "database-unavailable",
        "storage-unavailable",
        "queue-unavailable",
    ];

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidToken | ApiError::SessionRequired => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::InsufficientScope(_)
            | ApiError::UrlExpired
            | ApiError::InvalidSignature
            | ApiError::CsrfMismatch => StatusCode::FORBIDDEN,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidRequest(_) | ApiError::InvalidFileKey(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UploadTooLarge { .. } | ApiError::BodyTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::NotFound | ApiError::UploadNotSigned => StatusCode::NOT_FOUND,
            ApiError::UploadMissing
            | ApiError::SizeMismatch { .. }
            | ApiError::UploadMismatch(_)
            | ApiError::AlreadyCompleted(_)
            | ApiError::NotQuarantined(_)
            | ApiError::AlreadyUploaded
            | ApiError::UploadInProgress => StatusCode::CONFLICT,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Database(_) | ApiError::Storage(_) | ApiError::Queue(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::Database(e)
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        ApiError::Queue(e)
    }
}

impl From<StorageError> for ApiError {
    /// A key the store refuses is the caller's; a missing object is answered where it is
    /// expected; the rest is the store's.
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::InvalidKey { .. } => ApiError::InvalidFileKey(e.to_string()),
            StorageError::NotFound { .. } => ApiError::UploadMissing,
            other => ApiError::Storage(other),
        }
    }
}

/// The body of every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable kebab-case code (README "API errors").
    pub code: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            let cause = match &self {
                ApiError::Database(e) => e.to_string(),
                ApiError::Storage(e) => format!("{} ({})", e, e.code()),
                ApiError::Queue(e) => e.to_string(),
                other => other.to_string(),
            };
            tracing::warn!(code = self.code(), cause = %crate::redact::redact(&cause), "API request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthenticated | ApiError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"attachd\""),
                );
            }
            ApiError::RateLimited(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_api_error_table_lists_exactly_these_codes_with_their_statuses() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("### API errors")
            .nth(1)
            .expect("README has an API errors section");
        let section = section.split("\n#").next().unwrap_or(section);
        let rows: Vec<(String, String)> = section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
            })
            .collect();
        let listed: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            listed,
            ApiError::CODES,
            "README's API errors table is out of date"
        );
        let samples = [
            ApiError::Unauthenticated,
            ApiError::InsufficientScope("review"),
            ApiError::RateLimited(Duration::from_secs(1)),
            ApiError::UploadTooLarge {
                size: 2,
                max: 1,
                mime: "image/png".into(),
            },
            ApiError::AlreadyUploaded,
            ApiError::Timeout(Duration::from_secs(1)),
            ApiError::CsrfMismatch,
        ];
        for e in samples {
            let (_, status) = rows.iter().find(|(c, _)| c == e.code()).unwrap();
            assert_eq!(status, e.status().as_str(), "{}", e.code());
        }
    }

    #[test]
    fn every_code_is_listed_once_and_kebab_case() {
        let set: std::collections::BTreeSet<_> = ApiError::CODES.iter().collect();
        assert_eq!(set.len(), ApiError::CODES.len());
        for code in ApiError::CODES {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
        // A sample of variants maps into the list.
        for e in [
            ApiError::NotFound,
            ApiError::UrlExpired,
            ApiError::Timeout(Duration::from_secs(1)),
        ] {
            assert!(ApiError::CODES.contains(&e.code()));
        }
    }
}
