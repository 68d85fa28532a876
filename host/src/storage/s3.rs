//! The S3 backend: any S3-compatible store through aws-sdk-s3.
//!
//! Requests go over an HTTPS client built explicitly on rustls with ring (the trimmed AWS
//! crates ship none, and ring is the one crypto provider in the build). The SDK retries
//! transient failures (connection errors, timeouts, 5xx, throttling) in standard mode within
//! [`MAX_ATTEMPTS`], and every request is bounded by [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`]
//! and [`OPERATION_TIMEOUT`], so a dead endpoint fails in seconds with
//! [`StorageError::Unavailable`] and the job queue, which owns longer back-off, takes over.
//! Bodies streamed after the response headers are guarded by the SDK's stalled-stream
//! protection instead (on by default: a body that moves no bytes for 5 s fails).

use super::{
    validate_folder_prefix, validate_key, validate_list_prefix, ObjectMeta, PresignRequest,
    Presigned, Storage, StorageError,
};
use aws_sdk_s3::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls;
use bytes::Bytes;
use std::fmt;
use std::time::Duration;
use tracing::{debug, warn};

const MIB: usize = 1024 * 1024;

/// Objects larger than this go up in parts. One PutObject of up to 16 MiB finishes well
/// inside [`ATTEMPT_TIMEOUT`] on any link a worker should run on, and a failed attempt
/// re-sends at most that much; above it, parts let a retry re-send one part, not the object.
pub const MULTIPART_THRESHOLD: usize = 16 * MIB;

/// Size of each part of a multipart upload: over S3's 5 MiB minimum, small enough that a
/// retried part is cheap. Grown automatically when an object would need more than 10,000
/// parts (S3's maximum).
pub const PART_SIZE: usize = 8 * MIB;

/// S3 refuses parts (other than the last) smaller than 5 MiB; smaller settings are raised.
pub const MIN_PART_SIZE: usize = 5 * MIB;

/// S3's maximum number of parts in one upload.
const MAX_PARTS: usize = 10_000;

/// S3's maximum keys per DeleteObjects request, and the page size for the listing that
/// feeds it.
const DELETE_BATCH: usize = 1000;

/// S3's maximum keys per ListObjectsV2 page.
const LIST_PAGE: usize = 1000;

/// Attempts per request, the first included. Two retries ride out a dropped connection or a
/// brief 503; anything longer is an outage the job queue's own, slower retry handles better.
pub const MAX_ATTEMPTS: u32 = 3;

/// First retry delay (jittered, doubling). Short, for the same reason as [`MAX_ATTEMPTS`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A TCP+TLS connect to a healthy endpoint takes milliseconds; one that has not connected in
/// 3 s is down or unroutable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One attempt, from sending the request to the response headers. Covers uploading a
/// [`MULTIPART_THRESHOLD`]-sized body at about 5 Mbit/s.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// All attempts of one request together, back-off included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Error codes that mean the object is not there.
const MISSING_CODES: &[&str] = &["NoSuchKey", "NotFound"];

/// Error codes that mean the credentials, permissions, clock or bucket are wrong: fixed by an
/// operator, not by the upload.
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "NoSuchBucket",
    "RequestTimeTooSkewed",
    "SignatureDoesNotMatch",
];

/// Error codes of failures that pass with time. `NoSuchUpload` is a 404, but means a
/// multipart upload vanished under us (aborted by a lifecycle rule), so redoing the put works.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "NoSuchUpload",
    "RequestLimitExceeded",
    "RequestTimeout",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "TooManyRequests",
];

/// How to reach a bucket. Built from the environment by [`super::connect`]; tests build it
/// directly so they never touch the process environment.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Endpoint URL of an S3-compatible store; `None` for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// `endpoint/bucket/key` URLs instead of `bucket.endpoint/key` (most self-hosted stores).
    pub force_path_style: bool,
    /// `(access key id, secret)`; `None` uses the standard AWS credential chain.
    pub credentials: Option<(String, String)>,
    /// See [`MULTIPART_THRESHOLD`].
    pub multipart_threshold: usize,
    /// See [`PART_SIZE`]; raised to [`MIN_PART_SIZE`] if smaller.
    pub part_size: usize,
}

