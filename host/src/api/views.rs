//! The JSON the API reads and writes, with the schemas the OpenAPI document is made from.

use crate::db::{Attachment, Event};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignRequest {
    /// The file's name as the user chose it: kept (made safe) as the key's last segment.
    #[schema(min_length = 1, max_length = 255, example = "holiday.jpg")]
    pub file_name: String,
    /// Exact size in bytes: the upload URL accepts exactly this many.
    #[schema(minimum = 1, example = 123456)]
    pub size: u64,
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignResponse {
    /// The attachment's id: `GET /api/attachments/{id}`.
    pub id: i64,
    /// What `complete` names.
    pub file_key: String,
    pub upload: Link,
}

/// A request the client sends as given: method, URL and headers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub url: String,
    #[schema(example = "PUT")]
    pub method: String,
    /// Headers the request must carry with these values (lower-case names).
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    pub file_key: String,
    /// sha256 of the bytes, 64 hex digits; the worker checks it against what it reads.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub checksum: String,
    #[schema(minimum = 1)]
    pub size: u64,
    pub mime_type: String,
    /// Variant specs (`name:WxH[:format[:quality[:fit]]]`) or names of configured variants;
    /// absent: the defaults.
    #[serde(default)]
    pub variants: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReviewRequest {
    /// Why: recorded in the audit history with the reviewer's name.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// One attachment as clients see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    pub id: i64,
    pub file_key: String,
    /// `uploaded`, `processing`, `ready`, `failed`, `quarantined` or `deleted`.
    pub status: String,
    /// As declared by the uploader.
    pub mime_type: String,
    /// As the probe read the bytes.
    pub sniffed_mime: Option<String>,
    pub size: i64,
    pub checksum: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// ThumbHash (base64) to show while the image loads.
    pub placeholder: Option<String>,
    /// Stable code of a failure or quarantine (README "Error codes").
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub scan: ScanView,
    /// A ready upload's variants, each with a short-lived download URL.
    pub variants: Vec<VariantView>,
    /// A download URL of the original: only for a ready upload, never for a failed or
    /// quarantined one.
    pub original: Option<Link>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanView {
    /// `clean`, `suspicious` or `reject`; none before the scan ran.
    pub verdict: Option<String>,
    /// The rules that fired: `{rule, verdict, detail, engine?, signature?}`.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantView {
    pub name: String,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuarantinedPage {
    /// Most recently quarantined first.
    pub items: Vec<AttachmentView>,
    /// Pass as `before` for the next page; none on the last.
    pub next: Option<i64>,
}

/// One entry of an upload's audit history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Stable kebab-case decision (`quarantined`, `review-released`, …).
    pub decision: String,
    pub reason: String,
    pub job_id: Option<String>,
    /// The reviewer, for a review decision.
    pub reviewer: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            id: e.id,
            at: e.at,
            reviewer: e
                .details
                .get("reviewer")
                .and_then(|r| r.as_str())
                .map(str::to_owned),
            decision: e.decision,
            reason: e.reason,
            job_id: e.job_id,
            details: e.details,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedView {
    pub id: i64,
    pub file_key: String,
    pub deleted: bool,
}

impl AttachmentView {
    /// The row as clients see it, download links not yet added.
    pub fn of(row: &Attachment) -> Self {
        let findings = match &row.scan_findings {
            Some(serde_json::Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        AttachmentView {
            id: row.id,
            file_key: row.file_key.clone(),
            status: row.status.as_str().to_owned(),
            mime_type: row.mime_type.clone(),
            sniffed_mime: row.sniffed_mime.clone(),
            size: row.size,
            checksum: row.checksum.clone(),
            width: row.width,
            height: row.height,
            placeholder: row.placeholder.clone(),
            error_code: row.error_code.clone(),
            error_message: row.error_message.clone(),
            scan: ScanView {
                verdict: row.scan_verdict.clone(),
                findings,
            },
            variants: Vec::new(),
            original: None,
            created_at: row.created_at,
            updated_at: row.updated_at,
            processed_at: row.processed_at,
        }
    }
}
