//! The local backend: each object is a file under one root folder.
//!
//! Object `a/b/c` is the file `<root>/a/b/\c`: folders keep the key's segment names, and an
//! object's file name is its last segment behind [`OBJECT_MARK`], a character keys cannot
//! contain. So an object and a folder can share a name, as on S3: the job handler keeps an
//! upload at `fileKey` and its variants under `fileKey/variants/`, which a plain path mapping
//! could not hold (`fileKey` cannot be a file and a folder at once). Files without the mark
//! (temporary files, strays) are not objects.
//!
//! Every access goes through a cap-std [`Dir`] opened once on the root, so no key, however it
//! is spelled, reaches a file outside the root. On top of that, symbolic links are never
//! followed, not even ones that point inside the root: each folder on a key's path is looked
//! at with `symlink_metadata` and, once opened, checked to be the same inode that was looked
//! at, so swapping a folder for a link between the look and the open is caught too. A link
//! met on a key's path fails the operation with [`StorageError::Denied`]; a listing skips it.
//!
//! Writes go to a temporary file in the object's folder, are synced, and are renamed over the
//! object, so a reader sees the old object or the new one, never part of one. Every file
//! system call runs on tokio's blocking pool.

use super::{
    validate_folder_prefix, validate_key, validate_list_prefix, ObjectMeta, Storage, StorageError,
    MAX_KEY_LEN,
};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{debug, warn};

/// Starts every object's file name. Keys cannot contain a backslash (see
/// [`validate_key`](super::validate_key)), so no folder name starts with it and no marked name
/// is ambiguous.
const OBJECT_MARK: char = '\\';

/// Names of writes in progress start with this. Without [`OBJECT_MARK`] they are never taken
/// for objects; `delete_prefix` removes any a crash left behind.
const TEMP_PREFIX: &str = ".attachd-tmp-";

/// How many folders deep listing and `delete_prefix` descend. A valid key has at most 512
/// segments (1024 bytes, each segment one byte plus its `/`); anything deeper was not written
/// through this module.
const MAX_DEPTH: usize = MAX_KEY_LEN / 2;

/// Objects as files under a root folder; see the module documentation.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: Arc<Dir>,
    root_path: PathBuf,
}

/// What [`LocalStorage::put_new`] reads: an upload's body in chunks, then `Done` once the
/// whole body arrived and was checked by the caller. A channel that closes before `Done` (the
/// client went away, the body was refused) writes nothing.
#[derive(Debug)]
pub enum Incoming {
    Chunk(bytes::Bytes),
    Done,
}

impl LocalStorage {
    /// Creates `key` from `chunks` only if no object is there: the body goes to a synced
    /// temporary file (never held in memory whole) that is then hard-linked to the name, so
    /// the check and the creation are one step, and of two writers exactly one creates it.
    /// Returns false, writing nothing, if the object existed. An upload URL of `attachd serve`
    /// writes through this: it cannot replace bytes that were already processed.
    pub async fn put_new(
        &self,
        key: &str,
        mut chunks: tokio::sync::mpsc::Receiver<Incoming>,
    ) -> Result<bool, StorageError> {
        use tokio::io::AsyncWriteExt as _;
        validate_key(key)?;
        let (root, key_owned) = (self.root.clone(), key.to_owned());
        let (dir, file_name, temp, file) =
            blocking("put-new", move || create_temp(&root, &key_owned, "put-new")).await?;
        // Written as the chunks arrive, each write on the blocking pool only while it runs: a
        // slow client holds no thread (hundreds of slow uploads would otherwise take every
        // blocking thread the process has, and every storage call would wait).
        let mut out = tokio::fs::File::from_std(file.into_std());
        let written = async {
            loop {
                match chunks.recv().await {
                    Some(Incoming::Chunk(chunk)) => out.write_all(&chunk).await?,
                    Some(Incoming::Done) => break,
                    None => {
                        return Err(io::Error::other(
                            "the upload ended before its whole body arrived",
                        ))
                    }
                }
            }
            out.flush().await?;
            out.sync_all().await
        }
        .await;
        drop(out);
        let key_owned = key.to_owned();
        let created = blocking("put-new", move || {
            place(
                &dir, &temp, &file_name, written, false, "put-new", &key_owned,
            )
        })
        .await?;
        debug!(key, created, "local put-new");
        Ok(created)
    }