impl S3Settings {
    /// Settings for `bucket` on AWS in the default region with the credential chain and the
    /// default part sizes.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Settings {
            bucket: bucket.into(),
            endpoint: None,
            region: super::DEFAULT_REGION.to_owned(),
            force_path_style: false,
            credentials: None,
            multipart_threshold: MULTIPART_THRESHOLD,
            part_size: PART_SIZE,
        }
    }
}

/// Keeps the secret out of logs.
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("force_path_style", &self.force_path_style)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(id, _)| (id, "<redacted>")),
            )
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .finish()
    }
}

/// Objects in one S3 bucket; see the module documentation.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: Client,
    bucket: String,
    multipart_threshold: usize,
    part_size: usize,
}

impl S3Storage {
    /// Builds the client. Nothing is sent until the first operation.
    pub async fn new(settings: S3Settings) -> Result<Self, StorageError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(INITIAL_BACKOFF)
            .with_max_backoff(MAX_BACKOFF);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let region = Region::new(settings.region.clone());
        let builder = match &settings.credentials {
            Some((id, secret)) => aws_sdk_s3::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(Credentials::new(id, secret, None, None, "attachd-settings")),
            None => {
                // The shared loader brings the credential chain (env, profile, web identity,
                // container, instance metadata) and uses the same client and limits.
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http.clone())
                    .region(region.clone())
                    .retry_config(retry.clone())
                    .timeout_config(timeouts.clone())
                    .load()
                    .await;
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        let mut builder = builder
            .http_client(http)
            .region(region)
            .retry_config(retry)
            .timeout_config(timeouts)
            .force_path_style(settings.force_path_style)
            .interceptor(AttemptLogger);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let part_size = settings.part_size.max(MIN_PART_SIZE);
        debug!(
            bucket = %settings.bucket,
            endpoint = settings.endpoint.as_deref().map(crate::redact::redact),
            region = %settings.region,
            part_size,
            "S3 storage configured"
        );
        Ok(S3Storage {
            client: Client::from_conf(builder.build()),
            bucket: settings.bucket,
            multipart_threshold: settings.multipart_threshold,
            part_size,
        })
    }

