//! The compiled-guest cache. A cached artifact is native code that wasmtime maps and runs
//! without checking it, so a file someone else placed or changed there would run inside the
//! worker. The cache is used only when all of these hold, and otherwise the guest is compiled
//! again from its verified `.wasm` (and the cache rewritten):
//!
//! - the cache directory is a real directory (not a symlink), owned by the worker's user, and
//!   writable by no one else (created `0700`);
//! - the artifact is a regular file opened without following a symlink, owned by the worker's
//!   user, writable by no one else;
//! - its sha256 equals the digest the worker recorded when it compiled it, in a `.sha256` file
//!   beside it (the index, written `0600` under the same checks);
//! - it is deserialized from the very buffer that was hashed.
//!
//! The file name binds an artifact to one guest digest and one engine configuration; the
//! index binds its bytes to what this worker wrote. A swapped, truncated or foreign file fails
//! one of the checks and is never deserialized.

use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

/// The start of the reason given when there is simply no cached artifact yet (not worth a
/// warning).
pub const ABSENT: &str = "no cached artifact";
/// Largest artifact read back: a compiled guest is a few MiB; this bounds what a planted file
/// can make the worker read.
const MAX_ARTIFACT_BYTES: u64 = 512 * 1024 * 1024;

fn index_path(artifact: &Path) -> PathBuf {
    let mut p = artifact.as_os_str().to_owned();
    p.push(".sha256");
    PathBuf::from(p)
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Checks that `meta` belongs to this user and that no one else may write it.
fn owned_private(what: &str, path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    if meta.uid() != euid() {
        return Err(format!(
            "{what} {} is owned by uid {}, not this worker's {}",
            path.display(),
            meta.uid(),
            euid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{what} {} is writable by group or others (mode {:o})",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

fn check_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "cache directory {} is not a directory (a symlink?)",
            dir.display()
        ));
    }
    owned_private("cache directory", dir, &meta)
}

/// Opens `path` for reading without following a symlink, and checks it is a private regular
/// file of this user's.
fn open_private(what: &str, path: &Path) -> Result<(File, u64), String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{ABSENT} at {}", path.display()),
            _ => format!("{what} {}: {e}", path.display()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{what} {} is not a regular file", path.display()));
    }
    owned_private(what, path, &meta)?;
    Ok((file, meta.len()))
}

/// Reads the artifact at `artifact` if every check in the module doc passes; otherwise says
/// why not.
pub fn read_verified(dir: &Path, artifact: &Path) -> Result<Vec<u8>, String> {
    check_dir(dir)?;
    let (file, len) = open_private("cached artifact", artifact)?;
    if len > MAX_ARTIFACT_BYTES {
        return Err(format!(
            "cached artifact {} is {len} bytes, more than {MAX_ARTIFACT_BYTES}",
            artifact.display()
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_ARTIFACT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cached artifact {}: {e}", artifact.display()))?;
    let index = index_path(artifact);
    let (idx, _) = open_private("cache index", &index).map_err(|e| {
        // An artifact without its digest was not written by this code: refuse it.
        if e.starts_with(ABSENT) {
            format!(
                "cached artifact {} has no recorded digest",
                artifact.display()
            )
        } else {
            e
        }
    })?;
    let mut recorded = String::new();
    idx.take(128)
        .read_to_string(&mut recorded)
        .map_err(|e| format!("cache index {}: {e}", index.display()))?;
    let actual = super::hex(&Sha256::digest(&bytes));
    if recorded.trim() != actual {
        return Err(format!(
            "cached artifact {} has sha256 {actual}, the index recorded {:?}",
            artifact.display(),
            recorded.trim()
        ));
    }
    Ok(bytes)
}

/// Creates `dir` owner-only if missing; refuses one that fails the checks.
fn ensure_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    check_dir(dir)
}

/// Writes `bytes` to a fresh private temporary file beside `path`, then renames it over
/// `path`: a reader sees the old file or the whole new one, and a symlink planted at the
/// temporary name is not followed (`O_EXCL` fails on it).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(())
}

/// Serializes `component` to `artifact` and records its digest in the index beside it.
pub fn write(dir: &Path, artifact: &Path, component: &Component) -> Result<(), String> {
    ensure_dir(dir)?;
    let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
    let digest = super::hex(&Sha256::digest(&bytes));
    // Artifact first, then its digest: a reader between the two sees a mismatch and compiles
    // again, never a digest that vouches for the wrong bytes.
    write_private(artifact, &bytes)?;
    write_private(&index_path(artifact), digest.as_bytes())
}
