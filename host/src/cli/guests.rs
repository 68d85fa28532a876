//! `attachd guests`: release builders make keys and sign releases; operators check, install
//! and roll back releases, and see what is installed.
//!
//! Install and rollback only move symlinks in the guest directory (see
//! [`crate::release::layout`]); a running worker notices the change (it polls every
//! `ATTACH_GUEST_WATCH_INTERVAL`, or reloads at SIGHUP), verifies and compiles the set again
//! and swaps between jobs. Both refuse a release that would not load, so what `current` names
//! is always a set a worker can run.

use super::printable;
use crate::audit::{Audit, Decision, Event};
use crate::config::GuestPaths;
use crate::error::ErrorCode;
use crate::release::layout::{self, CURRENT, PREVIOUS, RELEASES};
use crate::release::{self, Manifest, GUESTS, MAX_COMPONENT_BYTES, SIGNATURE_SUFFIX};
use crate::sandbox::{Sandbox, SandboxError};
use crate::settings::Settings;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long `guests rollback` waits for the database to take its audit event: the rollback
/// is wanted now (a bad release is serving), so an unreachable database delays it this much
/// at most, and the event is still written to the audit log stream.
const AUDIT_DATABASE_TIMEOUT: Duration = Duration::from_secs(10);
/// The prefix of a release being assembled under `releases/`: not a release id, so it is
/// never listed nor pointed at, and an install interrupted midway leaves only such a name.
const INCOMING_PREFIX: &str = ".incoming-";

#[derive(Args, Debug)]
pub struct GuestsArgs {
    #[command(subcommand)]
    pub command: GuestsCommand,
}

