//! The review page: quarantined uploads for security reviewers, who release or delete them
//! (the decisions themselves are in `actions.rs`, shared with the JSON routes).
//!
//! The page is plain server-rendered HTML with no script. A reviewer logs in with a token of
//! the `review` scope; the session is a cookie signed with the server's key and bound to that
//! token's hash (HttpOnly, SameSite=Strict, scoped to `/review`), and every form carries a
//! CSRF token derived from the session. Everything shown that came from an upload (its key,
//! which holds the uploader's file name, the scan's findings, error messages, audit reasons)
//! is attacker-controlled and goes through [`esc`]; the Content-Security-Policy forbids
//! scripts outright, so a missed escape still could not run one.

use super::actions::{delete, release, MAX_REASON_CHARS, REVIEW_PAGE};
use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::extract::{row_id, FormBody};
use super::{Api, MAX_JSON_BODY};
use crate::db::{Attachment, Status};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Instant;

/// A review session lasts a working day; then the reviewer logs in again.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(8);
/// The session cookie.
pub const COOKIE: &str = "attachd_review";
/// What the pages may load: their own stylesheet, nothing else; no script at all.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; \
                        frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/review", get(index))
        .route("/review/login", post(login))
        .route("/review/logout", post(logout))
        .route("/review/style.css", get(style))
        .route("/review/attachments/{id}", get(detail))
        .route("/review/attachments/{id}/release", post(release_form))
        .route("/review/attachments/{id}/delete", post(delete_form))
}

/// `s` safe inside HTML text and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `body` must already be escaped.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · attachd review</title><link rel=\"stylesheet\" href=\"/review/style.css\">\
         </head><body><header><a href=\"/review\">attachd review</a></header><main>\
         <h1>{}</h1>{body}</main></body></html>\n",
        esc(title),
        esc(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A refused page request: the error as a page, with its code.
struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let login = matches!(e, ApiError::SessionRequired)
            .then_some("<p><a href=\"/review\">Log in</a></p>")
            .unwrap_or("");
        page(
            e.status(),
            "Refused",
            &format!(
                "<p class=\"error\"><code>{}</code> {}</p>{login}",
                esc(e.code()),
                esc(&e.to_string())
            ),
        )
    }
}

struct Session {
    caller: Caller,
    cookie: String,
}

impl Session {
    fn csrf(&self, api: &Api) -> String {
        api.key.sign(&["review-csrf", &self.cookie])
    }

    fn check_csrf(&self, api: &Api, given: &str) -> Result<(), ApiError> {
        if super::auth::constant_time_eq(self.csrf(api).as_bytes(), given.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::CsrfMismatch)
        }
    }
}

fn session_cookie(api: &Api, caller: &Caller) -> String {
    let expires = (chrono::Utc::now() + SESSION_TTL).timestamp().to_string();
    let sig = api.key.sign(&[
        "review-session",
        &caller.name,
        &expires,
        &caller.token_hash(),
    ]);
    format!("{}|{expires}|{sig}", caller.name)
}

/// The session the request's cookie holds, if it is valid now, for a caller who still has
/// the review scope; one request of its rate limit taken.
fn session(api: &Api, headers: &HeaderMap) -> Result<Session, ApiError> {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .ok_or(ApiError::SessionRequired)?;
    let mut parts = cookie.split('|');
    let (Some(name), Some(expires), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiError::SessionRequired);
    };
    let tokens = api.tokens.get();
    let caller = tokens
        .by_name(name)
        .filter(|c| {
            api.key
                .verify(&["review-session", name, expires, &c.token_hash()], sig)
        })
        .ok_or(ApiError::SessionRequired)?;
    let expires: i64 = expires.parse().map_err(|_| ApiError::SessionRequired)?;
    if chrono::Utc::now().timestamp() > expires {
        return Err(ApiError::SessionRequired);
    }
    caller.require(Scope::Review)?;
    api.limiter
        .take(&caller.name, Instant::now())
        .map_err(ApiError::RateLimited)?;
    Ok(Session {
        caller: caller.clone(),
        cookie,
    })
}