    /// The object opened for reading, with its size: a download streams it rather than
    /// reading it whole. `None` if absent.
    pub async fn open_read(&self, key: &str) -> Result<Option<(std::fs::File, u64)>, StorageError> {
        validate_key(key)?;
        let (root, key) = (self.root.clone(), key.to_owned());
        blocking("open", move || {
            Ok(open_object(&root, &key, "open")?.map(|(file, md)| (file.into_std(), md.len())))
        })
        .await
    }
}

impl LocalStorage {
    /// Opens (creating it if missing) the folder objects live in.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root_path = root.into();
        let path = root_path.clone();
        let dir = blocking("open-root", move || {
            let shown = path.display().to_string();
            std::fs::create_dir_all(&path).map_err(|e| io_error("open-root", &shown, e))?;
            Dir::open_ambient_dir(&path, ambient_authority())
                .map_err(|e| io_error("open-root", &shown, e))
        })
        .await?;
        debug!(root = %root_path.display(), "local storage opened");
        Ok(LocalStorage {
            root: Arc::new(dir),
            root_path,
        })
    }

    /// The folder objects live in.
    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// Where `key`'s file is (or would be) on disk; for operators and tests. Nothing should
    /// open it directly: this path does not protect against links.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        let (folders, name) = split_key(key);
        let mut path = self.root_path.clone();
        path.extend(folders.split('/').filter(|s| !s.is_empty()));
        path.push(object_file_name(name));
        Ok(path)
    }
}

#[async_trait::async_trait]
impl Storage for LocalStorage {
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
        validate_key(key)?;
        let (root, key_owned) = (self.root.clone(), key.to_owned());
        let data = blocking("get", move || get_blocking(&root, &key_owned, max_bytes)).await?;
        debug!(key, bytes = data.len(), "local get");
        Ok(data)
    }

    async fn put(
        &self,
        key: &str,
        data: bytes::Bytes,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let (root, key_owned) = (self.root.clone(), key.to_owned());
        let len = data.len();
        blocking("put", move || {
            write_atomically(&root, &key_owned, "put", &mut |file| file.write_all(&data))
        })
        .await?;
        debug!(key, bytes = len, "local put");
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        let (root, key) = (self.root.clone(), key.to_owned());
        blocking("head", move || head_blocking(&root, &key)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let (root, key_owned) = (self.root.clone(), key.to_owned());
        blocking("delete", move || delete_blocking(&root, &key_owned)).await?;
        debug!(key, "local delete");
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        validate_folder_prefix(prefix)?;
        let (root, prefix_owned) = (self.root.clone(), prefix.to_owned());
        let deleted = blocking("delete-prefix", move || {
            delete_prefix_blocking(&root, &prefix_owned)
        })
        .await?;
        debug!(prefix, deleted, "local delete_prefix");
        Ok(deleted)
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        validate_list_prefix(prefix)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (root, prefix_owned) = (self.root.clone(), prefix.to_owned());
        let after = start_after.map(str::to_owned);
        let found = blocking("list", move || {
            list_blocking(&root, &prefix_owned, after.as_deref(), limit)
        })
        .await?;
        debug!(
            prefix,
            ?start_after,
            limit,
            found = found.len(),
            "local list"
        );
        Ok(found)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        validate_key(from)?;
        validate_key(to)?;
        let (root, from_owned, to_owned) = (self.root.clone(), from.to_owned(), to.to_owned());
        blocking("copy", move || {
            let Some((mut source, _)) = open_object(&root, &from_owned, "copy")? else {
                return Err(StorageError::NotFound { key: from_owned });
            };
            write_atomically(&root, &to_owned, "copy", &mut |file| {
                io::copy(&mut source, file).map(drop)
            })
        })
        .await?;
        debug!(from, to, "local copy");
        Ok(())
    }
}

/// Runs blocking file system work off the async threads.
async fn blocking<T: Send + 'static>(
    op: &'static str,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Unavailable {
            op,
            message: format!("local storage task failed: {e}"),
        })?
}

