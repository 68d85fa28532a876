//! A guest release's manifest: the JSON file beside each component that names it, the WIT
//! world it implements, its version, the component's sha256 and how it was built. The
//! signature covers these bytes, so everything the host believes about a component comes from
//! a document a release key vouched for.

use super::ReleaseError;
use serde::{Deserialize, Serialize};

/// Largest manifest read: a real one is a few hundred bytes; the bound keeps a planted file
/// from making the host read and parse without limit.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// The version of the `attach:media` WIT package this host binds (`wit/media.wit`). Guests of
/// the same series (`0.1.x`) serve it: see [`Version::serves`].
pub const WIT_VERSION: &str = "0.1.0";
/// The WIT package every guest world belongs to.
pub const PACKAGE: &str = "attach:media";

/// The manifest, as signed.
/// Unknown fields are ignored: a newer release tool may add facts an older host does not
/// read (they are still covered by the signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// `attach:media/<world>@<version>`.
    pub world: String,
    /// The release's own version (the guest crate's), shown to operators and recorded with
    /// every upload the guest processed.
    #[serde(default)]
    pub version: Option<String>,
    /// The component's file name, beside the manifest.
    pub file: String,
    /// sha256 of the component, lowercase hex.
    pub sha256: String,
    /// How it was built (commit, compiler, profile): free-form, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<serde_json::Value>,
}

impl Manifest {
    /// Parses a manifest and checks what can be checked without the component: it is guest
    /// `name`'s, it names a plain file beside it, and its world is `world` at a version this
    /// host binds.
    pub fn parse(raw: &[u8], name: &str, world: &str) -> Result<Manifest, ReleaseError> {
        let manifest = Manifest::parse_any(raw)?;
        if manifest.name != name {
            return Err(ReleaseError::ManifestInvalid {
                reason: format!("it is the manifest of {:?}, not of {name:?}", manifest.name),
            });
        }
        check_world(&manifest.world, world)?;
        Ok(manifest)
    }

    /// Parses any guest's manifest (what `attachd guests sign` signs): a plain file name
    /// beside it, a sha256 of 64 hex digits, and no control character in the fields shown to
    /// people (a manifest's text reaches terminals, logs and the signature's trusted comment).
    pub fn parse_any(raw: &[u8]) -> Result<Manifest, ReleaseError> {
        let invalid = |reason: String| ReleaseError::ManifestInvalid { reason };
        let manifest: Manifest =
            serde_json::from_slice(raw).map_err(|e| invalid(format!("not a manifest: {e}")))?;
        // The manifest names a file beside it, never a path elsewhere.
        if manifest.file.is_empty()
            || manifest.file.contains(['/', '\\', '\0'])
            || manifest.file.starts_with('.')
        {
            return Err(invalid(format!(
                "file name {:?} is not a plain file name",
                manifest.file
            )));
        }
        if manifest.sha256.len() != 64 || !manifest.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "sha256 {:?} is not 64 hex digits",
                manifest.sha256
            )));
        }
        let shown = [&manifest.name, &manifest.world, &manifest.file]
            .into_iter()
            .chain(manifest.version.as_ref());
        for field in shown {
            if field.chars().any(|c| c.is_control() || is_bidi_control(c)) {
                return Err(invalid(format!("{field:?} holds a control character")));
            }
        }
        Ok(manifest)
    }

    /// The version shown and recorded: the manifest's, or `unversioned` for a development
    /// build that has none.
    pub fn version_or_unversioned(&self) -> String {
        self.version
            .clone()
            .unwrap_or_else(|| "unversioned".to_string())
    }
}

