//! Finding, verifying and compiling guest components. Guests ship on their own, so the host
//! loads them at run time from a directory: `<name>.wasm` beside a `<name>.json` manifest
//! that names the WIT world the guest implements and the file's sha256. The host refuses a
//! guest whose digest or world does not match, and caches Cranelift's output on disk keyed by
//! that digest and the engine's configuration, so a restart does not compile again. The cache
//! is native code the host will run, so it is trusted only after the checks in [`cache`].

mod cache;

use super::SandboxError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The version of the `attach:media` WIT package this host binds.
pub const WIT_VERSION: &str = "0.1.0";

#[derive(Debug, serde::Deserialize)]
struct Manifest {
    name: String,
    world: String,
    #[serde(default)]
    version: Option<String>,
    file: String,
    sha256: String,
}

/// Which release of a guest did a piece of work: recorded with every upload it processed, so a
/// bad release can be traced to the uploads it touched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GuestRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// Loads guest `name` from `dir`, checking it implements `world` (e.g. `prober`).
pub fn load(
    engine: &Engine,
    dir: &Path,
    cache_dir: Option<&Path>,
    name: &'static str,
    world: &str,
) -> Result<(Component, CacheOrigin, GuestRef), SandboxError> {
    let fail = |message: String| SandboxError::Load {
        guest: name,
        message,
    };
    let manifest_path = dir.join(format!("{name}.json"));
    let manifest: Manifest = std::fs::read(&manifest_path)
        .map_err(|e| fail(format!("{}: {e}", manifest_path.display())))
        .and_then(|raw| {
            serde_json::from_slice(&raw)
                .map_err(|e| fail(format!("{}: {e}", manifest_path.display())))
        })?;
    let expected_world = format!("attach:media/{world}@{WIT_VERSION}");
    if manifest.name != name || manifest.world != expected_world {
        return Err(fail(format!(
            "manifest says {} implementing {}, this host needs {name} implementing {expected_world}",
            manifest.name, manifest.world
        )));
    }
    // The manifest names a file beside it, never a path elsewhere.
    if manifest.file.contains(['/', '\\']) || manifest.file.starts_with('.') {
        return Err(fail(format!(
            "manifest file name {:?} is not a plain file name",
            manifest.file
        )));
    }
    let wasm_path = dir.join(&manifest.file);
    let bytes =
        std::fs::read(&wasm_path).map_err(|e| fail(format!("{}: {e}", wasm_path.display())))?;
    let digest = hex(&Sha256::digest(&bytes));
    if !digest.eq_ignore_ascii_case(&manifest.sha256) {
        return Err(fail(format!(
            "{} has sha256 {digest}, the manifest says {}",
            wasm_path.display(),
            manifest.sha256
        )));
    }

    let guest_ref = GuestRef {
        name: name.to_string(),
        version: manifest.version.unwrap_or_else(|| "unversioned".into()),
        sha256: digest.clone(),
    };
    let Some(cache_dir) = cache_dir else {
        let component = Component::new(engine, &bytes).map_err(|e| fail(format!("{e:#}")))?;
        return Ok((component, CacheOrigin::Uncached, guest_ref));
    };
    let artifact = cache_dir.join(format!("{digest}-{}.cwasm", engine_key(engine)));
    let refused = match cache::read_verified(cache_dir, &artifact) {
        Ok(compiled) => {
            // SAFETY: `deserialize` runs native code from these bytes, so they must be what
            // this host compiled. They are: `read_verified` read them (no symlink followed)
            // from a regular file and a directory both owned by this user and writable by
            // no one else, and their sha256 equals the digest this host recorded beside them
            // when it wrote them. They are deserialized from that same buffer, so nothing can
            // change between the check and the use. The file name carries the guest's digest
            // and the engine's compatibility hash, and wasmtime checks the artifact's header
            // and version too.
            match unsafe { Component::deserialize(engine, &compiled) } {
                Ok(component) => return Ok((component, CacheOrigin::Cache, guest_ref)),
                Err(e) => format!("wasmtime refused it: {e}"),
            }
        }
        Err(why) => why,
    };
    if !refused.starts_with(cache::ABSENT) {
        tracing::warn!(guest = name, path = %artifact.display(), reason = %refused,
            "not using the cached compiled guest; compiling again");
    }
    let component = Component::new(engine, &bytes).map_err(|e| fail(format!("{e:#}")))?;
    if let Err(e) = cache::write(cache_dir, &artifact, &component) {
        tracing::warn!(guest = name, path = %artifact.display(), error = %e,
            "could not cache the compiled component");
    }
    Ok((
        component,
        CacheOrigin::Compiled { reason: refused },
        guest_ref,
    ))
}

/// Where a guest's compiled code came from when it was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOrigin {
    /// The compile cache, after its checks passed.
    Cache,
    /// Compiled now; `reason` says why the cache was not used (absent, or refused).
    Compiled { reason: String },
    /// Compiled now; no cache is configured.
    Uncached,
}

/// A short stable key for the engine's compilation settings: artifacts compiled under other
/// settings (or another wasmtime) get another file name instead of a load error.
fn engine_key(engine: &Engine) -> String {
    // DefaultHasher::new() uses fixed keys, so the value is stable across runs of one build.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
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
