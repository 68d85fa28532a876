//! The JSON API's handlers.

use super::actions::{self, enqueue, REVIEW_PAGE};
use super::error::{ApiError, ErrorBody};
use super::extract::{Authed, JsonBody, RowId};
use super::files::{download_link, upload_link};
use super::views::{
    AttachmentView, CompleteRequest, DeletedView, EventView, QuarantinedPage, ReviewRequest,
    SignRequest, SignResponse, VariantView,
};
use super::{auth::Scope, Api};
use crate::db::{Attachment, NewAttachment, Status};
use crate::job::{key_digest, ProcessPayload};
use crate::storage;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;

/// Longest file name `sign` takes (bytes): the usual filesystem limit.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Create an upload: its row and where to put its bytes.
#[utoipa::path(
    post, path = "/api/attachments/sign", tag = "uploads",
    request_body = SignRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The row exists; upload to `upload`", body = SignResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the upload scope", body = ErrorBody),
        (status = 413, description = "Larger than the type's limit", body = ErrorBody),
        (status = 415, description = "A type attachd does not process", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "A service behind the API is down", body = ErrorBody),
    )
)]
pub async fn sign(
    State(api): State<Arc<Api>>,
    Authed(caller): Authed,
    JsonBody(request): JsonBody<SignRequest>,
) -> Result<(StatusCode, Json<SignResponse>), ApiError> {
    caller.require(Scope::Upload)?;
    let mime = request.mime_type.as_str();
    let max = check_type(&api, mime)?;
    let name = &request.file_name;
    if name.is_empty() || name.len() > MAX_FILE_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(format!(
            "fileName must be 1 to {MAX_FILE_NAME_BYTES} bytes without control characters"
        )));
    }
    check_size(request.size, max, mime)?;
    let key = storage::new_upload_key(&api.upload_prefix, name);
    storage::validate_key(&key)?;
    let row = api
        .db
        .upsert_uploaded(&NewAttachment {
            file_key: key.clone(),
            mime_type: mime.to_owned(),
            size: i64::try_from(request.size).unwrap_or(i64::MAX),
            checksum: None,
        })
        .await?;
    let upload = upload_link(&api, &key, request.size, mime).await?;
    tracing::info!(caller = %caller.name, id = row.id, file_key = %key, "upload signed");
    Ok((
        StatusCode::CREATED,
        Json(SignResponse {
            id: row.id,
            file_key: key,
            upload,
        }),
    ))
}

