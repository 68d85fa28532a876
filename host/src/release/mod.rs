//! Guest releases: how the host decides that a component may run.
//!
//! A release of one guest is three files in one directory: the component (`<name>.wasm`), its
//! manifest (`<name>.json`: name, world, version, sha256, build facts) and a detached minisign
//! signature over the manifest (`<name>.json.minisig`). The host loads a guest only when the
//! signature verifies under a key in `ATTACH_GUEST_TRUSTED_KEYS`, the manifest is that guest's
//! and names a world of this host's series, and the component's sha256 is the manifest's. The
//! keys live outside the guest directory: whoever can write the directory can replace the
//! files, but not sign them.
//!
//! The guest directory holds either the files themselves (what `make guests` writes), or
//! releases side by side under `releases/` with `current` (and `previous`) symlinks naming one
//! (what `attachd guests install` writes): see [`layout`].

pub mod layout;
mod manifest;
mod trust;

pub use manifest::{
    host_version, is_bidi_control, Manifest, Version, MAX_MANIFEST_BYTES, PACKAGE, WIT_VERSION,
};
pub use trust::{key_id, read_key_file, Trust, TrustedKey};

use crate::error::{Class, Code, ErrorCode};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest component read: the real guests are a few MiB; the bound keeps a planted file from
/// making the host read without limit before its digest is known.
pub const MAX_COMPONENT_BYTES: u64 = 256 * 1024 * 1024;
/// Largest signature file read: a minisign signature is four short lines.
const MAX_SIGNATURE_BYTES: u64 = 4096;
/// The signature file's suffix, after the manifest's name (minisign's own default).
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// The guests a release holds, by name, with the world each implements: the four the sandbox
/// loads, and the only names `attachd guests install` takes. `heif` implements the same world
/// as `thumbnail` with another decoder set (HEIC, AVIF), released as its own component.
pub const GUESTS: [(&str, &str); 4] = [
    ("probe", "prober"),
    ("scan", "scanner"),
    ("thumbnail", "thumbnailer"),
    ("heif", "thumbnailer"),
];

/// Why a guest release was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("cannot read {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("manifest refused: {reason}")]
    ManifestInvalid { reason: String },
    #[error("world {declared:?} refused ({why}); this host needs {needed}")]
    WorldIncompatible {
        declared: String,
        needed: String,
        why: String,
    },
    #[error("{file} has sha256 {actual}, the signed manifest says {expected}")]
    DigestMismatch {
        file: String,
        actual: String,
        expected: String,
    },
    #[error("no signature {path} (sign the release, or set ATTACH_GUEST_ALLOW_UNSIGNED=1 for development)")]
    SignatureMissing { path: PathBuf },
    #[error("signature {path} does not verify: {reason}")]
    SignatureInvalid { path: PathBuf, reason: String },
    #[error("signed by key {key_id}, which is not in ATTACH_GUEST_TRUSTED_KEYS")]
    KeyUntrusted { key_id: String },
    #[error("public key {origin}: {reason}")]
    KeyInvalid { origin: String, reason: String },
    #[error("signing failed: {reason}")]
    SignFailed { reason: String },
}

impl ErrorCode for ReleaseError {
    fn error_code(&self) -> Code {
        match self {
            ReleaseError::Unreadable { .. } => Code::GuestUnavailable,
            ReleaseError::ManifestInvalid { .. } => Code::GuestManifestInvalid,
            ReleaseError::WorldIncompatible { .. } => Code::GuestWorldIncompatible,
            ReleaseError::DigestMismatch { .. } => Code::GuestDigestMismatch,
            ReleaseError::SignatureMissing { .. } => Code::GuestSignatureMissing,
            ReleaseError::SignatureInvalid { .. } => Code::GuestSignatureInvalid,
            ReleaseError::KeyUntrusted { .. } => Code::GuestKeyUntrusted,
            ReleaseError::KeyInvalid { .. } | ReleaseError::SignFailed { .. } => {
                Code::GuestKeyInvalid
            }
        }
    }

    /// A refused release is refused until someone replaces it; a file that could not be
    /// read may be mid-copy.
    fn class(&self) -> Class {
        match self {
            ReleaseError::Unreadable { .. } => Class::Retryable,
            _ => Class::Permanent,
        }
    }
}

/// A guest whose release checked: what the sandbox compiles, and what it reports.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    /// The component's bytes, read once: the bytes hashed are the bytes compiled.
    pub component: Vec<u8>,
    /// sha256 of `component`, lowercase hex (equal to the manifest's).
    pub sha256: String,
    /// The minisign id of the key that signed it; `None` for an unsigned guest loaded under
    /// `ATTACH_GUEST_ALLOW_UNSIGNED`.
    pub key_id: Option<String>,
}