fn secure(api: &Api) -> &'static str {
    if api.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("review.css"),
    )
        .into_response()
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let message = message
        .map(|m| format!("<p class=\"error\">{}</p>", esc(m)))
        .unwrap_or_default();
    page(
        status,
        "Log in",
        &format!(
            "{message}<form id=\"login\" method=\"post\" action=\"/review/login\">\
             <label>Review token <input type=\"password\" name=\"token\" autocomplete=\"off\" required></label>\
             <button type=\"submit\">Log in</button></form>"
        ),
    )
}

async fn index(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response, PageError> {
    let session = match session(&api, &headers) {
        Ok(s) => s,
        Err(ApiError::SessionRequired) => return Ok(login_page(StatusCode::OK, None)),
        Err(e) => return Err(e.into()),
    };
    let rows = api
        .db
        .quarantined(None, REVIEW_PAGE)
        .await
        .map_err(ApiError::from)?;
    let mut body = format!(
        "<p>Logged in as <strong>{}</strong>. <form class=\"inline\" method=\"post\" action=\"/review/logout\">\
         <button type=\"submit\">Log out</button></form></p>",
        esc(&session.caller.name)
    );
    if rows.is_empty() {
        body.push_str("<p id=\"empty\">No quarantined uploads.</p>");
    } else {
        body.push_str(
            "<table id=\"quarantined\"><thead><tr><th>Id</th><th>File</th><th>Why</th>\
             <th>Signature</th><th>Quarantined</th></tr></thead><tbody>",
        );
        for row in &rows {
            body.push_str(&format!(
                "<tr><td><a href=\"/review/attachments/{id}\">{id}</a></td><td class=\"key\">{key}</td>\
                 <td><code>{code}</code></td><td>{sig}</td><td>{at}</td></tr>",
                id = row.id,
                key = esc(&row.file_key),
                code = esc(row.error_code.as_deref().unwrap_or("")),
                sig = esc(&signatures(row).join(", ")),
                at = esc(&row.processed_at.map(|t| t.to_rfc3339()).unwrap_or_default()),
            ));
        }
        body.push_str("</tbody></table>");
    }
    Ok(page(StatusCode::OK, "Quarantined uploads", &body))
}

/// The antivirus signatures among a row's findings.
fn signatures(row: &Attachment) -> Vec<String> {
    match &row.scan_findings {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|f| f.get("signature").and_then(|s| s.as_str()))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(api): State<Arc<Api>>, FormBody(form): FormBody<LoginForm>) -> Response {
    let Some(form) = form else {
        return login_page(StatusCode::BAD_REQUEST, Some("Send the token in the form."));
    };
    let tokens = api.tokens.get();
    let Some(caller) = tokens.find(form.token.trim()) else {
        return login_page(StatusCode::UNAUTHORIZED, Some("That token is not valid."));
    };
    if let Err(wait) = api.limiter.take(&caller.name, Instant::now()) {
        return ApiError::RateLimited(wait).into_response();
    }
    if !caller.has(Scope::Review) {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("That token has no review scope."),
        );
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/review; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session_cookie(&api, caller),
        SESSION_TTL.num_seconds(),
        secure(&api)
    );
    tracing::info!(reviewer = %caller.name, "review session started");
    let mut response = Redirect::to("/review").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(api): State<Arc<Api>>) -> Response {
    let mut response = Redirect::to("/review").into_response();
    let cookie = format!(
        "{COOKIE}=; Path=/review; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure(&api)
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn detail(
    State(api): State<Arc<Api>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let session = session(&api, &headers)?;
    let id = row_id(&raw)?;
    let row = api
        .db
        .get_by_id(id)
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::NotFound)?;
    let events = api.db.events(&row.file_key).await.map_err(ApiError::from)?;
    let opt = |v: &Option<String>| esc(v.as_deref().unwrap_or("—"));
    let mut body = format!(
        "<dl id=\"facts\"><dt>File key</dt><dd class=\"key\">{key}</dd>\
         <dt>Status</dt><dd id=\"status\">{status}</dd>\
         <dt>Declared type</dt><dd>{mime}</dd><dt>Real type</dt><dd>{sniffed}</dd>\
         <dt>Size</dt><dd>{size} bytes</dd><dt>sha256</dt><dd><code>{checksum}</code></dd>\
         <dt>Why</dt><dd><code>{code}</code> {message}</dd></dl>",
        key = esc(&row.file_key),
        status = esc(row.status.as_str()),
        mime = esc(&row.mime_type),
        sniffed = opt(&row.sniffed_mime),
        size = row.size,
        checksum = opt(&row.checksum),
        code = opt(&row.error_code),
        message = opt(&row.error_message),
    );
    body.push_str("<h2>Scan findings</h2>");
    match &row.scan_findings {
        Some(serde_json::Value::Array(items)) if !items.is_empty() => {
            body.push_str(
                "<table id=\"findings\"><thead><tr><th>Rule</th><th>Verdict</th><th>Engine</th>\
                 <th>Signature</th><th>Detail</th></tr></thead><tbody>",
            );
            for f in items {
                let field = |name: &str| esc(f.get(name).and_then(|v| v.as_str()).unwrap_or(""));
                body.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    field("rule"),
                    field("verdict"),
                    field("engine"),
                    field("signature"),
                    field("detail")
                ));
            }
            body.push_str("</tbody></table>");
        }
        _ => body.push_str("<p>None recorded.</p>"),
    }
    body.push_str(
        "<h2>History</h2><table id=\"history\"><thead><tr><th>When</th><th>Decision</th>\
         <th>Reviewer</th><th>Reason</th></tr></thead><tbody>",
    );
    for e in events {
        let reviewer = e
            .details
            .get("reviewer")
            .and_then(|r| r.as_str())
            .unwrap_or("");
        body.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"reviewer\">{}</td><td>{}</td></tr>",
            esc(&e.at.to_rfc3339()),
            esc(&e.decision),
            esc(reviewer),
            esc(&e.reason)
        ));
    }
    body.push_str("</tbody></table>");
    if row.status == Status::Quarantined {
        let csrf = esc(&session.csrf(&api));
        for (action, label, note) in [
            (
                "release",
                "Release",
                "Processes the upload again, every check included.",
            ),
            (
                "delete",
                "Delete",
                "Removes the quarantined copy and the row for good.",
            ),
        ] {
            body.push_str(&format!(
                "<form id=\"{action}\" method=\"post\" action=\"/review/attachments/{id}/{action}\">\
                 <h2>{label}</h2><p>{note}</p><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <label>Reason <textarea name=\"reason\" required maxlength=\"{MAX_REASON_CHARS}\"></textarea></label>\
                 <button type=\"submit\">{label}</button></form>",
                id = row.id,
            ));
        }
    }
    Ok(page(StatusCode::OK, &format!("Upload {}", row.id), &body))
}