/// Unicode's bidirectional overrides and isolates: not control characters to Rust, but they
/// reorder what a terminal shows.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// A semantic version `major.minor.patch` (pre-release and build tags are not used by WIT
/// package versions here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.split('.');
        let mut next = || parts.next()?.parse::<u64>().ok();
        let v = Version {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        parts.next().is_none().then_some(v)
    }

    /// Whether a guest built against `self` can serve a host built against `host`: the same
    /// semver-compatible series (the same major; below 1.0, the same minor, as Cargo and
    /// wasmtime read 0.x versions), at any patch or later minor. An older minor may lack a
    /// function the host calls; the host's bindings then refuse it by name at link time.
    pub fn serves(self, host: Version) -> bool {
        if host.major == 0 {
            self.major == 0 && self.minor == host.minor
        } else {
            self.major == host.major
        }
    }

    /// The series a compatible guest must belong to, as people write it: `0.1.x`, `1.x`.
    pub fn series(self) -> String {
        if self.major == 0 {
            format!("0.{}.x", self.minor)
        } else {
            format!("{}.x", self.major)
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The WIT version this host binds.
pub fn host_version() -> Version {
    Version::parse(WIT_VERSION).expect("WIT_VERSION is major.minor.patch")
}

/// Checks that `declared` (`attach:media/prober@0.1.1`) is world `world` of this package at a
/// version that serves this host.
fn check_world(declared: &str, world: &str) -> Result<(), ReleaseError> {
    let host = host_version();
    let needed = format!("{PACKAGE}/{world}@{}", host.series());
    let refuse = |why: String| ReleaseError::WorldIncompatible {
        declared: declared.to_string(),
        needed: needed.clone(),
        why,
    };
    let (path, version) = declared
        .split_once('@')
        .ok_or_else(|| refuse("it has no version".into()))?;
    if path != format!("{PACKAGE}/{world}") {
        return Err(refuse(format!("it is another world ({path})")));
    }
    let version = Version::parse(version)
        .ok_or_else(|| refuse(format!("{version:?} is not a major.minor.patch version")))?;
    if !version.serves(host) {
        return Err(refuse(format!(
            "version {version} is not in this host's series {}",
            host.series()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(world: &str) -> Vec<u8> {
        serde_json::json!({
            "name": "probe", "world": world, "version": "0.1.0",
            "file": "probe.wasm", "sha256": "ab".repeat(32),
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_newer_patch_or_minor_of_the_hosts_series_is_accepted() {
        for world in ["attach:media/prober@0.1.0", "attach:media/prober@0.1.7"] {
            Manifest::parse(&manifest(world), "probe", "prober").unwrap();
        }
    }

    #[test]
    fn another_series_or_world_is_refused_naming_what_the_host_needs() {
        for world in [
            "attach:media/prober@0.2.0",
            "attach:media/prober@1.1.0",
            "attach:media/scanner@0.1.0",
            "attach:other/prober@0.1.0",
            "attach:media/prober",
            "attach:media/prober@0.1",
        ] {
            let e = Manifest::parse(&manifest(world), "probe", "prober").unwrap_err();
            assert!(
                e.to_string().contains("attach:media/prober@0.1.x"),
                "{world}: {e}"
            );
            assert_eq!(
                crate::error::ErrorCode::code(&e),
                "guest-world-incompatible"
            );
        }
    }

    #[test]
    fn a_manifest_naming_a_path_another_guest_no_digest_or_control_characters_is_refused() {
        let bad = [
            serde_json::json!({"name": "probe", "world": "attach:media/prober@0.1.0",
                "file": "../x.wasm", "sha256": "ab".repeat(32)}),
            serde_json::json!({"name": "scan", "world": "attach:media/prober@0.1.0",
                "file": "probe.wasm", "sha256": "ab".repeat(32)}),
            serde_json::json!({"name": "probe", "world": "attach:media/prober@0.1.0",
                "file": "probe.wasm", "sha256": "abc"}),
            serde_json::json!({"name": "probe", "world": "attach:media/prober@0.1.0",
                "version": "1\nssh-ed25519 AAAA attacker", "file": "probe.wasm",
                "sha256": "ab".repeat(32)}),
            serde_json::json!({"name": "probe", "world": "attach:media/prober@0.1.0",
                "version": "1.0\u{202E}", "file": "probe.wasm", "sha256": "ab".repeat(32)}),
        ];
        for m in bad {
            let e = Manifest::parse(m.to_string().as_bytes(), "probe", "prober").unwrap_err();
            assert_eq!(
                crate::error::ErrorCode::code(&e),
                "guest-manifest-invalid",
                "{m}"
            );
        }
    }
}
