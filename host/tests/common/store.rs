//! A real store with a hand on its writes: every key written is recorded, and a `put` may be
//! refused (to inject a storage failure at a chosen point of a job).

use attachd::storage::{ObjectMeta, Storage, StorageError};
use std::sync::{Arc, Mutex};

/// Decides, from the key and how many puts came before, whether a put fails.
type PutHook = Box<dyn Fn(&str, usize) -> Result<(), StorageError> + Send + Sync>;

pub struct Watched {
    inner: Arc<dyn Storage>,
    puts: Mutex<Vec<String>>,
    hook: PutHook,
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
        self.inner.get(key, max).await
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
