//! Object storage: where uploads are read from and variants are written to.
//!
//! This module owns the [`Storage`] trait the job handler talks to, its two backends
//! ([`LocalStorage`], a folder on disk reached only through a cap-std capability, and
//! [`S3Storage`], any S3-compatible store), the key rules both enforce ([`validate_key`]), the
//! layout of derived objects ([`variant_key`], [`variants_prefix`]) and how a backend is chosen
//! from the environment ([`StorageConfig::from_env`], [`connect`]).
//!
//! | Variable                     | Meaning                                    | Default                     |
//! |------------------------------|--------------------------------------------|-----------------------------|
//! | `ATTACH_STORAGE`             | `local` or `s3`                            | `s3` if a bucket is set     |
//! | `ATTACH_DATA_DIR`            | local: objects in `$ATTACH_DATA_DIR/objects` | `./data`                  |
//! | `ATTACH_S3_BUCKET`           | s3: the bucket                             | required for `s3`           |
//! | `ATTACH_S3_ENDPOINT`         | s3: URL of an S3-compatible store          | AWS                         |
//! | `ATTACH_S3_REGION`           | s3: signing region                         | `us-east-1`                 |
//! | `ATTACH_S3_FORCE_PATH_STYLE` | s3: `1`/`true` for `endpoint/bucket/key`   | true when an endpoint is set |
//!
//! S3 credentials come from the standard AWS chain (`AWS_ACCESS_KEY_ID`, profiles, web
//! identity, container and instance metadata), never from `ATTACH_*` variables.
//!
//! Errors carry a stable code and a class (see [`crate::error`]): a missing object, an object
//! over the caller's limit and a malformed key are the job's fault and are `Permanent`; an
//! unreachable or refusing store is the environment's fault and is `Retryable`.
//!
//! On disk the local backend marks object file names (see [`LocalStorage`]) so that, as on
//! S3, an object `k` and objects under `k/` can both exist.

mod local;
mod s3;

pub use local::{Incoming, LocalStorage};
pub use s3::{
    S3Settings, S3Storage, ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, MAX_ATTEMPTS, MIN_PART_SIZE,
    MULTIPART_THRESHOLD, OPERATION_TIMEOUT, PART_SIZE,
};

use crate::error::{Class, Code, ErrorCode};
use std::path::PathBuf;
use std::sync::Arc;

/// S3's own limit on a key's length (bytes of UTF-8); the local backend uses it too so a key
/// that works on one backend works on the other.
pub const MAX_KEY_LEN: usize = 1024;

/// Region used when `ATTACH_S3_REGION` is unset: AWS's default region, and the one most
/// S3-compatible stores expect in signatures unless configured otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Data directory used when `ATTACH_DATA_DIR` is unset: the one the CLI and the database use.
pub use crate::config::DEFAULT_DATA_DIR;

/// The object store, as the job handler sees it. Keys are `/`-separated and must pass
/// [`validate_key`]; every method checks them before touching the store.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Reads a whole object, streaming it and refusing more than `max_bytes` (checked on the
    /// declared length first, then while reading, so an unbounded object is never buffered).
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError>;
    /// Writes an object (overwrites). Large objects (> [`MULTIPART_THRESHOLD`]) go up in parts
    /// on S3. The local backend ignores `content_type`.
    async fn put(
        &self,
        key: &str,
        data: bytes::Bytes,
        content_type: &str,
    ) -> Result<(), StorageError>;
    /// Size and last-modified of an object, `None` if absent.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError>;
    /// Deletes an object; deleting a missing object is `Ok` (idempotent).
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Deletes every object under `prefix` and returns how many. The prefix must name a folder
    /// (end with `/`, e.g. [`variants_prefix`]): `"abc"` would also match `"abcdef"`, and an
    /// empty prefix would empty the whole store.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError>;
    /// Lists objects whose key starts with `prefix` (may be empty) in key order (bytewise),
    /// starting after `start_after`, at most `limit`.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StorageError>;
    /// Copies an object within the store (used to move infected files to quarantine).
    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError>;
    /// A request the store itself accepts from anyone holding it until `ttl` has passed
    /// (S3's presigned URLs), so a client uploads and downloads without passing through
    /// attachd. `None`: the store has no such requests (the local store), and `attachd serve`
    /// signs URLs of its own.
    async fn presign(
        &self,
        _request: &PresignRequest<'_>,
        _ttl: std::time::Duration,
    ) -> Result<Option<Presigned>, StorageError> {
        Ok(None)
    }
}