/// Reads and checks guest `name` (implementing `world`, e.g. `prober`) in release directory
/// `dir`, in the order that gives the truest reason: the signature over the manifest's bytes
/// first (an edited manifest is a bad signature, not a bad digest), then the manifest, then
/// the component against the digest the signature vouches for.
pub fn verify(
    dir: &Path,
    name: &str,
    world: &str,
    trust: &Trust,
) -> Result<Verified, ReleaseError> {
    let manifest_path = dir.join(format!("{name}.json"));
    let raw = read_capped(&manifest_path, MAX_MANIFEST_BYTES)?;
    let sig_path = signature_path(&manifest_path);
    // Missing means no entry at all: a dangling symlink is a signature that does not read.
    let key_id = match std::fs::symlink_metadata(&sig_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !trust.allow_unsigned {
                return Err(ReleaseError::SignatureMissing { path: sig_path });
            }
            None
        }
        _ => {
            let sig = read_capped(&sig_path, MAX_SIGNATURE_BYTES)?;
            Some(check_signature(&sig_path, &sig, &raw, trust)?)
        }
    };
    let manifest = Manifest::parse(&raw, name, world)?;
    let component_path = dir.join(&manifest.file);
    let component = read_capped(&component_path, MAX_COMPONENT_BYTES)?;
    let sha256 = hex(&Sha256::digest(&component));
    if !sha256.eq_ignore_ascii_case(&manifest.sha256) {
        return Err(ReleaseError::DigestMismatch {
            file: manifest.file.clone(),
            actual: sha256,
            expected: manifest.sha256.clone(),
        });
    }
    Ok(Verified {
        manifest,
        component,
        sha256,
        key_id,
    })
}

/// What guest `name`'s files in `dir` claim, read without checking them: its manifest if
/// it parses, and the id of the key its signature names if there is one. For showing a
/// release that may not verify ([`verify`] says whether it does).
pub fn claims(dir: &Path, name: &str) -> (Option<Manifest>, Option<String>) {
    let manifest_path = dir.join(format!("{name}.json"));
    let manifest = read_capped(&manifest_path, MAX_MANIFEST_BYTES)
        .ok()
        .and_then(|raw| serde_json::from_slice::<Manifest>(&raw).ok());
    let key = read_capped(&signature_path(&manifest_path), MAX_SIGNATURE_BYTES)
        .ok()
        .and_then(|sig| String::from_utf8(sig).ok())
        .and_then(|text| minisign::SignatureBox::from_string(&text).ok())
        .map(|sig_box| key_id(sig_box.keynum()));
    (manifest, key)
}

/// Where the signature of the manifest at `manifest` lives.
pub fn signature_path(manifest: &Path) -> PathBuf {
    let mut p = manifest.as_os_str().to_owned();
    p.push(SIGNATURE_SUFFIX);
    PathBuf::from(p)
}

/// Verifies minisign signature `sig` over `data`; returns the signing key's id.
fn check_signature(
    path: &Path,
    sig: &[u8],
    data: &[u8],
    trust: &Trust,
) -> Result<String, ReleaseError> {
    let invalid = |reason: String| ReleaseError::SignatureInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(sig).map_err(|_| invalid("not text".into()))?;
    let sig_box = minisign::SignatureBox::from_string(text).map_err(|e| invalid(e.to_string()))?;
    let id = key_id(sig_box.keynum());
    let key = trust
        .find(&id)
        .ok_or_else(|| ReleaseError::KeyUntrusted { key_id: id.clone() })?;
    // Prehashed (BLAKE2b) signatures only, what minisign writes by default since 0.8: the
    // legacy form signs the raw bytes and is refused by current minisign too.
    minisign::verify(
        &key.key,
        &sig_box,
        std::io::Cursor::new(data),
        true,
        false,
        false,
    )
    .map_err(|e| invalid(e.to_string()))?;
    Ok(id)
}

/// Writes `bytes` to a new file beside `path`, created exclusively without following a
/// symlink, then renames it over `path`: a symlink planted at `path` (say, to a file of the
/// signer's) is replaced, never written through.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |e: std::io::Error| ReleaseError::SignFailed {
        reason: format!("{}: {e}", path.display()),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    Ok(())
}

