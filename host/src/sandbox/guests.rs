//! Compiling verified guest components. What may run is decided in [`crate::release`]
//! (signature, key, manifest, digest, world); this module turns a verified component into
//! wasmtime's compiled form, caching Cranelift's output on disk keyed by the component's
//! digest and the engine's configuration, so a restart does not compile again. The cache is
//! native code the host will run, so it is trusted only after the checks in [`cache`].

mod cache;

use super::SandboxError;
use crate::release::Verified;
use std::hash::{Hash, Hasher};
use std::path::Path;
use wasmtime::component::Component;
use wasmtime::Engine;

pub use crate::release::hex;

pub use crate::release::WIT_VERSION;

/// Which release of a guest did a piece of work: recorded with every upload it processed, so a
/// bad release can be traced to the uploads it touched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GuestRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// Compiles guest `name`'s verified component (or takes it from the checked cache).
pub fn compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    name: &'static str,
    verified: &Verified,
) -> Result<(Component, CacheOrigin), SandboxError> {
    let fail = |message: String| SandboxError::Load {
        guest: name,
        message,
    };
    let bytes = &verified.component;
    let Some(cache_dir) = cache_dir else {
        let component = Component::new(engine, bytes).map_err(|e| fail(format!("{e:#}")))?;
        return Ok((component, CacheOrigin::Uncached));
    };
    let artifact = cache_dir.join(format!("{}-{}.cwasm", verified.sha256, engine_key(engine)));
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
                Ok(component) => return Ok((component, CacheOrigin::Cache)),
                Err(e) => format!("wasmtime refused it: {e}"),
            }
        }
        Err(why) => why,
    };
    if !refused.starts_with(cache::ABSENT) {
        tracing::warn!(guest = name, path = %artifact.display(), reason = %refused,
            "not using the cached compiled guest; compiling again");
    }
    let component = Component::new(engine, bytes).map_err(|e| fail(format!("{e:#}")))?;
    if let Err(e) = cache::write(cache_dir, &artifact, &component) {
        tracing::warn!(guest = name, path = %artifact.display(), error = %e,
            "could not cache the compiled component");
    }
    Ok((component, CacheOrigin::Compiled { reason: refused }))
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
