//! What the job suites (`process_job`, `vscan`, `video`) set up the same way: a local store of
//! their own, uploads put there as a client would, and the payload that names them.

use attachd::job::ProcessPayload;
use attachd::storage::{LocalStorage, Storage};
use sha2::Digest;
use std::sync::Arc;

/// Hex sha256 of `data`: what a payload's `checksum` holds.
pub fn sha256(data: &[u8]) -> String {
    attachd::sandbox::hex(&sha2::Sha256::digest(data))
}

/// The photo-like JPEG the job suites upload when the content does not matter.
pub fn photo_jpeg() -> Vec<u8> {
    attach_fixtures::jpeg(&attach_fixtures::photo(640, 480, 31), 85)
}

/// A local store rooted in a fresh temporary directory; the store lives as long as the
/// directory does.
pub async fn temp_store() -> (Arc<LocalStorage>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(LocalStorage::open(dir.path()).await.unwrap());
    (storage, dir)
}

/// Puts an upload in `storage` as a client would and returns its job payload, checksum
/// included.
pub async fn upload(storage: &dyn Storage, key: &str, data: &[u8], mime: &str) -> ProcessPayload {
    storage.put(key, data.to_vec().into(), mime).await.unwrap();
    ProcessPayload {
        file_key: key.into(),
        mime_type: mime.into(),
        size: data.len() as u64,
        variants: vec![],
        checksum: Some(sha256(data)),
        reprocess_guest_digest: None,
    }
}