/// Reads at most `max` bytes of the regular file `path`; more is an error (never a silently
/// short read). Opened without following a symlink (a link to a secret the worker can read
/// would otherwise have its digest logged) and non-blocking, and checked to be a regular file
/// no larger than `max` before any read: a FIFO, a device or a huge sparse file planted in
/// the guest directory must not hang, flood or bloat a reload.
fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, ReleaseError> {
    use std::os::unix::fs::OpenOptionsExt;
    let unreadable = |message: String| ReleaseError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => unreadable("a symlink, not a regular file".into()),
            _ => unreadable(e.to_string()),
        })?;
    let meta = file.metadata().map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    if meta.len() > max {
        return Err(unreadable(format!("larger than {max} bytes")));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(unreadable(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A new minisign key pair for signing releases: the secret key is written owner-only and
/// never over an existing file; the public key is what operators put in
/// `ATTACH_GUEST_TRUSTED_KEYS`. With a password the secret key is encrypted (minisign's
/// scrypt box), as `minisign -G` does.
pub fn keygen(
    secret: &Path,
    public: &Path,
    password: Option<String>,
) -> Result<String, ReleaseError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |reason: String| ReleaseError::SignFailed { reason };
    for path in [secret, public] {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(failed(format!("{} exists already", path.display())));
        }
    }
    let pair = match password {
        Some(p) => minisign::KeyPair::generate_encrypted_keypair(Some(p)),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| failed(e.to_string()))?;
    let id = key_id(pair.pk.keynum());
    let sk_text = pair
        .sk
        .to_box(Some(&format!("attachd guest release secret key {id}")))
        .map_err(|e| failed(e.to_string()))?
        .into_string();
    let pk_text = pair
        .pk
        .to_box()
        .map_err(|e| failed(e.to_string()))?
        .into_string();
    let write = |path: &Path, text: &str, mode: u32| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| failed(format!("{}: {e}", path.display())))
    };
    write(secret, &sk_text, 0o600)?;
    write(public, &pk_text, 0o644)?;
    Ok(id)
}