    async fn put_multipart(
        &self,
        key: &str,
        data: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key);
        if !content_type.is_empty() {
            create = create.content_type(content_type);
        }
        let created = create.send().await.map_err(|e| sdk_error("put", key, e))?;
        let Some(upload_id) = created.upload_id().map(str::to_owned) else {
            return Err(StorageError::Unavailable {
                op: "put",
                message: format!(
                    "`{key}`: the store started a multipart upload without an upload id"
                ),
            });
        };
        let outcome = self.upload_parts_and_complete(key, &upload_id, data).await;
        if outcome.is_err() {
            // Parts of an unfinished upload are stored (and billed) until aborted.
            if let Err(e) = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await
            {
                warn!(key, upload_id, error = %DisplayErrorContext(&e), "could not abort a failed multipart upload; its parts stay until a lifecycle rule removes them");
            }
        }
        outcome
    }

    async fn upload_parts_and_complete(
        &self,
        key: &str,
        upload_id: &str,
        data: Bytes,
    ) -> Result<(), StorageError> {
        let part_size = self.part_size.max(data.len().div_ceil(MAX_PARTS));
        let mut parts = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = data.len().min(start + part_size);
            let number = i32::try_from(parts.len() + 1).map_err(|_| StorageError::Unavailable {
                op: "put",
                message: format!("`{key}`: too many parts"),
            })?;
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(data.slice(start..end)))
                .send()
                .await
                .map_err(|e| sdk_error("put", key, e))?;
            let Some(e_tag) = uploaded.e_tag() else {
                return Err(StorageError::Unavailable {
                    op: "put",
                    message: format!("`{key}`: part {number} was stored without an ETag"),
                });
            };
            parts.push(
                CompletedPart::builder()
                    .e_tag(e_tag)
                    .part_number(number)
                    .build(),
            );
            start = end;
        }
        let count = parts.len();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("put", key, e))?;
        debug!(
            key,
            bytes = data.len(),
            parts = count,
            part_size,
            "S3 multipart put"
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl Storage for S3Storage {
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
        validate_key(key)?;
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error("get", key, e))?;
        let too_large = |size| StorageError::TooLarge {
            key: key.to_owned(),
            size,
            max: max_bytes,
        };
        let declared = response
            .content_length()
            .and_then(|len| u64::try_from(len).ok());
        if let Some(declared) = declared.filter(|&len| len > max_bytes) {
            return Err(too_large(declared));
        }
        // The declared length is a claim, not a promise: count while reading too.
        let expected = declared.unwrap_or(0).min(max_bytes);
        let mut data = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        let mut body = response.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| StorageError::Unavailable {
                op: "get",
                message: format!("`{key}`: reading the body: {}", DisplayErrorContext(&e)),
            })?
        {
            let total = u64::try_from(data.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
            if total > max_bytes {
                return Err(too_large(total));
            }
            data.extend_from_slice(&chunk);
        }
        debug!(key, bytes = data.len(), "S3 get");
        Ok(data)
    }

    async fn put(&self, key: &str, data: Bytes, content_type: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        if data.len() > self.multipart_threshold {
            return self.put_multipart(key, data, content_type).await;
        }
        let len = data.len();
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(data));
        if !content_type.is_empty() {
            request = request.content_type(content_type);
        }
        request.send().await.map_err(|e| sdk_error("put", key, e))?;
        debug!(key, bytes = len, "S3 put");
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: head
                    .content_length()
                    .and_then(|len| u64::try_from(len).ok())
                    .unwrap_or(0),
                modified: head.last_modified().and_then(to_chrono),
            })),
            Err(e) => match sdk_error("head", key, e) {
                StorageError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => {}
            // S3 itself answers 204 for a missing key; some compatible stores say NoSuchKey.
            Err(e) => match sdk_error("delete", key, e) {
                StorageError::NotFound { .. } => {}
                other => return Err(other),
            },
        }
        debug!(key, "S3 delete");
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        validate_folder_prefix(prefix)?;
        let mut deleted = 0u64;
        // Each round lists after the last key of the previous one rather than following a
        // continuation token, which some stores invalidate once the listed keys are gone.
        let mut after: Option<String> = None;
        loop {
            let batch = self.list(prefix, after.as_deref(), DELETE_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.key.clone());
            let objects = batch
                .iter()
                .map(|object| ObjectIdentifier::builder().key(&object.key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| build_error("delete-prefix", prefix, &e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| build_error("delete-prefix", prefix, &e))?;
            let response = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| sdk_error("delete-prefix", prefix, e))?;
            // A key that is already gone is deleted as far as we care.
            let failed = response
                .errors()
                .iter()
                .find(|e| !e.code().is_some_and(|c| MISSING_CODES.contains(&c)));
            if let Some(failure) = failed {
                let key = failure.key().unwrap_or(prefix);
                let message = format!(
                    "`{key}`: {}",
                    failure
                        .message()
                        .unwrap_or("DeleteObjects reported a failure")
                );
                return Err(classify(
                    "delete-prefix",
                    key,
                    None,
                    failure.code(),
                    message,
                ));
            }
            deleted += u64::try_from(batch.len()).unwrap_or(u64::MAX);
            if batch.len() < DELETE_BATCH {
                break;
            }
        }
        debug!(prefix, deleted, "S3 delete_prefix");
        Ok(deleted)
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        validate_list_prefix(prefix)?;
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        while found.len() < limit {
            let page = i32::try_from((limit - found.len()).min(LIST_PAGE)).unwrap_or(1000);
            let mut request = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .max_keys(page);
            if !prefix.is_empty() {
                request = request.prefix(prefix);
            }
            if let Some(after) = start_after {
                request = request.start_after(after);
            }
            if let Some(token) = &token {
                request = request.continuation_token(token);
            }
            let response = request
                .send()
                .await
                .map_err(|e| sdk_error("list", prefix, e))?;
            for object in response.contents() {
                if found.len() >= limit {
                    break;
                }
                let Some(key) = object.key() else { continue };
                found.push(ObjectMeta {
                    key: key.to_owned(),
                    size: object
                        .size()
                        .and_then(|size| u64::try_from(size).ok())
                        .unwrap_or(0),
                    modified: object.last_modified().and_then(to_chrono),
                });
            }
            match response.next_continuation_token() {
                // A store that hands back the same token would otherwise loop forever.
                Some(next)
                    if response.is_truncated() == Some(true) && token.as_deref() != Some(next) =>
                {
                    token = Some(next.to_owned());
                }
                _ => break,
            }
        }
        debug!(prefix, ?start_after, limit, found = found.len(), "S3 list");
        Ok(found)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        validate_key(from)?;
        validate_key(to)?;
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(copy_source(&self.bucket, from))
            // A missing object here is the source: the destination is being created.
            .send()
            .await
            .map_err(|e| sdk_error("copy", from, e))?;
        debug!(from, to, "S3 copy");
        Ok(())
    }

    async fn presign(
        &self,
        request: &PresignRequest<'_>,
        ttl: Duration,
    ) -> Result<Option<Presigned>, StorageError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| StorageError::Denied {
            op: "presign",
            message: e.to_string(),
        })?;
        let (key, signed) = match *request {
            // The length and type are signed headers: S3 refuses a body of another size or a
            // request that declares another type. `If-None-Match: *` (signed too) makes the URL
            // write once: it cannot replace the bytes after they were processed.
            PresignRequest::Put {
                key,
                size,
                content_type,
            } => {
                validate_key(key)?;
                let signed = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_length(i64::try_from(size).unwrap_or(i64::MAX))
                    .content_type(content_type)
                    .if_none_match("*")
                    .presigned(config)
                    .await;
                (key, signed.map_err(|e| sdk_error("presign", key, e)))
            }
            PresignRequest::Get { key, attachment } => {
                validate_key(key)?;
                let signed = self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .set_response_content_disposition(attachment.then(|| "attachment".to_owned()))
                    .presigned(config)
                    .await;
                (key, signed.map_err(|e| sdk_error("presign", key, e)))
            }
        };
        let signed = signed?;
        debug!(key, "S3 presigned {}", signed.method());
        Ok(Some(Presigned {
            url: without_userinfo(signed.uri()),
            method: signed.method().to_owned(),
            headers: signed
                .headers()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
                .collect(),
            expires_at: chrono::Utc::now()
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero()),
        }))
    }
}