/// The upload is in the store: check it and queue its processing.
#[utoipa::path(
    post, path = "/api/attachments/complete", tag = "uploads",
    request_body = CompleteRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued for processing", body = AttachmentView),
        (status = 400, description = "Malformed request, or a key outside the upload prefix", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the upload scope", body = ErrorBody),
        (status = 404, description = "No signed upload has this key", body = ErrorBody),
        (status = 409, description = "Missing object, another size or checksum, or completed already", body = ErrorBody),
        (status = 413, description = "Larger than the type's limit", body = ErrorBody),
        (status = 415, description = "A type attachd does not process", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "A service behind the API is down", body = ErrorBody),
    )
)]
pub async fn complete(
    State(api): State<Arc<Api>>,
    Authed(caller): Authed,
    JsonBody(request): JsonBody<CompleteRequest>,
) -> Result<(StatusCode, Json<AttachmentView>), ApiError> {
    caller.require(Scope::Upload)?;
    let key = request.file_key.as_str();
    storage::validate_key(key)?;
    if !key.starts_with(&api.upload_prefix) {
        return Err(ApiError::InvalidFileKey(format!(
            "the key is not under the upload prefix {:?}",
            api.upload_prefix
        )));
    }
    let max = check_type(&api, &request.mime_type)?;
    check_size(request.size, max, &request.mime_type)?;
    let checksum = request.checksum.to_ascii_lowercase();
    if checksum.len() != 64 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::InvalidRequest(
            "checksum must be the sha256 of the bytes: 64 hex digits".into(),
        ));
    }
    let row = api.db.get(key).await?.ok_or(ApiError::UploadNotSigned)?;
    if row.mime_type != request.mime_type || u64::try_from(row.size).ok() != Some(request.size) {
        return Err(ApiError::UploadMismatch(format!(
            "signed as {} bytes of {}, completed as {} bytes of {}",
            row.size, row.mime_type, request.size, request.mime_type
        )));
    }
    if let Some(recorded) = &row.checksum {
        return Err(if *recorded == checksum {
            ApiError::AlreadyCompleted(row.status.as_str().into())
        } else {
            ApiError::UploadMismatch("completed before with another checksum".into())
        });
    }
    if row.status != Status::Uploaded {
        return Err(ApiError::AlreadyCompleted(row.status.as_str().into()));
    }
    let stored = api
        .storage
        .head(key)
        .await?
        .ok_or(ApiError::UploadMissing)?;
    if stored.size != request.size {
        return Err(ApiError::SizeMismatch {
            declared: request.size,
            actual: stored.size,
        });
    }
    let payload = ProcessPayload {
        file_key: key.to_owned(),
        mime_type: request.mime_type.clone(),
        size: request.size,
        variants: request.variants.clone().unwrap_or_default(),
        checksum: Some(checksum.clone()),
        reprocess_guest_digest: None,
    };
    // The worker's own checks of a payload (variant specs, derived keys): refused here, not
    // after the job was queued.
    crate::job::check_payload(
        &payload,
        &crate::variant::defaults(),
        &api.quarantine_prefix,
    )
    .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    // Queued before the checksum is recorded: a complete that fails in between is answered
    // 503 and, tried again, finds no checksum and queues again, under the same job id, which
    // BullMQ keeps once.
    let job_id = enqueue(&api, &payload, &format!("complete-{}", key_digest(key))).await?;
    let row = api
        .db
        .record_checksum(key, &checksum)
        .await?
        .ok_or(ApiError::UploadNotSigned)?;
    if row.checksum.as_deref() != Some(checksum.as_str()) {
        return Err(ApiError::UploadMismatch(
            "completed at the same time with another checksum".into(),
        ));
    }
    tracing::info!(caller = %caller.name, id = row.id, file_key = %key, job_id = %job_id, "upload completed");
    Ok((StatusCode::ACCEPTED, Json(AttachmentView::of(&row))))
}

/// An attachment's status, with download URLs when it is ready.
#[utoipa::path(
    get, path = "/api/attachments/{id}", tag = "uploads",
    params(("id" = i64, Path, description = "The id `sign` returned")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The attachment", body = AttachmentView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such attachment", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "A service behind the API is down", body = ErrorBody),
    )
)]
pub async fn show(
    State(api): State<Arc<Api>>,
    Authed(_caller): Authed,
    RowId(id): RowId,
) -> Result<Json<AttachmentView>, ApiError> {
    // Either scope reads: the app shows its uploads, a reviewer looks one up.
    let row = api.db.get_by_id(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(view_with_links(&api, &row).await?))
}

/// The row as clients see it; a ready row's variants and original get download URLs. No
/// other status gets any: a failed or quarantined original is never handed out.
pub async fn view_with_links(api: &Api, row: &Attachment) -> Result<AttachmentView, ApiError> {
    let mut view = AttachmentView::of(row);
    if row.status == Status::Ready {
        for variant in &row.variants {
            let link = download_link(api, &variant.key, false).await?;
            view.variants.push(VariantView {
                name: variant.name.clone(),
                format: variant.format.clone(),
                width: variant.width,
                height: variant.height,
                bytes: variant.bytes,
                url: link.url,
                expires_at: link.expires_at,
            });
        }
        view.original = Some(download_link(api, &row.file_key, true).await?);
    }
    Ok(view)
}