#[derive(Subcommand, Debug)]
pub enum GuestsCommand {
    /// Make a release signing key pair (minisign format): the secret key signs releases, the
    /// public key goes in ATTACH_GUEST_TRUSTED_KEYS. Prints the key id.
    Keygen {
        /// Where to write the secret key (created owner-only; never overwritten).
        #[arg(long)]
        secret_key: PathBuf,
        /// Where to write the public key.
        #[arg(long)]
        public_key: PathBuf,
        /// Encrypt the secret key with the password in this file (as `minisign -G` does).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Sign every guest manifest in DIR (writing NAME.json.minisig beside each), after
    /// checking each component's sha256 is the one its manifest names.
    Sign {
        dir: PathBuf,
        /// The secret key (from `attachd guests keygen` or `minisign -G`).
        #[arg(long)]
        secret_key: PathBuf,
        /// The password of an encrypted secret key, in a file.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Check a release before rolling it out: each guest in DIR verifies (signature, trusted
    /// key, manifest, digest, world), and the set install would make of it (DIR's guests over
    /// the current release's) compiles and links. Prints each guest's OK or refusal code;
    /// exit 0 when install would take it, 1 when not. Changes nothing.
    Verify {
        /// A directory of NAME.wasm, NAME.json and NAME.json.minisig, for one or more of
        /// probe, scan, thumbnail.
        dir: PathBuf,
    },
    /// Install a release into ATTACH_GUEST_DIR: copies DIR's guests, and the current
    /// release's for the guests DIR does not hold, into a new releases/<id>, checks it as
    /// `verify` does (which also fills the compile cache), then points `previous` at the old
    /// release and `current` at the new one. A running worker takes it up at its next look
    /// (ATTACH_GUEST_WATCH_INTERVAL) or at SIGHUP. A refused release changes nothing (exit 1).
    Install {
        /// A directory of NAME.wasm, NAME.json and NAME.json.minisig, for one or more of
        /// probe, scan, thumbnail. Its files are copied, never moved; a symlink leading out
        /// of it is refused.
        dir: PathBuf,
    },
    /// Point `current` back at the release `previous` names (and `previous` at the one
    /// rolled back from), after checking that release still verifies and loads. Exit 1 when
    /// there is no previous release or it is refused. Recorded as a guest-rolled-back audit
    /// event.
    Rollback,
    /// Show the guest directory: the current release (since when, and each guest's name,
    /// world, version, sha256, signing key and whether it verifies under the trusted keys),
    /// the previous one and the others installed. With --worker: what the worker listening
    /// on ATTACH_METRICS_ADDR has loaded (its /guests), since when and signed by which key.
    List {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Ask the running worker at ATTACH_METRICS_ADDR what it has loaded.
        #[arg(long)]
        worker: bool,
    },
}

pub async fn run(args: GuestsArgs, settings: &Settings) -> anyhow::Result<i32> {
    match args.command {
        GuestsCommand::Keygen {
            secret_key,
            public_key,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            let id = release::keygen(&secret_key, &public_key, password)?;
            println!("{id}");
            Ok(0)
        }
        GuestsCommand::Sign {
            dir,
            secret_key,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            let key = release::read_secret_key(&secret_key, password)?;
            let signed = release::sign_dir(&dir, &key)?;
            if signed.is_empty() {
                anyhow::bail!("no guest manifest (*.json) in {}", dir.display());
            }
            for name in signed {
                println!("signed {}", dir.join(name).display());
            }
            Ok(0)
        }
        GuestsCommand::Verify { dir } => verify(&dir, settings).await,
        GuestsCommand::Install { dir } => install(&dir, settings).await,
        GuestsCommand::Rollback => rollback(settings).await,
        GuestsCommand::List { worker: true, json } => list_loaded(settings, json),
        GuestsCommand::List { json, .. } => list(settings, json),
    }
}

/// The first line of `path`, if given: a password kept in a file, never on the command line
/// (where `ps` shows it).
fn read_password(path: Option<&Path>) -> anyhow::Result<Option<String>> {
    path.map(|p| {
        std::fs::read_to_string(p)
            .with_context(|| format!("reading the password file {}", p.display()))
            .map(|s| s.lines().next().unwrap_or("").to_string())
            .and_then(|p| {
                // An empty password would encrypt the key with nothing.
                if p.is_empty() {
                    bail!("the password file is empty");
                }
                Ok(p)
            })
    })
    .transpose()
}

/// Where a guest of an assembled release came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The directory given to `verify` or `install`.
    Given,
    /// The current release, for a guest the given directory does not hold.
    Kept,
    /// An installed release checked whole (the one `rollback` returns to).
    Installed,
    /// Neither the given directory nor the current release holds it.
    Missing,
}

/// Why a guest (or the whole set) was refused: a stable code and the reason.
#[derive(Debug, Clone)]
struct Refusal {
    code: &'static str,
    reason: String,
}

/// What a guest that verified is.
#[derive(Debug, Clone)]
struct Facts {
    world: String,
    version: String,
    sha256: String,
    key_id: Option<String>,
}

/// One guest of a checked release.
#[derive(Debug)]
struct GuestCheck {
    name: &'static str,
    source: Source,
    outcome: Result<Facts, Refusal>,
}

/// A release checked as a worker would load it.
#[derive(Debug)]
struct Checked {
    guests: Vec<GuestCheck>,
    /// A refusal that is no one guest's (the engine could not be built).
    other: Option<Refusal>,
}

impl Checked {
    fn ok(&self) -> bool {
        self.other.is_none() && self.guests.iter().all(|g| g.outcome.is_ok())
    }

    /// Every refusal, as `guest <name>: <code>: <reason>`.
    fn refusals(&self) -> Vec<String> {
        self.guests
            .iter()
            .filter_map(|g| {
                g.outcome
                    .as_ref()
                    .err()
                    .map(|r| format!("guest {}: {}: {}", g.name, r.code, r.reason))
            })
            .chain(
                self.other
                    .iter()
                    .map(|r| format!("guest set: {}: {}", r.code, r.reason)),
            )
            .collect()
    }