/// `x-amz-copy-source`: `bucket/key`, URL-encoded except for `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + 1 + key.len());
    for (i, part) in [bucket, key].into_iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for byte in part.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

fn to_chrono(t: &aws_sdk_s3::primitives::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// A request we built was refused by the SDK before sending: a bug here, but not the
/// upload's fault, so retryable.
fn build_error(op: &'static str, key: &str, e: &aws_sdk_s3::error::BuildError) -> StorageError {
    StorageError::Unavailable {
        op,
        message: format!("`{key}`: could not build the request: {e}"),
    }
}

/// Maps a failed request (after the SDK's retries) to a [`StorageError`].
/// `url` without a `user:password@`. An endpoint URL may carry one (the SDK signs with the AWS
/// credentials and never sends it), and a presigned URL goes to clients.
fn without_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if let Some(at) = authority.rfind('@') {
            return format!("{scheme}://{}{tail}", &authority[at + 1..]);
        }
    }
    url.to_owned()
}

fn sdk_error<E>(op: &'static str, key: &str, err: SdkError<E>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = format!("`{key}`: {}", DisplayErrorContext(&err));
    match &err {
        SdkError::ServiceError(service) => classify(
            op,
            key,
            Some(service.raw().status().as_u16()),
            service.err().code(),
            message,
        ),
        // The store answered with something that could not be parsed; the status still says
        // whose fault it is.
        SdkError::ResponseError(response) => classify(
            op,
            key,
            Some(response.raw().status().as_u16()),
            None,
            message,
        ),
        // Connection failures, timeouts, and requests that could not be built or sent.
        _ => StorageError::Unavailable { op, message },
    }
}

fn classify(
    op: &'static str,
    key: &str,
    status: Option<u16>,
    code: Option<&str>,
    message: String,
) -> StorageError {
    match code {
        Some(code) if MISSING_CODES.contains(&code) => {
            return StorageError::NotFound {
                key: key.to_owned(),
            }
        }
        Some(code) if DENIED_CODES.contains(&code) => return StorageError::Denied { op, message },
        Some(code) if TRANSIENT_CODES.contains(&code) => {
            return StorageError::Unavailable { op, message }
        }
        Some("KeyTooLongError") => {
            return StorageError::InvalidKey {
                key: key.to_owned(),
                reason: "longer than the store allows",
            }
        }
        _ => {}
    }
    match status {
        Some(404) => StorageError::NotFound {
            key: key.to_owned(),
        },
        Some(401 | 403) => StorageError::Denied { op, message },
        Some(408 | 429) | None => StorageError::Unavailable { op, message },
        Some(status) if status >= 500 => StorageError::Unavailable { op, message },
        // Any other 4xx: the store refused a request it should accept. That is a
        // misconfigured or incompatible store, which an operator fixes, not the upload.
        Some(_) => StorageError::Denied { op, message },
    }
}