/// `a/b/c` → (`a/b`, `c`); a key without folders has `""` for them.
fn split_key(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

fn object_file_name(segment: &str) -> String {
    format!("{OBJECT_MARK}{segment}")
}

/// The key segment an on-disk name stands for, or `None` for a name that is neither a folder
/// nor an object written through this module.
fn entry_segment(name: &str, is_dir: bool) -> Option<&str> {
    let segment = if is_dir {
        (!name.starts_with(OBJECT_MARK)).then_some(name)?
    } else {
        name.strip_prefix(OBJECT_MARK)?
    };
    validate_key(segment).is_ok().then_some(segment)
}

fn io_error(op: &'static str, key: &str, e: io::Error) -> StorageError {
    match e.kind() {
        io::ErrorKind::PermissionDenied => StorageError::Denied {
            op,
            message: format!("`{key}`: {e}"),
        },
        // A segment over the file system's name limit (255 bytes on most): the key can never
        // be stored here.
        io::ErrorKind::InvalidFilename => StorageError::InvalidKey {
            key: key.to_owned(),
            reason: "a segment is longer than the local file system allows",
        },
        _ => StorageError::Unavailable {
            op,
            message: format!("`{key}`: {e}"),
        },
    }
}

fn symlink_refused(op: &'static str, key: &str) -> StorageError {
    StorageError::Denied {
        op,
        message: format!("`{key}` passes through a symbolic link in the local store, and links are never followed"),
    }
}

/// Something this module never writes (a plain file where a folder belongs, a folder where an
/// object belongs) is in the way: someone else wrote in the store.
fn stray(op: &'static str, key: &str) -> StorageError {
    StorageError::Denied {
        op,
        message: format!("`{key}`: the local store holds a file or folder on its path that attachd did not write"),
    }
}

/// Whether two metadata describe the same file: used to prove that what was opened is what
/// `symlink_metadata` looked at, not a link swapped in between.
#[cfg(unix)]
fn same_file(looked: &Metadata, opened: &Metadata) -> bool {
    use cap_std::fs::MetadataExt;
    looked.dev() == opened.dev() && looked.ino() == opened.ino()
}

/// Without inode numbers, the `symlink_metadata` check before opening stands alone.
#[cfg(not(unix))]
fn same_file(_looked: &Metadata, _opened: &Metadata) -> bool {
    true
}

enum Step {
    Dir(Dir),
    Missing,
    /// Something other than a folder is where a folder was expected.
    NotAFolder,
}

/// Opens the single segment `name` of `parent` as a folder, never through a symbolic link,
/// creating it first if `create`.
fn open_subdir(
    parent: &Dir,
    name: impl AsRef<Path>,
    create: bool,
    op: &'static str,
    key: &str,
) -> Result<Step, StorageError> {
    let name = name.as_ref();
    // Two rounds: after creating the folder (or losing a race to another writer creating it)
    // it is looked at and opened like any existing one.
    for _ in 0..2 {
        match parent.symlink_metadata(name) {
            Ok(looked) if looked.is_symlink() => return Err(symlink_refused(op, key)),
            Ok(looked) if looked.is_dir() => {
                let dir = parent.open_dir(name).map_err(|e| io_error(op, key, e))?;
                let opened = dir.dir_metadata().map_err(|e| io_error(op, key, e))?;
                if !same_file(&looked, &opened) {
                    return Err(symlink_refused(op, key));
                }
                return Ok(Step::Dir(dir));
            }
            Ok(_) => return Ok(Step::NotAFolder),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                match parent.create_dir(name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_error(op, key, e)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Step::Missing),
            Err(e) => return Err(io_error(op, key, e)),
        }
    }
    Err(StorageError::Unavailable {
        op,
        message: format!("`{key}`: a folder on its path kept changing"),
    })
}

/// Opens the folder `folders` (`/`-separated, `""` for the root), segment by segment. `None`
/// if it does not exist (when not creating).
fn open_folder(
    root: &Dir,
    folders: &str,
    create: bool,
    op: &'static str,
    key: &str,
) -> Result<Option<Dir>, StorageError> {
    let mut dir = root.try_clone().map_err(|e| io_error(op, key, e))?;
    if folders.is_empty() {
        return Ok(Some(dir));
    }
    for segment in folders.split('/') {
        match open_subdir(&dir, segment, create, op, key)? {
            Step::Dir(next) => dir = next,
            Step::Missing => return Ok(None),
            Step::NotAFolder if create => return Err(stray(op, key)),
            Step::NotAFolder => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// The folder holding `key`'s object and the object's file name in it.
fn parent_of(
    root: &Dir,
    key: &str,
    create: bool,
    op: &'static str,
) -> Result<Option<(Dir, String)>, StorageError> {
    let (folders, name) = split_key(key);
    Ok(open_folder(root, folders, create, op, key)?.map(|dir| (dir, object_file_name(name))))
}

/// Looks at an object's file without following a link: `None` if absent.
fn look(
    dir: &Dir,
    file_name: &str,
    op: &'static str,
    key: &str,
) -> Result<Option<Metadata>, StorageError> {
    match dir.symlink_metadata(file_name) {
        Ok(looked) if looked.is_symlink() => Err(symlink_refused(op, key)),
        Ok(looked) if looked.is_file() => Ok(Some(looked)),
        Ok(_) => Err(stray(op, key)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(op, key, e)),
    }
}

/// Opens an object for reading; `None` if absent.
fn open_object(
    root: &Dir,
    key: &str,
    op: &'static str,
) -> Result<Option<(File, Metadata)>, StorageError> {
    let Some((dir, file_name)) = parent_of(root, key, false, op)? else {
        return Ok(None);
    };
    let Some(looked) = look(&dir, &file_name, op, key)? else {
        return Ok(None);
    };
    let file = match dir.open(&file_name) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(op, key, e)),
    };
    let opened = file.metadata().map_err(|e| io_error(op, key, e))?;
    if !same_file(&looked, &opened) {
        return Err(symlink_refused(op, key));
    }
    Ok(Some((file, opened)))
}

fn meta(key: String, md: &Metadata) -> ObjectMeta {
    ObjectMeta {
        key,
        size: md.len(),
        modified: md
            .modified()
            .ok()
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t.into_std())),
    }
}