    /// One line per guest, for people.
    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        for g in &self.guests {
            let source = match g.source {
                Source::Given => " (from the new release)",
                Source::Kept => " (kept from the current release)",
                Source::Installed => "",
                Source::Missing => " (in neither the new release nor the current one)",
            };
            match &g.outcome {
                Ok(f) => writeln!(
                    out,
                    "  {:<10} OK  {} version {} sha256 {} key {}{source}",
                    g.name,
                    f.world,
                    f.version,
                    f.sha256,
                    f.key_id.as_deref().unwrap_or("none (unsigned)"),
                )?,
                Err(r) => writeln!(out, "  {:<10} {}: {}{source}", g.name, r.code, r.reason)?,
            }
        }
        if let Some(r) = &self.other {
            writeln!(out, "  the set: {}: {}", r.code, r.reason)?;
        }
        Ok(())
    }
}

/// Places a release in the empty directory `into` (DIR's guests, and `base`'s for the
/// guests DIR does not hold), then checks it as a worker would load it. What `verify` and
/// `install` share: `verify` assembles into a temporary directory, `install` into the new
/// release's.
async fn assemble_and_check(
    src: &Path,
    base: Option<&Path>,
    into: &Path,
    settings: &Settings,
) -> anyhow::Result<Checked> {
    let sources = assemble(src, base, into)?;
    Ok(check(into, &sources, settings).await)
}