/// Warns about each failed attempt the SDK may retry, so an unhealthy store shows up in the
/// logs before its requests run out of attempts.
#[derive(Debug)]
struct AttemptLogger;

impl Intercept for AttemptLogger {
    fn name(&self) -> &'static str {
        "attachd-s3-attempt-logger"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(error)) = context.output_or_error() else {
            return Ok(());
        };
        let status = context
            .response()
            .map(|response| response.status().as_u16());
        // 404s and 403s are answers, not an unhealthy store.
        if status.is_none_or(|s| s >= 500 || s == 429 || s == 408) {
            warn!(
                ?status,
                error = %DisplayErrorContext(error),
                max_attempts = MAX_ATTEMPTS,
                "S3 attempt failed; transient failures are retried within the attempt budget"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_presigned_url_leaves_out_the_endpoints_credentials() {
        // Presigning sends nothing: no server is needed.
        let storage = S3Storage::new(S3Settings {
            bucket: "b".into(),
            endpoint: Some("http://minio:s3cret@127.0.0.1:9".into()),
            region: "us-east-1".into(),
            force_path_style: true,
            credentials: Some(("key".into(), "secret-key".into())),
            multipart_threshold: MULTIPART_THRESHOLD,
            part_size: PART_SIZE,
        })
        .await
        .unwrap();
        let put = PresignRequest::Put {
            key: "uploads/a.jpg",
            size: 3,
            content_type: "image/jpeg",
        };
        let get = PresignRequest::Get {
            key: "uploads/a.jpg",
            attachment: true,
        };
        for request in [put, get] {
            let signed = storage
                .presign(&request, Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert!(
                signed
                    .url
                    .starts_with("http://127.0.0.1:9/b/uploads/a.jpg?"),
                "{}",
                signed.url
            );
            assert!(!signed.url.contains("s3cret"), "{}", signed.url);
        }
    }

    #[test]
    fn presigned_urls_carry_no_credentials_of_the_endpoint() {
        assert_eq!(
            without_userinfo("http://minio:s3cret@127.0.0.1:9000/b/k?X-Amz-Signature=a@b"),
            "http://127.0.0.1:9000/b/k?X-Amz-Signature=a@b"
        );
        assert_eq!(
            without_userinfo("https://s3.amazonaws.com/b/k?x=1"),
            "https://s3.amazonaws.com/b/k?x=1"
        );
    }

    #[test]
    fn copy_source_encodes_everything_but_slashes_and_unreserved() {
        assert_eq!(
            copy_source("b", "a/b c/ü+x.txt"),
            "b/a/b%20c/%C3%BC%2Bx.txt"
        );
        assert_eq!(copy_source("b", "a-b_c.d~e"), "b/a-b_c.d~e");
    }

    #[test]
    fn errors_are_classified_by_code_then_status() {
        let class = |status, code| classify("get", "k", status, code, String::new());
        assert!(matches!(
            class(Some(404), Some("NoSuchKey")),
            StorageError::NotFound { .. }
        ));
        assert!(matches!(
            class(Some(404), None),
            StorageError::NotFound { .. }
        ));
        assert!(matches!(
            class(Some(404), Some("NoSuchBucket")),
            StorageError::Denied { .. }
        ));
        assert!(matches!(
            class(Some(404), Some("NoSuchUpload")),
            StorageError::Unavailable { .. }
        ));
        assert!(matches!(
            class(Some(403), Some("SignatureDoesNotMatch")),
            StorageError::Denied { .. }
        ));
        assert!(matches!(
            class(Some(403), None),
            StorageError::Denied { .. }
        ));
        assert!(matches!(
            class(Some(503), Some("SlowDown")),
            StorageError::Unavailable { .. }
        ));
        assert!(matches!(
            class(Some(500), None),
            StorageError::Unavailable { .. }
        ));
        assert!(matches!(
            class(Some(400), Some("RequestTimeout")),
            StorageError::Unavailable { .. }
        ));
        assert!(matches!(
            class(Some(400), Some("KeyTooLongError")),
            StorageError::InvalidKey { .. }
        ));
        assert!(matches!(
            class(Some(400), Some("InvalidArgument")),
            StorageError::Denied { .. }
        ));
        assert!(matches!(
            class(None, None),
            StorageError::Unavailable { .. }
        ));
    }
}
