//! How an `attachments` row maps to an [`Attachment`], written once for both databases: the
//! mapping is generic over sqlx's [`Row`], and the column list (`columns` in `dialect.rs`)
//! gives every column one Rust type in both.

use super::{Attachment, DbError, Finding, ScanFields, Status, VariantRecord};
use crate::sandbox::GuestRef;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

/// Maps a row of either database to an [`Attachment`].
pub(super) trait AttachmentRow {
    fn attachment(&self) -> Result<Attachment, DbError>;
}

/// Whether `T` can be read from a column of database `DB`, whatever the row's lifetime.
trait Column<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> {}
impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> Column<DB> for T {}

impl<R> AttachmentRow for R
where
    R: Row,
    for<'i> &'i str: ColumnIndex<R>,
    i64: Column<R::Database>,
    String: Column<R::Database>,
    DateTime<Utc>: Column<R::Database>,
    Json<Vec<VariantRecord>>: Column<R::Database>,
    Json<serde_json::Value>: Column<R::Database>,
    Json<Vec<GuestRef>>: Column<R::Database>,
{
    fn attachment(&self) -> Result<Attachment, DbError> {
        let status: String = self.try_get("status")?;
        let (scan_verdict, scan_findings) = scan_from_columns(
            self.try_get("scan_verdict")?,
            self.try_get("scan_findings")?,
        );
        Ok(Attachment {
            id: self.try_get("id")?,
            file_key: self.try_get("file_key")?,
            mime_type: self.try_get("mime_type")?,
            sniffed_mime: self.try_get("sniffed_mime")?,
            size: self.try_get("size")?,
            checksum: self.try_get("checksum")?,
            status: Status::parse(&status).ok_or_else(|| {
                DbError::schema(format!("unknown status {status:?} in attachments"))
            })?,
            variants: self.try_get::<Json<Vec<VariantRecord>>, _>("variants")?.0,
            width: self.try_get("width")?,
            height: self.try_get("height")?,
            placeholder: self.try_get("placeholder")?,
            error_code: self.try_get("error_code")?,
            error_message: self.try_get("error_message")?,
            attempts: self.try_get("attempts")?,
            scan_verdict,
            scan_findings,
            claimed_until: self.try_get("claimed_until")?,
            created_at: self.try_get("created_at")?,
            updated_at: self.try_get("updated_at")?,
            processed_at: self.try_get("processed_at")?,
            guests: self
                .try_get::<Option<Json<Vec<GuestRef>>>, _>("guests")?
                .map(|j| j.0),
        })
    }
}

/// Every row of a result, mapped.
pub(super) fn attachments<R: AttachmentRow>(rows: &[R]) -> Result<Vec<Attachment>, DbError> {
    rows.iter().map(AttachmentRow::attachment).collect()
}

/// The values bound to `scan_verdict` and `scan_findings` (NULL and NULL without a scan): the
/// one place a [`ScanFields`] is written to the database, as [`scan_from_columns`] is the one
/// place it is read back.
pub(super) fn scan_columns(
    scan: Option<&ScanFields>,
) -> (Option<&'static str>, Option<Json<&Vec<Finding>>>) {
    (
        scan.map(|s| s.verdict.as_str()),
        scan.map(|s| Json(&s.findings)),
    )
}

/// The value bound to `guests`: the one place the guest releases are written to the
/// database. `None` binds NULL, which the statements read as "keep what the row has".
pub(super) fn guests_column(guests: Option<&[GuestRef]>) -> Option<Json<&[GuestRef]>> {
    guests.map(Json)
}

/// A row's `scan_verdict` and `scan_findings`, as [`Attachment`] holds them.
fn scan_from_columns(
    verdict: Option<String>,
    findings: Option<Json<serde_json::Value>>,
) -> (Option<String>, Option<serde_json::Value>) {
    (verdict, findings.map(|j| j.0))
}