/// Copies the release into `into`; returns where each guest came from (a guest neither DIR
/// nor `base` holds is absent, and [`check`] refuses the set).
fn assemble(
    src: &Path,
    base: Option<&Path>,
    into: &Path,
) -> anyhow::Result<Vec<(&'static str, Source)>> {
    let src = std::fs::canonicalize(src)
        .with_context(|| format!("reading the release directory {}", src.display()))?;
    if !src.is_dir() {
        bail!("{} is not a directory", src.display());
    }
    // A manifest of another name is a mistake worth stopping for (a renamed file, a guest
    // this host does not have), not something to skip silently.
    for entry in std::fs::read_dir(&src).with_context(|| format!("reading {}", src.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            if !GUESTS.iter().any(|(g, _)| *g == stem) {
                bail!(
                    "{} holds {name}, which is no guest of this host (they are {})",
                    src.display(),
                    guest_names()
                );
            }
        }
    }
    let base = base.and_then(|b| std::fs::canonicalize(b).ok());
    let mut sources = Vec::new();
    for (name, _) in GUESTS {
        let manifest = format!("{name}.json");
        let (from, source) = if exists(&src.join(&manifest)) {
            (src.as_path(), Source::Given)
        } else {
            match &base {
                Some(b) if exists(&b.join(&manifest)) => (b.as_path(), Source::Kept),
                _ => continue,
            }
        };
        // The component is the file the manifest names; a manifest that does not parse is
        // refused by the check, so the conventional name is copied for it to report on.
        let component = release::claims(from, name)
            .0
            .map(|m| m.file)
            .filter(|f| is_plain_name(f))
            .unwrap_or_else(|| format!("{name}.wasm"));
        let signature = format!("{manifest}{SIGNATURE_SUFFIX}");
        // The licence notice travels with the component it describes, where the release has
        // one (text for people: not signed, never read by the host).
        let notice = format!("{name}{NOTICE_SUFFIX}");
        for file in [&manifest, &signature, &component, &notice] {
            copy_within(from, file, &into.join(file))?;
        }
        sources.push((name, source));
    }
    if !sources.iter().any(|(_, s)| *s == Source::Given) {
        bail!(
            "no guest release in {}: it holds none of {}",
            src.display(),
            GUESTS
                .iter()
                .map(|(g, _)| format!("{g}.json"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    sync_dir(into)?;
    Ok(sources)
}

/// A guest's licence notice file, after its name (`heif.NOTICE.txt`; scripts/guest-notice.py).
const NOTICE_SUFFIX: &str = ".NOTICE.txt";

fn guest_names() -> String {
    GUESTS.map(|(g, _)| g).join(", ")
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && !name.starts_with('.')
}

/// Copies `root/file` to `dest` (created new, never over a file), when it exists. A symlink
/// is followed only to a file inside `root`: a release directory unpacked from an archive
/// may hold links, and one to `/etc/shadow` must not put that file in a release.
fn copy_within(root: &Path, file: &str, dest: &Path) -> anyhow::Result<()> {
    let path = root.join(file);
    if !exists(&path) {
        return Ok(());
    }
    let resolved =
        std::fs::canonicalize(&path).with_context(|| format!("resolving {}", path.display()))?;
    if !resolved.starts_with(root) {
        bail!(
            "{} leads out of {} (to {}): refused",
            path.display(),
            root.display(),
            resolved.display()
        );
    }
    let source = std::fs::OpenOptions::new()
        .read(true)
        // Non-blocking and never a controlling terminal: a FIFO or a device in the source
        // directory is refused below, not waited on.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&resolved)
        .with_context(|| format!("opening {}", resolved.display()))?;
    let metadata = source.metadata()?;
    if !metadata.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    // A hard link to a file outside the directory cannot be told from a file inside it by
    // its path; a release's own files have one link each.
    if metadata.nlink() > 1 {
        bail!(
            "{} has {} hard links (it may be a file outside {}): refused",
            path.display(),
            metadata.nlink(),
            root.display()
        );
    }
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest)
        .with_context(|| format!("creating {}", dest.display()))?;
    use std::io::Read;
    let copied = std::io::copy(&mut source.take(MAX_COMPONENT_BYTES + 1), &mut target)
        .with_context(|| format!("copying {} to {}", path.display(), dest.display()))?;
    if copied > MAX_COMPONENT_BYTES {
        bail!(
            "{} is larger than {MAX_COMPONENT_BYTES} bytes: refused",
            path.display()
        );
    }
    target
        .sync_all()
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// Verifies each guest in release directory `dir` and, if all verify, compiles and links
/// the set with the worker's own loader ([`Sandbox::load`], which fills the compile cache as
/// it goes). `sources` says where each guest came from; a guest not in it is reported
/// missing.
async fn check(dir: &Path, sources: &[(&'static str, Source)], settings: &Settings) -> Checked {
    let trust = &settings.guests.paths.trust;
    let mut guests = GUESTS
        .iter()
        .map(|&(name, world)| {
            let source = sources
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(Source::Missing, |(_, s)| *s);
            let outcome = release::verify(dir, name, world, trust)
                .map(|v| Facts {
                    world: v.manifest.world.clone(),
                    version: v.manifest.version_or_unversioned(),
                    sha256: v.sha256,
                    key_id: v.key_id,
                })
                .map_err(|e| Refusal {
                    code: e.code(),
                    reason: e.to_string(),
                });
            GuestCheck {
                name,
                source,
                outcome,
            }
        })
        .collect::<Vec<_>>();
    let mut checked = Checked {
        guests: Vec::new(),
        other: None,
    };
    if guests.iter().all(|g| g.outcome.is_ok()) {
        let paths = GuestPaths {
            dir: dir.to_path_buf(),
            cache_dir: settings.guests.paths.cache_dir.clone(),
            trust: trust.clone(),
        };
        let limits = settings.guests.limits;
        let loaded = tokio::task::spawn_blocking(move || Sandbox::load(&paths, limits).map(drop))
            .await
            .unwrap_or_else(|e| {
                Err(SandboxError::Load {
                    guest: "engine",
                    message: format!("the loading thread failed: {e}"),
                })
            });
        if let Err(e) = loaded {
            let refusal = Refusal {
                code: e.code(),
                reason: e.to_string(),
            };
            let guest = match &e {
                SandboxError::Release { guest, .. } | SandboxError::Load { guest, .. } => {
                    Some(*guest)
                }
                _ => None,
            };
            match guests.iter_mut().find(|g| Some(g.name) == guest) {
                Some(g) => g.outcome = Err(refusal),
                None => checked.other = Some(refusal),
            }
        }
    }
    checked.guests = guests;
    checked
}

/// The directory of the release the guest directory runs now, by the worker's own rule
/// ([`layout::release_dir`]), so the commands and the worker agree on what runs: the release
/// `current` links to under `releases/`, or the directory itself (flat layout). Any other
/// `current` (a release that is gone, a real directory, a link elsewhere) is an error, never
/// the flat files: those left at the top of a directory installed into since are stale.
fn current_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    layout::release_dir(dir).map_err(|e| {
        anyhow::anyhow!(
            "{} is not in the form install writes (a link to a release in {}): {e}; fix it by \
             hand (point it at a release there) first",
            dir.join(CURRENT).display(),
            dir.join(RELEASES).display()
        )
    })
}

/// The current release's directory, if it holds any guest (a new guest directory has none).
fn current_release(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let release = current_dir(dir)?;
    Ok(GUESTS
        .iter()
        .any(|(g, _)| exists(&release.join(format!("{g}.json"))))
        .then_some(release))
}

/// A directory removed when dropped, unless kept: a refused or failed install leaves no
/// half-made release behind.
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Scratch {
    fn create(path: PathBuf) -> anyhow::Result<Scratch> {
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        Ok(Scratch { path, keep: false })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The install/rollback lock on guest directory `dir`, held until dropped: two installs at
/// once would each point `previous` at the same old release and lose one of theirs. An
/// exclusive `flock` on the directory itself, so no lock file appears in it.
fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("locking {}", dir.display()))?;
    Ok(file)
}

/// Removes what interrupted installs left under `releases/` (called under the lock, so no
/// install is still filling them).
fn remove_interrupted(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir.join(RELEASES)) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(INCOMING_PREFIX))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `releases/` made by this install: removed again if the install leaves it empty (a
/// refused first install leaves a flat directory as it found it).
struct MadeDir(Option<PathBuf>);

impl MadeDir {
    fn create(path: PathBuf) -> anyhow::Result<MadeDir> {
        if path.is_dir() {
            return Ok(MadeDir(None));
        }
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(MadeDir(Some(path)))
    }
}

impl Drop for MadeDir {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            // Fails, as it should, when the directory holds the new release.
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// The release id `link` names, if it is set: an error when it names something other than
/// a release under `releases/` (a link pointed by hand is not guessed at).
fn linked_release(dir: &Path, link: &str) -> anyhow::Result<Option<String>> {
    match layout::link_target(dir, link) {
        None => Ok(None),
        Some(target) => match layout::release_of(&target) {
            Some(id) => Ok(Some(id)),
            None => bail!(
                "{} names {}, not a release under {RELEASES}/: fix it by hand first",
                dir.join(link).display(),
                target.display()
            ),
        },
    }
}

async fn verify(src: &Path, settings: &Settings) -> anyhow::Result<i32> {
    let dir = &settings.guests.paths.dir;
    let scratch = Scratch::create(
        std::env::temp_dir().join(format!("attachd-verify-{}", uuid::Uuid::new_v4().simple())),
    )?;
    let base = current_release(dir)?;
    let checked = assemble_and_check(src, base.as_deref(), &scratch.path, settings).await?;
    let mut out = Printable(std::io::stdout().lock());
    writeln!(out, "release in {}:", src.display())?;
    checked.print(&mut out)?;
    if checked.ok() {
        writeln!(out, "OK: `attachd guests install` would take it")?;
        Ok(0)
    } else {
        writeln!(out, "refused: `attachd guests install` would not take it")?;
        Ok(1)
    }
}

async fn install(src: &Path, settings: &Settings) -> anyhow::Result<i32> {
    let dir = &settings.guests.paths.dir;
    let _lock = lock(dir)?;
    let old = linked_release(dir, CURRENT)?;
    let base = current_release(dir)?;
    // Declared before the scratch directory, so dropped after it.
    let _releases = MadeDir::create(dir.join(RELEASES))?;
    remove_interrupted(dir);
    let mut scratch = Scratch::create(dir.join(RELEASES).join(format!(
        "{INCOMING_PREFIX}{}",
        uuid::Uuid::new_v4().simple()
    )))?;
    let checked = assemble_and_check(src, base.as_deref(), &scratch.path, settings).await?;
    if !checked.ok() {
        for refusal in checked.refusals() {
            eprintln!("refused: {refusal}");
        }
        eprintln!("nothing installed; {} is unchanged", dir.display());
        return Ok(1);
    }
    let manifests = GUESTS
        .iter()
        .map(|(g, _)| {
            let file = format!("{g}.json");
            std::fs::read(scratch.path.join(&file))
                .map(|bytes| (file, bytes))
                .with_context(|| format!("reading {g}.json back"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let id = layout::release_id(chrono::Utc::now(), &manifests);
    let release = layout::release_path(dir, &id);
    if exists(&release) {
        bail!(
            "{} exists already: install again in a second",
            release.display()
        );
    }
    std::fs::rename(&scratch.path, &release)
        .with_context(|| format!("renaming the new release to {}", release.display()))?;
    scratch.keep = true;
    sync_dir(&dir.join(RELEASES))?;
    // `previous` first: interrupted between the two, both links name the old release, which
    // still runs; the other order would lose the way back.
    if let Some(old) = &old {
        layout::point(dir, PREVIOUS, old)
            .with_context(|| format!("pointing {PREVIOUS} at {old}"))?;
    }
    layout::point(dir, CURRENT, &id).with_context(|| format!("pointing {CURRENT} at {id}"))?;
    let mut out = Printable(std::io::stdout().lock());
    writeln!(out, "installed release {id} in {}", release.display())?;
    checked.print(&mut out)?;
    match &old {
        Some(old) => writeln!(
            out,
            "previous: {old} (`attachd guests rollback` returns to it)"
        )?,
        None => writeln!(
            out,
            "previous: none (the guest directory held no installed release)"
        )?,
    }
    writeln!(
        out,
        "a running worker takes it up within ATTACH_GUEST_WATCH_INTERVAL, or at SIGHUP"
    )?;
    Ok(0)
}

async fn rollback(settings: &Settings) -> anyhow::Result<i32> {
    let dir = &settings.guests.paths.dir;
    if !dir.join(RELEASES).is_dir() {
        eprintln!(
            "no installed release in {}: nothing to roll back to",
            dir.display()
        );
        return Ok(1);
    }
    let _lock = lock(dir)?;
    let Some(current) = linked_release(dir, CURRENT)? else {
        eprintln!(
            "{} has no current release: nothing to roll back from",
            dir.display()
        );
        return Ok(1);
    };
    let Some(previous) = linked_release(dir, PREVIOUS)? else {
        eprintln!(
            "{} has no previous release: nothing to roll back to",
            dir.display()
        );
        return Ok(1);
    };
    let release = layout::release_path(dir, &previous);
    let whole = GUESTS.map(|(g, _)| (g, Source::Installed));
    let checked = check(&release, &whole, settings).await;
    if !checked.ok() {
        for refusal in checked.refusals() {
            eprintln!("refused: {refusal}");
        }
        eprintln!(
            "not rolled back: the previous release {previous} does not load; {current} stays"
        );
        return Ok(1);
    }
    // `current` first: what the rollback is for. Interrupted between the two, both name the
    // release rolled back to, and the bad one is still on disk under releases/.
    layout::point(dir, CURRENT, &previous)
        .with_context(|| format!("pointing {CURRENT} at {previous}"))?;
    layout::point(dir, PREVIOUS, &current)
        .with_context(|| format!("pointing {PREVIOUS} at {current}"))?;
    audit_rollback(settings, &current, &previous).await;
    let mut out = Printable(std::io::stdout().lock());
    writeln!(out, "rolled back to release {previous} (from {current})")?;
    checked.print(&mut out)?;
    writeln!(
        out,
        "a running worker takes it up within ATTACH_GUEST_WATCH_INTERVAL, or at SIGHUP"
    )?;
    Ok(0)
}

/// Records the rollback in the audit log and, when the database answers, in its events
/// table. Best effort: the rollback has happened and must not be undone for want of a
/// database.
async fn audit_rollback(settings: &Settings, from: &str, to: &str) {
    let event = Event::new(
        Decision::GuestRolledBack,
        format!("guest release rolled back from {from} to {to}"),
    )
    .details(serde_json::json!({
        "from": from,
        "to": to,
        "dir": settings.guests.paths.dir,
    }));
    let db = match tokio::time::timeout(
        AUDIT_DATABASE_TIMEOUT,
        crate::app::database(&settings.store),
    )
    .await
    {
        Ok(Ok(db)) => Some(db),
        Ok(Err(e)) => {
            eprintln!("warning: the audit event is on the audit log only: {e:#}");
            None
        }
        Err(_) => {
            eprintln!(
                "warning: the audit event is on the audit log only: the database did not \
                 answer within {AUDIT_DATABASE_TIMEOUT:?}"
            );
            None
        }
    };
    let stored = db.is_some();
    if let Err(e) = Audit::new(db).record(event).await {
        if stored {
            eprintln!("warning: the audit event is on the audit log only: {e}");
        }
    }
}

/// A release as `list` shows it.
fn release_json(dir: &Path, settings: &Settings, verify: bool) -> serde_json::Value {
    let trust = &settings.guests.paths.trust;
    let guests = GUESTS
        .iter()
        .map(|&(name, world)| {
            let (manifest, key_id): (Option<Manifest>, Option<String>) = release::claims(dir, name);
            let mut g = serde_json::json!({
                "name": name,
                "world": manifest.as_ref().map(|m| m.world.clone()),
                "version": manifest.as_ref().map(|m| m.version_or_unversioned()),
                "sha256": manifest.as_ref().map(|m| m.sha256.clone()),
                "key_id": key_id,
            });
            if verify {
                let (verified, code, reason) = match release::verify(dir, name, world, trust) {
                    Ok(_) => (true, None, None),
                    Err(e) => (false, Some(e.code()), Some(e.to_string())),
                };
                g["verified"] = verified.into();
                g["code"] = code.into();
                g["reason"] = reason.into();
            }
            g
        })
        .collect::<Vec<_>>();
    serde_json::json!({ "path": dir, "guests": guests })
}

fn since_json(t: Option<SystemTime>) -> serde_json::Value {
    t.map(|t| {
        chrono::DateTime::<chrono::Utc>::from(t)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into()
    })
    .unwrap_or(serde_json::Value::Null)
}

/// The most of the worker's answer read: four guests' facts are under a kilobyte.
const WORKER_ANSWER_MAX_BYTES: usize = 64 * 1024;

/// `guests list --worker`: what the worker on ATTACH_METRICS_ADDR serves (its `/guests`),
/// asked as `attachd healthcheck` asks (the same timeouts, a wildcard address asked on
/// loopback).
fn list_loaded(settings: &Settings, json: bool) -> anyhow::Result<i32> {
    let addr = &settings.worker.metrics_addr;
    let answer = super::health::get(addr, "/guests", WORKER_ANSWER_MAX_BYTES)
        .map_err(|e| anyhow::anyhow!("asking the worker at {addr}: {e}"))?;
    if answer.status != 200 {
        bail!(
            "the worker at {addr} did not answer /guests ({})",
            answer.status
        );
    }
    let loaded: Vec<serde_json::Value> = serde_json::from_slice(&answer.body)
        .with_context(|| format!("the worker at {addr} answered /guests with no list"))?;
    if json {
        println!("{}", serde_json::Value::from(loaded));
        return Ok(0);
    }
    for g in &loaded {
        let field = |k: &str| g[k].as_str().map(printable).unwrap_or_else(|| "-".into());
        println!(
            "{:<10} {} {:<12} sha256:{} key {} since {}",
            field("name"),
            field("world"),
            field("version"),
            field("sha256"),
            field("key"),
            field("since")
        );
    }
    Ok(0)
}

fn list(settings: &Settings, json: bool) -> anyhow::Result<i32> {
    let dir = &settings.guests.paths.dir;
    let managed = layout::is_managed(dir);
    let current_id = linked_release(dir, CURRENT)?;
    let previous_id = linked_release(dir, PREVIOUS)?;
    let current_path = current_dir(dir)?;
    let since = if managed {
        layout::link_since(dir, CURRENT)
    } else {
        std::fs::metadata(dir).and_then(|m| m.modified()).ok()
    };
    let mut current = release_json(&current_path, settings, true);
    current["id"] = current_id.clone().into();
    current["since"] = since_json(since);
    let previous = previous_id.as_ref().map(|id| {
        let mut r = release_json(&layout::release_path(dir, id), settings, false);
        r["id"] = id.clone().into();
        r
    });
    let others = layout::installed(dir)
        .with_context(|| format!("listing {}", dir.join(RELEASES).display()))?
        .into_iter()
        .filter(|id| Some(id) != current_id.as_ref() && Some(id) != previous_id.as_ref())
        .map(|id| {
            let mut r = release_json(&layout::release_path(dir, &id), settings, false);
            r["id"] = id.into();
            r
        })
        .collect::<Vec<_>>();
    let report = serde_json::json!({
        "dir": dir,
        "layout": if managed { "managed" } else { "flat" },
        "current": current,
        "previous": previous,
        "releases": others,
    });
    let mut out = Printable(std::io::stdout().lock());
    if json {
        writeln!(out, "{report}")?;
        return Ok(0);
    }
    print_list(&mut out, &report)?;
    Ok(0)
}

fn print_list(out: &mut impl Write, r: &serde_json::Value) -> std::io::Result<()> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    writeln!(
        out,
        "guest directory {} ({})",
        s(&r["dir"]),
        s(&r["layout"])
    )?;
    let current = &r["current"];
    match current["id"].as_str() {
        Some(id) => writeln!(
            out,
            "current: release {id} at {} (since {})",
            s(&current["path"]),
            s(&current["since"])
        )?,
        None => writeln!(
            out,
            "current: the files in {} (since {})",
            s(&current["path"]),
            s(&current["since"])
        )?,
    }
    for g in current["guests"].as_array().into_iter().flatten() {
        let status = if g["verified"].as_bool() == Some(true) {
            "verifies".to_string()
        } else {
            format!("REFUSED {}: {}", s(&g["code"]), s(&g["reason"]))
        };
        writeln!(
            out,
            "  {:<10} {} version {} sha256 {} key {}: {status}",
            s(&g["name"]),
            s(&g["world"]),
            s(&g["version"]),
            s(&g["sha256"]),
            s(&g["key_id"]),
        )?;
    }
    let versions = |rel: &serde_json::Value| {
        rel["guests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| format!("{} {}", s(&g["name"]), s(&g["version"])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match r["previous"].as_object() {
        Some(_) => writeln!(
            out,
            "previous: release {}: {}",
            s(&r["previous"]["id"]),
            versions(&r["previous"])
        )?,
        None => writeln!(out, "previous: none")?,
    }
    let others = r["releases"].as_array().cloned().unwrap_or_default();
    if !others.is_empty() {
        writeln!(out, "other releases:")?;
        for rel in &others {
            writeln!(out, "  {}: {}", s(&rel["id"]), versions(rel))?;
        }
    }
    Ok(())
}

/// Standard output through [`printable`]: every command here prints through it.
struct Printable<W>(W);

impl<W: Write> Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .write_all(printable(&String::from_utf8_lossy(buf)).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_guests_commands_print_shows_no_escape_sequence_or_bidi_override() {
        let mut out = Printable(Vec::new());
        // A version string as a hostile manifest could hold it: erase the line, redraw it,
        // and reverse what follows.
        writeln!(out, "probe 1.0\x1b[2K\r\u{202E}verifies").unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "probe 1.0?[2K??verifies\n"
        );
    }
}