/// Reads a secret key written by [`keygen`] or `minisign -G`; `password` for an encrypted
/// one (never prompted: this runs in release pipelines).
pub fn read_secret_key(
    path: &Path,
    password: Option<String>,
) -> Result<minisign::SecretKey, ReleaseError> {
    let failed = |reason: String| ReleaseError::SignFailed {
        reason: format!("{}: {reason}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let sk_box = minisign::SecretKeyBox::from_string(&text).map_err(|e| failed(e.to_string()))?;
    match password {
        Some(p) => sk_box.into_secret_key(Some(p)),
        None => sk_box.into_unencrypted_secret_key(),
    }
    .map_err(|e| failed(format!("{e} (an encrypted key needs its password)")))
}

/// Signs every guest manifest in `dir` (each `*.json` whose component's sha256 is the one it
/// names: a stale manifest is refused, not signed). Returns the manifests signed.
pub fn sign_dir(dir: &Path, key: &minisign::SecretKey) -> Result<Vec<String>, ReleaseError> {
    let unreadable = |e: std::io::Error| ReleaseError::Unreadable {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    let mut names = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect::<Vec<_>>();
    names.sort();
    let mut signed = Vec::new();
    for file in names {
        let path = dir.join(&file);
        let raw = read_capped(&path, MAX_MANIFEST_BYTES)?;
        let manifest = Manifest::parse_any(&raw).map_err(|e| ReleaseError::ManifestInvalid {
            reason: format!("{file}: {e}"),
        })?;
        if file != format!("{}.json", manifest.name) {
            return Err(ReleaseError::ManifestInvalid {
                reason: format!("{file} is the manifest of {:?}", manifest.name),
            });
        }
        let component = read_capped(&dir.join(&manifest.file), MAX_COMPONENT_BYTES)?;
        let actual = hex(&Sha256::digest(&component));
        if actual != manifest.sha256.to_ascii_lowercase() {
            return Err(ReleaseError::DigestMismatch {
                file: manifest.file,
                actual,
                expected: manifest.sha256,
            });
        }
        let comment = format!(
            "attachd guest {} {} {} sha256:{}",
            manifest.name,
            manifest.world,
            manifest.version_or_unversioned(),
            manifest.sha256
        );
        let sig = minisign::sign(
            None,
            key,
            std::io::Cursor::new(&raw),
            Some(&comment),
            Some("signature from attachd guests sign"),
        )
        .map_err(|e| ReleaseError::SignFailed {
            reason: e.to_string(),
        })?;
        write_new(&signature_path(&path), sig.into_string().as_bytes())?;
        signed.push(file);
    }
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed release of one guest, `probe`, in a fresh directory, and the trust in its key.
    fn signed_probe() -> (tempfile::TempDir, Trust) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("probe.wasm"), b"\0asm").unwrap();
        let manifest = serde_json::json!({"name": "probe", "world": "attach:media/prober@0.1.0",
            "version": "1.0.0", "file": "probe.wasm", "sha256": hex(&Sha256::digest(b"\0asm"))});
        std::fs::write(dir.path().join("probe.json"), manifest.to_string()).unwrap();
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        sign_dir(dir.path(), &pair.sk).unwrap();
        let trust = Trust::keys(vec![TrustedKey {
            id: key_id(pair.pk.keynum()),
            key: pair.pk,
        }]);
        (dir, trust)
    }

    #[test]
    fn a_component_over_the_cap_is_refused() {
        let (dir, trust) = signed_probe();
        verify(dir.path(), "probe", "prober", &trust).expect("the release verifies");
        // A sparse file: reading it would take the whole cap in memory.
        let file = std::fs::File::create(dir.path().join("probe.wasm")).unwrap();
        file.set_len(MAX_COMPONENT_BYTES + 1).unwrap();
        let e = verify(dir.path(), "probe", "prober", &trust).unwrap_err();
        assert_eq!(ErrorCode::code(&e), "guest-unavailable");
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[test]
    fn a_fifo_or_a_symlink_in_a_release_is_refused_without_being_read() {
        let (dir, trust) = signed_probe();
        let wasm = dir.path().join("probe.wasm");
        // A FIFO no one writes: opening it for reading would block forever.
        std::fs::remove_file(&wasm).unwrap();
        let path = std::ffi::CString::new(wasm.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let e = verify(dir.path(), "probe", "prober", &trust).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // A link to a file the worker can read: its digest would reach the log.
        std::fs::remove_file(&wasm).unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"hunter2").unwrap();
        std::os::unix::fs::symlink(&secret, &wasm).unwrap();
        let e = verify(dir.path(), "probe", "prober", &trust).unwrap_err();
        assert!(e.to_string().contains("a symlink"), "{e}");
        assert!(
            !e.to_string().contains(&hex(&Sha256::digest(b"hunter2"))),
            "{e}"
        );
    }

    #[test]
    fn signing_refuses_a_manifest_whose_component_is_not_the_one_it_names() {
        let (dir, _) = signed_probe();
        std::fs::write(dir.path().join("probe.wasm"), b"\0asm, changed").unwrap();
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let e = sign_dir(dir.path(), &pair.sk).unwrap_err();
        assert_eq!(ErrorCode::code(&e), "guest-digest-mismatch", "{e}");
    }

    #[test]
    fn signing_replaces_a_planted_signature_symlink_and_never_writes_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("authorized_keys");
        std::fs::write(&victim, "the signer's file\n").unwrap();
        let release = dir.path().join("release");
        std::fs::create_dir(&release).unwrap();
        std::fs::write(release.join("probe.wasm"), b"\0asm").unwrap();
        let digest = hex(&Sha256::digest(b"\0asm"));
        let manifest = serde_json::json!({"name": "probe", "world": "attach:media/prober@0.1.0",
            "version": "1.0.0", "file": "probe.wasm", "sha256": digest});
        std::fs::write(release.join("probe.json"), manifest.to_string()).unwrap();
        std::os::unix::fs::symlink(&victim, release.join("probe.json.minisig")).unwrap();
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        sign_dir(&release, &pair.sk).unwrap();
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "the signer's file\n"
        );
        let sig = std::fs::symlink_metadata(release.join("probe.json.minisig")).unwrap();
        assert!(sig.is_file(), "the link was replaced by the signature");
    }

    #[test]
    fn signing_refuses_a_manifest_naming_a_file_elsewhere_or_holding_a_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let digest = hex(&Sha256::digest(b"x"));
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        for (file, version) in [
            ("/etc/hostname", "1.0.0"),
            ("probe.wasm", "1\nssh-ed25519 AAAA"),
        ] {
            std::fs::write(dir.path().join("probe.wasm"), b"x").unwrap();
            let manifest = serde_json::json!({"name": "probe", "world": "attach:media/prober@0.1.0",
                "version": version, "file": file, "sha256": digest});
            std::fs::write(dir.path().join("probe.json"), manifest.to_string()).unwrap();
            let e = sign_dir(dir.path(), &pair.sk).unwrap_err();
            assert_eq!(ErrorCode::code(&e), "guest-manifest-invalid", "{file}: {e}");
            assert!(!dir.path().join("probe.json.minisig").exists());
        }
    }
}
