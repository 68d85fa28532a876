//! The extractors every handler uses: the caller behind a bearer token (after its rate
//! limit), bodies read within a deadline and refused with an API error code, and a path's row
//! id.

use super::auth::Caller;
use super::error::ApiError;
use super::{Api, MAX_JSON_BODY};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The caller a bearer token names, after its rate limit.
pub struct Authed(pub Caller);

impl FromRequestParts<Arc<Api>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(ApiError::Unauthenticated)?;
        let caller = api
            .tokens
            .get()
            .find(token)
            .ok_or(ApiError::InvalidToken)?
            .clone();
        api.limiter
            .take(&caller.name, Instant::now())
            .map_err(ApiError::RateLimited)?;
        Ok(Authed(caller))
    }
}

/// A JSON or form body must arrive within this: a few hundred bytes take milliseconds, and a
/// client trickling one (a connection held open for nothing) is cut off long before the
/// request's own deadline.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON body whose every refusal (not JSON, wrong shape, too large, wrong content type) is
/// an [`ApiError`] with its code, not axum's plain-text rejection.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection;
        let read = axum::Json::<T>::from_request(request, state);
        let Ok(read) = tokio::time::timeout(BODY_READ_TIMEOUT, read).await else {
            return Err(ApiError::Timeout(BODY_READ_TIMEOUT));
        };
        match read {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType(
                "the body must be JSON: send Content-Type: application/json".into(),
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::BodyTooLarge(MAX_JSON_BODY))
            }
            Err(e) => Err(ApiError::InvalidRequest(e.body_text())),
        }
    }
}

/// A form body (the review page's), read within [`BODY_READ_TIMEOUT`]; `None` when it does
/// not parse, for the page to say so.
pub struct FormBody<T>(pub Option<T>);

impl<T, S> FromRequest<S> for FormBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let read = axum::extract::Form::<T>::from_request(request, state);
        match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
            Err(_) => Err(ApiError::Timeout(BODY_READ_TIMEOUT)),
            Ok(Ok(axum::extract::Form(value))) => Ok(FormBody(Some(value))),
            Ok(Err(_)) => Ok(FormBody(None)),
        }
    }
}

/// A path's `{id}`: a positive row id, or 404 (an id that cannot exist is not there).
pub struct RowId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for RowId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        row_id(&raw).map(RowId)
    }
}

/// A row id as a path gives it: digits only, above 0; anything else names no row (404).
pub fn row_id(raw: &str) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(ApiError::NotFound),
    }
}