fn get_blocking(root: &Dir, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
    let Some((file, opened)) = open_object(root, key, "get")? else {
        return Err(StorageError::NotFound {
            key: key.to_owned(),
        });
    };
    let too_large = |size| StorageError::TooLarge {
        key: key.to_owned(),
        size,
        max: max_bytes,
    };
    if opened.len() > max_bytes {
        return Err(too_large(opened.len()));
    }
    // The size was checked, but the file can grow while it is read: read at most one byte
    // past the limit, which is enough to tell.
    let mut data = Vec::with_capacity(usize::try_from(opened.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| io_error("get", key, e))?;
    let read = u64::try_from(data.len()).unwrap_or(u64::MAX);
    if read > max_bytes {
        return Err(too_large(read));
    }
    Ok(data)
}

fn head_blocking(root: &Dir, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
    let Some((dir, file_name)) = parent_of(root, key, false, "head")? else {
        return Ok(None);
    };
    Ok(look(&dir, &file_name, "head", key)?.map(|md| meta(key.to_owned(), &md)))
}

/// Writes an object through a synced temporary file renamed over it (see [`place`]); `fill`
/// writes the content.
fn write_atomically(
    root: &Dir,
    key: &str,
    op: &'static str,
    fill: &mut dyn FnMut(&mut File) -> io::Result<()>,
) -> Result<(), StorageError> {
    let (dir, file_name, temp, mut file) = create_temp(root, key, op)?;
    // Synced before it is put in place so a crash cannot leave an object that is empty.
    let written = fill(&mut file).and_then(|()| file.sync_all());
    drop(file);
    place(&dir, &temp, &file_name, written, true, op, key).map(drop)
}

/// A new temporary file beside where `key` goes: its folder, the object's file name in it,
/// the temporary file's name, and the file, open for writing.
fn create_temp(
    root: &Dir,
    key: &str,
    op: &'static str,
) -> Result<(Dir, String, String, File), StorageError> {
    // Two rounds: a concurrent `delete_prefix` can remove the folder between our opening it
    // and creating the temporary file; the second round recreates it.
    for round in 0..2 {
        let Some((dir, file_name)) = parent_of(root, key, true, op)? else {
            continue;
        };
        // Refuses a link (or a stray folder) already there.
        look(&dir, &file_name, op, key)?;
        let temp = format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple());
        // `create_new` never opens an existing file or follows a link.
        match dir.open_with(&temp, OpenOptions::new().write(true).create_new(true)) {
            Ok(file) => return Ok((dir, file_name, temp, file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && round == 0 => continue,
            Err(e) => return Err(io_error(op, key, e)),
        }
    }
    Err(StorageError::Unavailable {
        op,
        message: format!("`{key}`: its folder kept disappearing"),
    })
}

/// Puts the temporary file `temp`, once `written` (and synced), at `file_name`: renamed over
/// whatever is there (`replace`), or hard-linked to the name, which fails if the name exists,
/// so that of two writers exactly one creates the object. Returns false if the object existed
/// (only without `replace`). The temporary file is gone afterwards, whatever happened.
fn place(
    dir: &Dir,
    temp: &str,
    file_name: &str,
    written: io::Result<()>,
    replace: bool,
    op: &'static str,
    key: &str,
) -> Result<bool, StorageError> {
    let remove_temp = || {
        if let Err(e) = dir.remove_file(temp) {
            warn!(key, error = %e, "could not remove a temporary file after a write");
        }
    };
    if replace {
        // `rename` replaces whatever is at the name (even a link planted since the look in
        // `create_temp`) without following it.
        let result = written.and_then(|()| dir.rename(temp, dir, file_name));
        if let Err(e) = result {
            remove_temp();
            return Err(io_error(op, key, e));
        }
        return Ok(true);
    }
    // `hard_link` never replaces: the check for an object and its creation are one step.
    let linked = written.and_then(|()| dir.hard_link(temp, dir, file_name));
    remove_temp();
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_error(op, key, e)),
    }
}