/// What [`Storage::presign`] signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresignRequest<'a> {
    /// An upload of exactly `size` bytes declared as `content_type`.
    Put {
        key: &'a str,
        size: u64,
        content_type: &'a str,
    },
    /// A download; `attachment`: the browser is told to save it, not render it.
    Get { key: &'a str, attachment: bool },
}

/// A signed request: the URL, the method, and the headers the client must send as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub method: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What [`Storage::head`] and [`Storage::list`] report about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// `None` when the store did not say.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object `{key}` does not exist")]
    NotFound { key: String },
    /// `size` is the declared length, or for a store that under-declared, the bytes seen when
    /// reading stopped (so at least `max + 1`).
    #[error("object `{key}` is {size} bytes, more than the {max} allowed")]
    TooLarge { key: String, size: u64, max: u64 },
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("storage unavailable during {op}: {message}")]
    Unavailable { op: &'static str, message: String },
    #[error("storage refused {op}: {message}")]
    Denied { op: &'static str, message: String },
}

impl ErrorCode for StorageError {
    fn error_code(&self) -> Code {
        match self {
            StorageError::NotFound { .. } => Code::ObjectNotFound,
            StorageError::TooLarge { .. } => Code::InputTooLarge,
            StorageError::InvalidKey { .. } => Code::InvalidKey,
            StorageError::Unavailable { .. } => Code::StorageUnavailable,
            StorageError::Denied { .. } => Code::StorageDenied,
        }
    }

    fn class(&self) -> Class {
        match self {
            // The job names an object that is not there, is too big, or cannot be named: the
            // same job fails the same way every time.
            StorageError::NotFound { .. }
            | StorageError::TooLarge { .. }
            | StorageError::InvalidKey { .. } => Class::Permanent,
            // Network, 5xx, throttling and timeouts pass once the store recovers.
            StorageError::Unavailable { .. } => Class::Retryable,
            // Bad credentials, a missing permission or bucket, or a symlink planted in the local
            // store are configuration problems, not the upload's: once an operator fixes them
            // the job succeeds, so the job is kept rather than burnt.
            StorageError::Denied { .. } => Class::Retryable,
        }
    }
}

/// Every variant lives under this prefix, in a tree that mirrors the uploads' keys.
///
/// Why not `<fileKey>/variants/…` beside the upload: then `fileKey` would be both an object
/// and a folder, which S3 allows but MinIO and s3s-fs (which map keys to paths) refuse. A
/// separate tree also lets operators give variants their own lifecycle rules or CDN origin.
pub const VARIANTS_ROOT: &str = "variants/";

/// Where a derived object of `file_key` lives: `variants/<fileKey>/<name>.<ext>`. The same
/// inputs always give the same key, so a retried job overwrites rather than duplicates.
pub fn variant_key(file_key: &str, name: &str, ext: &str) -> String {
    format!("{}{name}.{ext}", variants_prefix(file_key))
}

/// The folder holding every variant of `file_key`: `variants/<fileKey>/`.
pub fn variants_prefix(file_key: &str) -> String {
    format!("{VARIANTS_ROOT}{file_key}/")
}

/// The upload a variant key belongs to, or `None` if `key` is not a variant's key.
pub fn variant_owner(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(VARIANTS_ROOT)?;
    rest.rfind('/').map(|i| &rest[..i])
}

/// Longest file name kept in a new upload's key: enough for any real name, short enough that
/// the key stays far under [`MAX_KEY_LEN`] whatever the prefix.
pub const MAX_KEY_FILE_NAME: usize = 100;

/// A new upload's key: `<prefix><uuid>/<name>`, the file name reduced to ASCII letters,
/// digits, `-`, `_` and `.` (anything else becomes `_`), without leading dots, at most
/// [`MAX_KEY_FILE_NAME`] characters; `upload` when nothing is left. The uuid makes it unique;
/// the name only helps people reading the store.
pub fn new_upload_key(prefix: &str, file_name: &str) -> String {
    let name: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    let name: String = name.chars().take(MAX_KEY_FILE_NAME).collect();
    let name = if name.is_empty() { "upload" } else { &name };
    format!("{prefix}{}/{name}", uuid::Uuid::new_v4())
}

/// The key rules both backends enforce. They exclude everything a filesystem would read as
/// something other than a plain relative path (so the local backend can map keys to paths
/// one-to-one) and anything S3 would silently normalise or reject.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return refuse("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return refuse("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return refuse("starts with `/`");
    }
    if key.contains('\\') {
        return refuse("contains a backslash");
    }
    if key.chars().any(char::is_control) {
        return refuse("contains a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return refuse("has an empty segment (`//` or a trailing `/`)"),
            "." => return refuse("has a `.` segment"),
            ".." => return refuse("has a `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

/// A listing prefix: empty, or a key, or a key followed by `/`.
fn validate_list_prefix(prefix: &str) -> Result<(), StorageError> {
    if prefix.is_empty() {
        return Ok(());
    }
    validate_folder_prefix(prefix).or_else(|_| validate_key(prefix))
}

/// A folder prefix for [`Storage::delete_prefix`]: a valid key followed by `/`.
fn validate_folder_prefix(prefix: &str) -> Result<(), StorageError> {
    match prefix.strip_suffix('/') {
        Some(folder) => validate_key(folder).map_err(|e| match e {
            StorageError::InvalidKey { reason, .. } => StorageError::InvalidKey {
                key: prefix.to_owned(),
                reason,
            },
            other => other,
        }),
        None => Err(StorageError::InvalidKey {
            key: prefix.to_owned(),
            reason: "a folder prefix must end with `/`",
        }),
    }
}

/// Which backend to use and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    pub backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Objects are files under `root`.
    Local { root: PathBuf },
    /// Objects are in an S3 bucket; credentials come from the AWS chain.
    S3 {
        bucket: String,
        endpoint: Option<String>,
        region: Option<String>,
        force_path_style: bool,
    },
}

/// An `ATTACH_*` storage variable that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl StorageConfig {
    /// Reads the variables in the module documentation.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`StorageConfig::from_env`], reading variables through `get` (tests use a map, so
    /// they never touch the process environment). Empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let bucket = var("ATTACH_S3_BUCKET");
        let kind = var("ATTACH_STORAGE");
        let use_s3 = match kind.as_deref() {
            None => bucket.is_some(),
            Some("local") => false,
            Some("s3") => true,
            Some(other) => {
                return Err(ConfigError {
                    var: "ATTACH_STORAGE",
                    message: format!("`{other}` is neither `local` nor `s3`"),
                })
            }
        };
        if !use_s3 {
            let data_dir = var("ATTACH_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned());
            return Ok(StorageConfig {
                backend: Backend::Local {
                    root: PathBuf::from(data_dir).join("objects"),
                },
            });
        }
        let bucket = bucket.ok_or_else(|| ConfigError {
            var: "ATTACH_S3_BUCKET",
            message: "required when ATTACH_STORAGE=s3".to_owned(),
        })?;
        let endpoint = var("ATTACH_S3_ENDPOINT");
        let force_path_style = match var("ATTACH_S3_FORCE_PATH_STYLE").as_deref() {
            None => endpoint.is_some(),
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(other) => {
                return Err(ConfigError {
                    var: "ATTACH_S3_FORCE_PATH_STYLE",
                    message: format!("`{other}` is not one of 1, true, 0, false"),
                })
            }
        };
        Ok(StorageConfig {
            backend: Backend::S3 {
                bucket,
                endpoint,
                region: Some(var("ATTACH_S3_REGION").unwrap_or_else(|| DEFAULT_REGION.to_owned())),
                force_path_style,
            },
        })
    }
}

/// Opens the configured backend. The local root is created if missing; S3 is not contacted
/// until the first operation, so a store that is down at start-up surfaces as a retryable
/// job error rather than a crash loop.
pub async fn connect(cfg: &StorageConfig) -> Result<Arc<dyn Storage>, StorageError> {
    match &cfg.backend {
        Backend::Local { root } => Ok(Arc::new(LocalStorage::open(root).await?)),
        Backend::S3 {
            bucket,
            endpoint,
            region,
            force_path_style,
        } => {
            let settings = S3Settings {
                bucket: bucket.clone(),
                endpoint: endpoint.clone(),
                region: region.clone().unwrap_or_else(|| DEFAULT_REGION.to_owned()),
                force_path_style: *force_path_style,
                credentials: None,
                multipart_threshold: MULTIPART_THRESHOLD,
                part_size: PART_SIZE,
            };
            Ok(Arc::new(S3Storage::new(settings).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<StorageConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StorageConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_to_local_under_the_data_dir() {
        let cfg = config(&[]).expect("config");
        assert_eq!(
            cfg.backend,
            Backend::Local {
                root: PathBuf::from("./data/objects")
            }
        );
        let cfg = config(&[("ATTACH_DATA_DIR", "/srv/attach")]).expect("config");
        assert_eq!(
            cfg.backend,
            Backend::Local {
                root: PathBuf::from("/srv/attach/objects")
            }
        );
    }

    #[test]
    fn a_bucket_selects_s3_with_path_style_only_for_custom_endpoints() {
        let cfg = config(&[("ATTACH_S3_BUCKET", "b")]).expect("config");
        assert_eq!(
            cfg.backend,
            Backend::S3 {
                bucket: "b".into(),
                endpoint: None,
                region: Some("us-east-1".into()),
                force_path_style: false
            }
        );
        let cfg = config(&[
            ("ATTACH_S3_BUCKET", "b"),
            ("ATTACH_S3_ENDPOINT", "http://minio:9000"),
        ])
        .expect("config");
        assert!(matches!(
            cfg.backend,
            Backend::S3 {
                force_path_style: true,
                ..
            }
        ));
        let cfg = config(&[
            ("ATTACH_S3_BUCKET", "b"),
            ("ATTACH_S3_ENDPOINT", "http://minio:9000"),
            ("ATTACH_S3_FORCE_PATH_STYLE", "false"),
        ])
        .expect("config");
        assert!(matches!(
            cfg.backend,
            Backend::S3 {
                force_path_style: false,
                ..
            }
        ));
    }

    #[test]
    fn explicit_local_wins_over_a_bucket_and_bad_values_are_refused() {
        let cfg =
            config(&[("ATTACH_STORAGE", "local"), ("ATTACH_S3_BUCKET", "b")]).expect("config");
        assert!(matches!(cfg.backend, Backend::Local { .. }));
        assert_eq!(
            config(&[("ATTACH_STORAGE", "s3")]).err().map(|e| e.var),
            Some("ATTACH_S3_BUCKET")
        );
        assert_eq!(
            config(&[("ATTACH_STORAGE", "gcs")]).err().map(|e| e.var),
            Some("ATTACH_STORAGE")
        );
        assert_eq!(
            config(&[
                ("ATTACH_S3_BUCKET", "b"),
                ("ATTACH_S3_FORCE_PATH_STYLE", "maybe")
            ])
            .err()
            .map(|e| e.var),
            Some("ATTACH_S3_FORCE_PATH_STYLE")
        );
    }

    #[test]
    fn prefixes_are_checked_like_keys() {
        assert!(validate_list_prefix("").is_ok());
        assert!(validate_list_prefix("a/b").is_ok());
        assert!(validate_list_prefix("a/b/").is_ok());
        assert!(validate_list_prefix("a//").is_err());
        assert!(validate_list_prefix("../").is_err());
        assert!(validate_folder_prefix("a/variants/").is_ok());
        assert!(validate_folder_prefix("a/variants").is_err());
        assert!(validate_folder_prefix("/").is_err());
        assert!(validate_folder_prefix("").is_err());
    }

    #[test]
    fn key_length_limit_is_in_bytes() {
        assert!(validate_key(&"a".repeat(MAX_KEY_LEN)).is_ok());
        assert!(validate_key(&"a".repeat(MAX_KEY_LEN + 1)).is_err());
        // 512 two-byte characters are 1024 bytes; one more is over.
        assert!(validate_key(&"é".repeat(512)).is_ok());
        assert!(validate_key(&"é".repeat(513)).is_err());
    }
}