/// An attachment's audit history, oldest first.
#[utoipa::path(
    get, path = "/api/attachments/{id}/events", tag = "review",
    params(("id" = i64, Path, description = "The attachment's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its audit events", body = Vec<EventView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the review scope", body = ErrorBody),
        (status = 404, description = "No such attachment", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "A service behind the API is down", body = ErrorBody),
    )
)]
pub async fn events(
    State(api): State<Arc<Api>>,
    Authed(caller): Authed,
    RowId(id): RowId,
) -> Result<Json<Vec<EventView>>, ApiError> {
    caller.require(Scope::Review)?;
    let row = api.db.get_by_id(id).await?.ok_or(ApiError::NotFound)?;
    let events = api.db.events(&row.file_key).await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

/// Release a quarantined upload: processed again, every check included.
#[utoipa::path(
    post, path = "/api/attachments/{id}/release", tag = "review",
    params(("id" = i64, Path, description = "The attachment's id")),
    request_body = ReviewRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Released and queued", body = AttachmentView),
        (status = 400, description = "No reason given", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the review scope", body = ErrorBody),
        (status = 404, description = "No such attachment", body = ErrorBody),
        (status = 409, description = "Not quarantined", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "A service behind the API is down", body = ErrorBody),
    )
)]
pub async fn release(
    State(api): State<Arc<Api>>,
    Authed(caller): Authed,
    RowId(id): RowId,
    JsonBody(request): JsonBody<ReviewRequest>,
) -> Result<(StatusCode, Json<AttachmentView>), ApiError> {
    caller.require(Scope::Review)?;
    let row = actions::release(&api, id, &caller.name, &request.reason).await?;
    Ok((StatusCode::ACCEPTED, Json(AttachmentView::of(&row))))
}

/// Delete a quarantined upload: its quarantined copy, any leftovers and its row.
#[utoipa::path(
    post, path = "/api/attachments/{id}/delete", tag = "review",
    params(("id" = i64, Path, description = "The attachment's id")),
    request_body = ReviewRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = DeletedView),
        (status = 400, description = "No reason given", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the review scope", body = ErrorBody),
        (status = 404, description = "No such attachment", body = ErrorBody),
        (status = 409, description = "Not quarantined", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "A service behind the API is down", body = ErrorBody),
    )
)]
pub async fn delete(
    State(api): State<Arc<Api>>,
    Authed(caller): Authed,
    RowId(id): RowId,
    JsonBody(request): JsonBody<ReviewRequest>,
) -> Result<Json<DeletedView>, ApiError> {
    caller.require(Scope::Review)?;
    let row = actions::delete(&api, id, &caller.name, &request.reason).await?;
    Ok(Json(DeletedView {
        id: row.id,
        file_key: row.file_key,
        deleted: true,
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// The `next` of the previous page.
    #[param(minimum = 1)]
    pub before: Option<i64>,
}

/// The review queue: quarantined uploads, most recent first.
#[utoipa::path(
    get, path = "/api/review/quarantined", tag = "review",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = QuarantinedPage),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the review scope", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "A service behind the API is down", body = ErrorBody),
    )
)]
pub async fn quarantined(
    State(api): State<Arc<Api>>,
    Authed(caller): Authed,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<QuarantinedPage>, ApiError> {
    caller.require(Scope::Review)?;
    let Query(query) = query.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let rows = api.db.quarantined(query.before, REVIEW_PAGE).await?;
    let next = (rows.len() as i64 == REVIEW_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(QuarantinedPage {
        items: rows.iter().map(AttachmentView::of).collect(),
        next,
    }))
}

/// The type's size limit, or 415 for a type `sign` does not take.
fn check_type(api: &Api, mime: &str) -> Result<u64, ApiError> {
    api.max_bytes(mime).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "{mime:?} is not a type attachd processes here; send one of {}",
            api.accepted_types().join(", ")
        ))
    })
}

fn check_size(size: u64, max: u64, mime: &str) -> Result<(), ApiError> {
    if size == 0 {
        return Err(ApiError::InvalidRequest("size must be at least 1".into()));
    }
    if size > max {
        return Err(ApiError::UploadTooLarge {
            size,
            max,
            mime: mime.to_owned(),
        });
    }
    Ok(())
}
