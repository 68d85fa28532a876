//! A real store with a hand on its writes and reads: every key written is recorded, a `put`
//! may be refused (to inject a storage failure at a chosen point of a job), every read is
//! recorded with the bound it asked for and the bytes it got, and reads may be slowed (to
//! make a job outlast a short lease).

use attachd::storage::{ObjectMeta, Storage, StorageError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Decides, from the key and how many puts came before, whether a put fails.
type PutHook = Box<dyn Fn(&str, usize) -> Result<(), StorageError> + Send + Sync>;

pub struct Watched {
    inner: Arc<dyn Storage>,
    puts: Mutex<Vec<String>>,
    hook: PutHook,
    reads: Mutex<Vec<Read>>,
    get_delay: Duration,
}

/// One `get`: the key, the most bytes the caller allowed, and how many it got (`None` when
/// the store refused the read, e.g. too large).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub key: String,
    pub max: u64,
    pub got: Option<u64>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Watched {
    /// Records the keys written, changes nothing.
    pub fn recording(inner: Arc<dyn Storage>) -> Watched {
        Watched::failing_put_when(inner, |_, _| false)
    }

    /// Refuses a put, as an unreachable store would, when `fail(key, puts before)` says so.
    pub fn failing_put_when(
        inner: Arc<dyn Storage>,
        fail: impl Fn(&str, usize) -> bool + Send + Sync + 'static,
    ) -> Watched {
        Watched {
            inner,
            puts: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
            get_delay: Duration::ZERO,
            hook: Box::new(move |key, n| {
                if fail(key, n) {
                    return Err(StorageError::Unavailable {
                        op: "put",
                        message: "connection refused (injected)".into(),
                    });
                }
                Ok(())
            }),
        }
    }

    /// Every `get` waits `delay` first (a slow store, or a slow step of the job).
    pub fn with_get_delay(mut self, delay: Duration) -> Watched {
        self.get_delay = delay;
        self
    }

    /// Every read so far, in order.
    pub fn reads(&self) -> Vec<Read> {
        self.reads.lock().unwrap().clone()
    }

    /// The store underneath, for writes that should not be recorded (a test's own setup).
    pub fn inner(&self) -> &Arc<dyn Storage> {
        &self.inner
    }

    /// Every key a put was attempted for, in order.
    pub fn puts(&self) -> Vec<String> {
        self.puts.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Storage for Watched {
    async fn get(&self, key: &str, max: u64) -> Result<Vec<u8>, StorageError> {
        if !self.get_delay.is_zero() {
            tokio::time::sleep(self.get_delay).await;
        }
        let result = self.inner.get(key, max).await;
        self.reads.lock().unwrap().push(Read {
            key: key.to_string(),
            max,
            got: result.as_ref().ok().map(|d| d.len() as u64),
        });
        result
    }
    async fn put(&self, key: &str, data: bytes::Bytes, ct: &str) -> Result<(), StorageError> {
        let before = {
            let mut puts = self.puts.lock().unwrap();
            puts.push(key.to_string());
            puts.len() - 1
        };
        (self.hook)(key, before)?;
        self.inner.put(key, data, ct).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        self.inner.delete_prefix(prefix).await
    }
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        self.inner.list(prefix, after, limit).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.inner.copy(from, to).await
    }
}
