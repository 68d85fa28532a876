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
//! inode, size and change times of each file a load reads in it.

use super::ReleaseError;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where installed releases live, inside the guest directory.
pub const RELEASES: &str = "releases";
/// The symlink naming the release to run.
pub const CURRENT: &str = "current";
/// The symlink naming the release before it, for rollback.
pub const PREVIOUS: &str = "previous";

/// The directory holding the release to run: if `dir/current` exists, the release under
/// `dir/releases/` it links to; else `dir` itself (the flat layout). Resolved once per load, so
/// every file of one load comes from one release even if `current` moves meanwhile.
///
/// A `current` that is not a symlink to a directory directly under `releases/` (a real
/// directory, a link elsewhere, a dangling link) is refused, never replaced by the files beside
/// it: the worker runs only what `attachd guests install` and `rollback` would point at, so the
/// commands and the worker always agree on what runs.
pub fn release_dir(dir: &Path) -> Result<PathBuf, ReleaseError> {
    let current = dir.join(CURRENT);
    let refuse = |message: String| ReleaseError::Unreadable {
        path: current.clone(),
        message,
    };
    match std::fs::symlink_metadata(&current) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dir.to_path_buf()),
        Err(e) => return Err(refuse(e.to_string())),
        Ok(meta) if !meta.file_type().is_symlink() => {
            return Err(refuse(
                "not a symlink: `current` must link to a release under releases/".into(),
            ))
        }
        Ok(_) => {}
    }
    let target = std::fs::canonicalize(&current)
        .map_err(|e| refuse(format!("the release it names cannot be read: {e}")))?;
    let releases = std::fs::canonicalize(dir.join(RELEASES))
        .map_err(|e| refuse(format!("{RELEASES}/: {e}")))?;
    if target.parent() != Some(releases.as_path()) || !target.is_dir() {
        return Err(refuse(format!(
            "it leads to {}, not to a release under {RELEASES}/",
            target.display()
        )));
    }
    Ok(target)
}

/// What the worker compares to notice a new release: the resolved release directory and,
/// for each file a load reads (every guest's manifest, signature and component), its inode,
/// size and change time (a file replaced by one of the same size and modification time still
/// has a new inode or change time). A few `stat` calls, however many other files the
/// directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub release: PathBuf,
    pub files: Vec<(String, Option<FileStamp>)>,
}

/// A file's identity and last change, as `stat` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    inode: u64,
    size: u64,
    changed: (i64, i64),
    modified: (i64, i64),
}

/// The fingerprint of the release `dir` names now. Blocking (it calls `stat`): run it off
/// the async threads.
pub fn fingerprint(dir: &Path) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    let release = release_dir(dir).unwrap_or_else(|_| dir.join(CURRENT));
    let files = super::GUESTS
        .iter()
        .flat_map(|(name, _)| {
            [
                format!("{name}.json"),
                format!("{name}.json{}", super::SIGNATURE_SUFFIX),
                format!("{name}.wasm"),
            ]
        })
        .map(|file| {
            let stamp = std::fs::metadata(release.join(&file))
                .ok()
                .map(|m| FileStamp {
                    inode: m.ino(),
                    size: m.size(),
                    changed: (m.ctime(), m.ctime_nsec()),
                    modified: (m.mtime(), m.mtime_nsec()),
                });
            (file, stamp)
        })
        .collect();
    Fingerprint { release, files }
}

/// Where a release directory's name comes from: its install time, so `ls releases/` lists
/// them in order, and a digest of its manifests, so two releases of different guests never
/// share a name even when installed in the same second.
const RELEASE_ID_TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// Hex digits of the manifests' digest in a release id: 48 bits, plenty to tell apart the
/// releases of one machine while keeping the name readable.
const RELEASE_ID_DIGEST_HEX: usize = 12;

/// The id of a new release installed at `at` whose manifests are `manifests` (file name and
/// bytes): `YYYYmmddTHHMMSSZ-` and the first 12 hex digits of a sha256 over the manifests
/// sorted by name, each as its name, a NUL, its length in decimal, a NUL and its bytes (so no
/// two sets hash alike by moving bytes from one manifest to the next).
pub fn release_id(at: chrono::DateTime<chrono::Utc>, manifests: &[(String, Vec<u8>)]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted = manifests.iter().collect::<Vec<_>>();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, bytes) in sorted {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(bytes.len().to_string().as_bytes());
        h.update([0]);
        h.update(bytes);
    }
    let digest = super::hex(&h.finalize());
    format!(
        "{}-{}",
        at.format(RELEASE_ID_TIME_FORMAT),
        &digest[..RELEASE_ID_DIGEST_HEX]
    )
}

/// Whether `name` has the form of a release id (what [`release_id`] makes): the names
/// [`installed`] lists, and the only ones [`release_of`] accepts, so a link pointed elsewhere
/// by hand is reported rather than followed.
pub fn is_release_id(name: &str) -> bool {
    let Some((time, digest)) = name.split_once('-') else {
        return false;
    };
    chrono::NaiveDateTime::parse_from_str(time, RELEASE_ID_TIME_FORMAT).is_ok()
        && time.len() == "YYYYmmddTHHMMSSZ".len()
        && digest.len() == RELEASE_ID_DIGEST_HEX
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The directory of release `id` in guest directory `dir`.
pub fn release_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(RELEASES).join(id)
}

/// What symlink `link` ([`CURRENT`] or [`PREVIOUS`]) in `dir` names, as written; `None` when
/// there is no such symlink.
pub fn link_target(dir: &Path, link: &str) -> Option<PathBuf> {
    let path = dir.join(link);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    std::fs::read_link(path).ok()
}

/// The release id a link names, when it names `releases/<id>` (as [`point`] writes it).
pub fn release_of(target: &Path) -> Option<String> {
    let mut parts = target.components();
    let (Some(first), Some(second), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if first.as_os_str() != RELEASES {
        return None;
    }
    let id = second.as_os_str().to_str()?;
    is_release_id(id).then(|| id.to_string())
}

/// Whether `dir` is managed: it has a `current` symlink.
pub fn is_managed(dir: &Path) -> bool {
    link_target(dir, CURRENT).is_some()
}

/// The ids of the releases installed under `dir/releases`, oldest first (ids start with
/// their install time). Anything else there (a half-made release of an install that was
/// interrupted, a file put there by hand) is not listed.
pub fn installed(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut ids = match std::fs::read_dir(dir.join(RELEASES)) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|name| is_release_id(name))
            .collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    ids.sort();
    Ok(ids)
}

/// Points symlink `link` in `dir` at release `id` (relative, `releases/<id>`, so the guest
/// directory can be moved or mounted elsewhere whole). Atomic: a new symlink is made under a
/// temporary name and renamed over the old one, so a reader resolving `link` meanwhile finds
/// the old release or the new one, never nothing.
pub fn point(dir: &Path, link: &str, id: &str) -> std::io::Result<()> {
    let target = Path::new(RELEASES).join(id);
    let tmp = dir.join(format!(
        ".{link}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::os::unix::fs::symlink(&target, &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, dir.join(link)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the directory is: a crash right after does not bring the
    // old link back.
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

/// When `link` in `dir` was last pointed somewhere: the symlink's own modification time.
pub fn link_since(dir: &Path, link: &str) -> Option<SystemTime> {
    std::fs::symlink_metadata(dir.join(link))
        .ok()
        .filter(|m| m.file_type().is_symlink())
        .and_then(|m| m.modified().ok())
}
