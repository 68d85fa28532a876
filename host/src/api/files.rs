//! Upload and download URLs. On S3 they are the store's presigned requests; on the local
//! store attachd signs its own (`/files/{key}?expires=…&sig=…`, HMAC-SHA256 over the method,
//! the key, the expiry and, for an upload, the size and type) and serves them here with the
//! same limits S3 enforces on its own: the signed size exactly, the signed type, and once
//! (an upload URL never overwrites an object; see [`upload`]).

use super::error::ApiError;
use super::views::Link;
use super::Api;
use crate::db::Status;
use crate::storage::{Incoming, PresignRequest, VARIANTS_ROOT};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What a key's segments keep unescaped in a URL path: the unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Where the client puts an upload of exactly `size` bytes of `content_type` at `key`.
pub async fn upload_link(
    api: &Api,
    key: &str,
    size: u64,
    content_type: &str,
) -> Result<Link, ApiError> {
    let request = PresignRequest::Put {
        key,
        size,
        content_type,
    };
    if let Some(signed) = api.storage.presign(&request, api.url_ttl).await? {
        return Ok(link(signed));
    }
    let expires = expiry(api);
    let size_text = size.to_string();
    let stamp = expires.timestamp().to_string();
    let sig = api
        .key
        .sign(&["PUT", key, &stamp, &size_text, content_type]);
    Ok(Link {
        url: format!(
            "{}/files/{}?expires={stamp}&size={size_text}&sig={sig}",
            api.public_url,
            encode_key(key)
        ),
        method: "PUT".into(),
        headers: BTreeMap::from([("content-type".to_owned(), content_type.to_owned())]),
        expires_at: expires,
    })
}

/// A download of `key`; `original` marks an upload's own bytes, which browsers are told to
/// save rather than render (they are whatever the uploader sent).
pub async fn download_link(api: &Api, key: &str, original: bool) -> Result<Link, ApiError> {
    let request = PresignRequest::Get {
        key,
        attachment: original,
    };
    if let Some(signed) = api.storage.presign(&request, api.url_ttl).await? {
        return Ok(link(signed));
    }
    let expires = expiry(api);
    let stamp = expires.timestamp().to_string();
    let sig = api.key.sign(&["GET", key, &stamp]);
    Ok(Link {
        url: format!(
            "{}/files/{}?expires={stamp}&sig={sig}",
            api.public_url,
            encode_key(key)
        ),
        method: "GET".into(),
        headers: BTreeMap::new(),
        expires_at: expires,
    })
}

fn link(signed: crate::storage::Presigned) -> Link {
    Link {
        url: signed.url,
        method: signed.method,
        headers: signed.headers.into_iter().collect(),
        expires_at: signed.expires_at,
    }
}

fn expiry(api: &Api) -> DateTime<Utc> {
    // Whole seconds: the URL carries a Unix time.
    let ttl = chrono::Duration::seconds(i64::try_from(api.url_ttl.as_secs()).unwrap_or(i64::MAX));
    Utc::now() + ttl
}

fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| utf8_percent_encode(segment, PATH_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The `expires` and `sig` every local URL carries, checked: the signature over `parts`
/// (which end with the expiry) first, then the time.
fn check(api: &Api, query: &HashMap<String, String>, parts: &[&str]) -> Result<(), ApiError> {
    let (Some(expires), Some(sig)) = (query.get("expires"), query.get("sig")) else {
        return Err(ApiError::InvalidSignature);
    };
    let mut signed: Vec<&str> = parts.to_vec();
    signed.insert(2, expires);
    if !api.key.verify(&signed, sig) {
        return Err(ApiError::InvalidSignature);
    }
    let expires: i64 = expires.parse().map_err(|_| ApiError::InvalidSignature)?;
    if Utc::now().timestamp() > expires {
        return Err(ApiError::UrlExpired);
    }
    Ok(())
}

/// `PUT /files/{key}`: the local store's upload URL. The body must be exactly the signed size
/// with the signed `Content-Type`, for an upload still waiting for its bytes (signed, not
/// completed), one at a time per key; it streams to disk and is created only if no object is
/// there (see [`crate::storage::LocalStorage::put_new`]): the URL writes once, and cannot
/// swap the bytes behind a verdict.
pub async fn upload(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(key) = path.map_err(|_| ApiError::NotFound)?;
    let size_text = query.get("size").ok_or(ApiError::InvalidSignature)?.clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    check(&api, &query, &["PUT", &key, &size_text, &content_type])?;
    // Only the local store's URLs are signed here; with S3 the store takes the uploads.
    let local = api.local.clone().ok_or(ApiError::NotFound)?;
    let size: u64 = size_text.parse().map_err(|_| ApiError::InvalidSignature)?;
    if let Some(declared) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if declared != size {
            return Err(ApiError::SizeMismatch {
                declared: size,
                actual: declared,
            });
        }
    }
    waiting_for_bytes(&api, &key).await?;
    let _slot = api
        .uploading
        .claim(&key)
        .ok_or(ApiError::UploadInProgress)?;
    if api.storage.head(&key).await?.is_some() {
        return Err(ApiError::AlreadyUploaded);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(UPLOAD_CHUNKS_IN_FLIGHT);
    let writer = {
        let key = key.clone();
        tokio::spawn(async move { local.put_new(&key, rx).await })
    };
    let mut body = body.into_data_stream();
    let mut received: u64 = 0;
    let refused = loop {
        match body.next().await {
            Some(Ok(chunk)) => {
                received = received.saturating_add(chunk.len() as u64);
                if received > size {
                    break Some(ApiError::UploadTooLarge {
                        size: received,
                        max: size,
                        mime: content_type.clone(),
                    });
                }
                if tx.send(Incoming::Chunk(chunk)).await.is_err() {
                    break None; // the writer failed: its error is the answer
                }
            }
            // The client went away or the body broke: nothing is written.
            Some(Err(_)) => {
                break Some(ApiError::InvalidRequest(
                    "the upload's body ended early".into(),
                ))
            }
            None if received != size => {
                break Some(ApiError::SizeMismatch {
                    declared: size,
                    actual: received,
                })
            }
            None => {
                // Once more before the bytes land: still waiting for them.
                if let Err(e) = waiting_for_bytes(&api, &key).await {
                    break Some(e);
                }
                let _ = tx.send(Incoming::Done).await;
                break None;
            }
        }
    };
    drop(tx);
    let written = writer.await.map_err(|e| {
        ApiError::Storage(crate::storage::StorageError::Unavailable {
            op: "put-new",
            message: e.to_string(),
        })
    })?;
    if let Some(e) = refused {
        return Err(e);
    }
    match written? {
        true => Ok(StatusCode::OK.into_response()),
        false => Err(ApiError::AlreadyUploaded),
    }
}

/// Chunks of an upload between the request and the disk: bounds what one upload holds in
/// memory to a few of hyper's reads (each at most a few hundred KiB).
const UPLOAD_CHUNKS_IN_FLIGHT: usize = 4;

/// The upload at `key` still waits for its bytes: its row exists, says `uploaded` and has no
/// checksum (complete has not run). A completed, processed or quarantined upload takes no
/// bytes through its URL any more.
async fn waiting_for_bytes(api: &Api, key: &str) -> Result<(), ApiError> {
    let row = api.db.get(key).await?.ok_or(ApiError::UploadNotSigned)?;
    if row.status != Status::Uploaded || row.checksum.is_some() {
        return Err(ApiError::AlreadyCompleted(row.status.as_str().into()));
    }
    Ok(())
}

/// The keys being uploaded through this server now: one upload per key at a time, so that
/// concurrent requests on one URL cannot each hold a body.
#[derive(Debug, Default)]
pub struct Uploading(std::sync::Mutex<std::collections::HashSet<String>>);

/// A key's place in [`Uploading`], given back when dropped.
pub struct Slot<'a> {
    set: &'a Uploading,
    key: String,
}

impl Uploading {
    pub fn claim(&self, key: &str) -> Option<Slot<'_>> {
        let mut keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.insert(key.to_owned()).then(|| Slot {
            set: self,
            key: key.to_owned(),
        })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// `GET /files/{key}`: the local store's download URL, streamed from the file.
pub async fn download(
    State(api): State<Arc<Api>>,
    path: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Path(key) = path.map_err(|_| ApiError::NotFound)?;
    check(&api, &query, &["GET", &key])?;
    let local = api.local.as_ref().ok_or(ApiError::NotFound)?;
    let (file, len) = local.open_read(&key).await?.ok_or(ApiError::NotFound)?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let variant = key.starts_with(VARIANTS_ROOT);
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type_of(&key, variant)),
            // Nothing served here runs as a page of this origin.
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    if !variant {
        headers.insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_static("attachment"),
        );
    }
    Ok(response)
}

/// A variant's type from the extension attachd gave it; an original is opaque bytes.
fn content_type_of(key: &str, variant: bool) -> &'static str {
    if !variant {
        return "application/octet-stream";
    }
    match key.rsplit('.').next() {
        Some("webp") => "image/webp",
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped_segment_by_segment() {
        assert_eq!(
            encode_key("uploads/a b/<x>.jpg"),
            "uploads/a%20b/%3Cx%3E.jpg"
        );
        assert_eq!(encode_key("uploads/%2F/é"), "uploads/%252F/%C3%A9");
    }

    #[test]
    fn only_variants_get_an_image_type() {
        assert_eq!(
            content_type_of("variants/u/a.jpg/thumb.webp", true),
            "image/webp"
        );
        assert_eq!(
            content_type_of("uploads/a.html", false),
            "application/octet-stream"
        );
        assert_eq!(
            content_type_of("variants/u/x.svg", true),
            "application/octet-stream"
        );
    }
}