fn delete_blocking(root: &Dir, key: &str) -> Result<(), StorageError> {
    let Some((dir, file_name)) = parent_of(root, key, false, "delete")? else {
        return Ok(());
    };
    if look(&dir, &file_name, "delete", key)?.is_none() {
        return Ok(());
    }
    match dir.remove_file(&file_name) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("delete", key, e)),
        _ => Ok(()),
    }
}

fn delete_prefix_blocking(root: &Dir, prefix: &str) -> Result<u64, StorageError> {
    let folder = prefix.strip_suffix('/').unwrap_or(prefix);
    let (parents, name) = split_key(folder);
    let Some(parent) = open_folder(root, parents, false, "delete-prefix", prefix)? else {
        return Ok(0);
    };
    let Step::Dir(dir) = open_subdir(&parent, name, false, "delete-prefix", prefix)? else {
        return Ok(0);
    };
    let deleted = clear_folder(&dir, prefix, 0)?;
    drop(dir);
    remove_if_empty(&parent, name);
    Ok(deleted)
}

/// Removes a folder that should now be empty. A concurrent write may have refilled it, which
/// is not an error: that object was written after the delete.
fn remove_if_empty(parent: &Dir, name: impl AsRef<Path>) {
    if let Err(e) = parent.remove_dir(name.as_ref()) {
        debug!(folder = %name.as_ref().display(), error = %e, "folder left in place");
    }
}

