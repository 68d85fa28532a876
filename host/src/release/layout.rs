//! The guest directory on disk. Two layouts:
//!
//! - **flat**: the release's files directly in the directory (what `make guests` writes);
//! - **managed**: releases side by side, each in its own directory under `releases/`, with a
//!   `current` symlink naming the one to run and `previous` the one before it (what
//!   `attachd guests install` writes). A symlink is replaced by renaming a new one over it,
//!   so a reader sees the old release or the new one, never a mix; rolling back is pointing
//!   `current` at `previous` again.
//!
//! The worker notices a change by [`fingerprint`]: which release `current` names, and the
//! size and modification time of every file in it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where installed releases live, inside the guest directory.
pub const RELEASES: &str = "releases";
/// The symlink naming the release to run.
pub const CURRENT: &str = "current";
/// The symlink naming the release before it, for rollback.
pub const PREVIOUS: &str = "previous";

/// The directory holding the release to run: `dir/current` resolved, if it exists; else
/// `dir` itself (the flat layout). Resolved once per load, so every file of one load comes
/// from one release even if `current` moves meanwhile.
pub fn release_dir(dir: &Path) -> PathBuf {
    let current = dir.join(CURRENT);
    match std::fs::canonicalize(&current) {
        Ok(resolved) if resolved.is_dir() => resolved,
        _ => dir.to_path_buf(),
    }
}

/// What the worker compares to notice a new release: the resolved release directory and,
/// for every file in it, its name, size and modification time. Cheap (a few `stat` calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub release: PathBuf,
    pub files: Vec<(String, u64, Option<SystemTime>)>,
}

pub fn fingerprint(dir: &Path) -> Fingerprint {
    let release = release_dir(dir);
    let mut files = std::fs::read_dir(&release)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    meta.is_file().then(|| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            meta.len(),
                            meta.modified().ok(),
                        )
                    })
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    files.sort();
    Fingerprint { release, files }
}
