//! Finding, verifying and compiling guest components. Guests ship on their own, so the host
//! loads them at run time from a directory: `<name>.wasm` beside a `<name>.json` manifest
//! that names the WIT world the guest implements and the file's sha256. The host refuses a
//! guest whose digest or world does not match, and caches Cranelift's output on disk keyed by
//! that digest and the engine's configuration, so a restart does not compile again.

use super::SandboxError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The version of the `attach:media` WIT package this host binds.
pub const WIT_VERSION: &str = "0.1.0";

#[derive(Debug, serde::Deserialize)]
struct Manifest {
    name: String,
    world: String,
    file: String,
    sha256: String,
}

/// Loads guest `name` from `dir`, checking it implements `world` (e.g. `prober`).
pub fn load(
    engine: &Engine,
    dir: &Path,
    cache_dir: Option<&Path>,
    name: &'static str,
    world: &str,
) -> Result<Component, SandboxError> {
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

    let cached = cache_dir.map(|d| d.join(format!("{digest}-{}.cwasm", engine_key(engine))));
    if let Some(path) = cached.as_deref().filter(|p| p.is_file()) {
        // SAFETY: the cache holds only artifacts this host wrote with `Component::serialize`
        // for this engine configuration (the file name carries the engine's compatibility
        // hash) into a directory created with owner-only permissions. wasmtime also checks
        // the artifact's header and version before using it.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => return Ok(component),
            Err(e) => tracing::warn!(guest = name, path = %path.display(), error = %e,
                "ignoring unusable cached component; compiling again"),
        }
    }
    let component = Component::new(engine, &bytes).map_err(|e| fail(format!("{e:#}")))?;
    if let Some(path) = cached {
        if let Err(e) = write_cache(&component, &path) {
            tracing::warn!(guest = name, path = %path.display(), error = %e,
                "could not cache the compiled component");
        }
    }
    Ok(component)
}

fn write_cache(component: &Component, path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    // Rename is atomic: a concurrent reader sees the old file or the whole new one.
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
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