#[derive(serde::Deserialize)]
struct DecisionForm {
    reason: String,
    csrf: String,
}

async fn decide(
    api: &Api,
    raw: &str,
    headers: &HeaderMap,
    form: Option<DecisionForm>,
) -> Result<(Session, i64, DecisionForm), PageError> {
    let session = session(api, headers)?;
    let Some(form) = form else {
        return Err(
            ApiError::InvalidRequest("the form needs a reason and its CSRF token".into()).into(),
        );
    };
    session.check_csrf(api, &form.csrf)?;
    Ok((session, row_id(raw)?, form))
}

async fn release_form(
    State(api): State<Arc<Api>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<DecisionForm>,
) -> Result<Response, PageError> {
    let (session, id, form) = decide(&api, &raw, &headers, form).await?;
    release(&api, id, &session.caller.name, &form.reason).await?;
    Ok(Redirect::to("/review").into_response())
}

async fn delete_form(
    State(api): State<Arc<Api>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<DecisionForm>,
) -> Result<Response, PageError> {
    let (session, id, form) = decide(&api, &raw, &headers, form).await?;
    delete(&api, id, &session.caller.name, &form.reason).await?;
    Ok(Redirect::to("/review").into_response())
}

// The form bodies share the JSON cap (set on the router).
const _: () = assert!(MAX_JSON_BODY >= 4 * MAX_REASON_CHARS + 1024);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup_and_no_attribute_breakout() {
        let hostile = r#"<img src=x onerror="alert(1)">'&</script>"#;
        let out = esc(hostile);
        assert!(
            !out.contains('<') && !out.contains('>') && !out.contains('"') && !out.contains('\'')
        );
        assert_eq!(esc("a&amp;"), "a&amp;amp;");
        assert_eq!(esc("plain é"), "plain é");
    }
}