/// Deletes everything in `dir`, returning how many objects went. Links and other non-folders
/// are unlinked, which never follows them; only marked regular files count as objects.
fn clear_folder(dir: &Dir, shown: &str, depth: usize) -> Result<u64, StorageError> {
    let op = "delete-prefix";
    let mut deleted = 0;
    for entry in dir.entries().map_err(|e| io_error(op, shown, e))? {
        let entry = entry.map_err(|e| io_error(op, shown, e))?;
        let name = entry.file_name();
        let kind = entry.file_type().map_err(|e| io_error(op, shown, e))?;
        if kind.is_dir() {
            if depth >= MAX_DEPTH {
                warn!(
                    prefix = shown,
                    "folders nested deeper than any key; left in place"
                );
                continue;
            }
            if let Step::Dir(sub) = open_subdir(dir, &name, false, op, shown)? {
                deleted += clear_folder(&sub, shown, depth + 1)?;
                drop(sub);
                remove_if_empty(dir, &name);
            }
            continue;
        }
        match dir.remove_file(&name) {
            Ok(()) => {
                if kind.is_file()
                    && name
                        .to_str()
                        .is_some_and(|n| entry_segment(n, false).is_some())
                {
                    deleted += 1;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(op, shown, e)),
        }
    }
    Ok(deleted)
}

fn list_blocking(
    root: &Dir,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Result<Vec<ObjectMeta>, StorageError> {
    // `a/b/pa` lists folder `a/b`: its objects whose names start with `pa`, and everything
    // below its folders whose names do.
    let (folders, partial) = split_key(prefix);
    let Some(dir) = open_folder(root, folders, false, "list", prefix)? else {
        return Ok(Vec::new());
    };
    let base = if folders.is_empty() {
        String::new()
    } else {
        format!("{folders}/")
    };
    let mut found = Vec::new();
    collect(&dir, &base, partial, start_after, limit, 0, &mut found)?;
    Ok(found)
}

/// One entry of a folder being listed.
struct Entry {
    /// The key segment, with `/` appended for a folder: what the entry sorts by.
    sort_key: String,
    /// The on-disk name.
    file_name: String,
    is_dir: bool,
}

/// Appends the objects under `dir` (whose keys start with `base`) in key order, skipping
/// whatever sorts at or before `start_after`, until `found` holds `limit`.
///
/// Depth-first over entries sorted with a `/` appended to folder names yields keys in bytewise
/// order: every key under folder `x` starts with `x/`, so it sorts exactly where `x/` does
/// among its siblings (after an object `x`, which is a prefix of it). Folders wholly at or
/// before `start_after` are not opened, so paging through a large tree does not re-read it.
fn collect(
    dir: &Dir,
    base: &str,
    name_prefix: &str,
    start_after: Option<&str>,
    limit: usize,
    depth: usize,
    found: &mut Vec<ObjectMeta>,
) -> Result<(), StorageError> {
    let op = "list";
    let mut entries = Vec::new();
    for entry in dir.entries().map_err(|e| io_error(op, base, e))? {
        let entry = entry.map_err(|e| io_error(op, base, e))?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        // `file_type` does not follow links: links and special files are not objects.
        let kind = entry.file_type().map_err(|e| io_error(op, base, e))?;
        if !kind.is_dir() && !kind.is_file() {
            continue;
        }
        let Some(segment) = entry_segment(&file_name, kind.is_dir()) else {
            continue;
        };
        if !segment.starts_with(name_prefix) {
            continue;
        }
        let sort_key = if kind.is_dir() {
            format!("{segment}/")
        } else {
            segment.to_owned()
        };
        entries.push(Entry {
            sort_key,
            file_name,
            is_dir: kind.is_dir(),
        });
    }
    entries.sort_unstable_by(|a, b| a.sort_key.cmp(&b.sort_key));
    for entry in entries {
        if found.len() >= limit {
            break;
        }
        let key = format!("{base}{}", entry.sort_key);
        if entry.is_dir {
            let wholly_before =
                start_after.is_some_and(|after| after >= key.as_str() && !after.starts_with(&key));
            if wholly_before {
                continue;
            }
            if depth + 1 >= MAX_DEPTH {
                warn!(
                    folder = key,
                    "folders nested deeper than any key; not listed"
                );
                continue;
            }
            if let Step::Dir(sub) = open_subdir(dir, &entry.file_name, false, op, &key)? {
                collect(&sub, &key, "", start_after, limit, depth + 1, found)?;
            }
        } else if start_after.is_none_or(|after| key.as_str() > after) {
            // Looked at again without following links: the entry may have changed since.
            if let Some(md) = look(dir, &entry.file_name, op, &key)? {
                found.push(meta(key, &md));
            }
        }
    }
    Ok(())
}
