//! The `attachment_events` table: the durable half of the audit log (see `crate::audit`). Rows
//! are only ever inserted; both databases' triggers refuse UPDATE and DELETE (PostgreSQL also
//! TRUNCATE) whoever asks.

use super::{Db, DbError};
use chrono::{DateTime, Utc};
use sqlx::types::Json;

/// `reason` is cut to this many bytes, like a row's `error_message`: a reason that quotes
/// hostile input cannot inflate the log.
pub const MAX_REASON_BYTES: usize = 4096;

/// One event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub file_key: Option<String>,
    pub job_id: Option<String>,
    pub checksum: Option<String>,
    /// Stable kebab-case name.
    pub decision: String,
    pub reason: String,
    /// A JSON object.
    pub details: serde_json::Value,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub file_key: Option<String>,
    pub job_id: Option<String>,
    pub checksum: Option<String>,
    pub decision: String,
    pub reason: String,
    #[sqlx(json)]
    pub details: serde_json::Value,
}

impl Db {
    /// Appends one event; returns its id.
    pub async fn record_event(&self, e: &NewEvent) -> Result<i64, DbError> {
        let reason = super::truncate(&e.reason, MAX_REASON_BYTES);
        let details = if e.details.is_object() {
            e.details.clone()
        } else {
            serde_json::json!({ "value": e.details })
        };
        on_pool!(self, |pool, _d| {
            Ok(sqlx::query_scalar(
                "INSERT INTO attachment_events (file_key, job_id, checksum, decision, reason, details)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(&e.file_key)
            .bind(&e.job_id)
            .bind(&e.checksum)
            .bind(&e.decision)
            .bind(reason)
            .bind(Json(&details))
            .fetch_one(pool)
            .await?)
        })
    }

    /// Every event about `file_key`, oldest first.
    pub async fn events(&self, file_key: &str) -> Result<Vec<Event>, DbError> {
        on_pool!(self, |pool, _d| {
            Ok(sqlx::query_as(
                "SELECT id, at, file_key, job_id, checksum, decision, reason, details
                 FROM attachment_events WHERE file_key = $1 ORDER BY id",
            )
            .bind(file_key)
            .fetch_all(pool)
            .await?)
        })
    }
}
