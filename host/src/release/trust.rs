//! Who may release guests: the minisign public keys in `ATTACH_GUEST_TRUSTED_KEYS`, and the
//! development switch that lets unsigned guests load.
//!
//! The format is minisign's (Ed25519, keys and signatures as the `minisign` tool writes them),
//! so a release can be signed with `attachd guests sign` or with `minisign -S` and checked
//! with either.

use super::ReleaseError;
use std::path::Path;

/// Largest key file read: a minisign public key file is two lines; a trust file with many
/// keys stays far below this.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// One trusted key.
#[derive(Clone)]
pub struct TrustedKey {
    /// minisign's key id, as `minisign` prints it (16 upper-case hex digits).
    pub id: String,
    pub key: minisign::PublicKey,
}

/// Keys are the same key when their ids and key bytes are.
impl PartialEq for TrustedKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.key.to_bytes() == other.key.to_bytes()
    }
}

impl Eq for TrustedKey {}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey({})", self.id)
    }
}

/// What the host trusts to release guests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pub keys: Vec<TrustedKey>,
    /// `ATTACH_GUEST_ALLOW_UNSIGNED`: a guest without a signature loads (a signature that is
    /// present must still verify). For development only; warned and audited at start.
    pub allow_unsigned: bool,
}

impl Trust {
    /// Parses `ATTACH_GUEST_TRUSTED_KEYS`: entries separated by commas or new lines, each a
    /// minisign public key (the base64 line, `RW…`) or the path of a file of such keys (a
    /// `.pub` file as `minisign -G` writes it; `untrusted comment:` and `#` lines skipped).
    pub fn parse(setting: &str, allow_unsigned: bool) -> Result<Trust, ReleaseError> {
        let mut keys = Vec::new();
        for entry in setting
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if looks_like_key(entry) {
                keys.push(parse_key(entry, "ATTACH_GUEST_TRUSTED_KEYS")?);
            } else {
                keys.extend(read_key_file(Path::new(entry))?);
            }
        }
        Ok(Trust {
            keys,
            allow_unsigned,
        })
    }

    /// Trust in exactly these keys.
    pub fn keys(keys: Vec<TrustedKey>) -> Trust {
        Trust {
            keys,
            allow_unsigned: false,
        }
    }

    /// The trusted key with minisign id `id`.
    pub fn find(&self, id: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Whether any guest could load under this trust.
    pub fn can_load_anything(&self) -> bool {
        self.allow_unsigned || !self.keys.is_empty()
    }
}

/// A minisign public key line: base64 of 42 bytes, which starts `RW` (the `Ed` algorithm).
fn looks_like_key(entry: &str) -> bool {
    entry.len() == 56 && entry.starts_with("RW") && !entry.contains(['/', '.'])
}

fn parse_key(line: &str, source: &str) -> Result<TrustedKey, ReleaseError> {
    let key = minisign::PublicKey::from_base64(line).map_err(|e| ReleaseError::KeyInvalid {
        origin: source.to_string(),
        reason: e.to_string(),
    })?;
    Ok(TrustedKey {
        id: key_id(key.keynum()),
        key,
    })
}

/// Reads the keys in a minisign public key file (or a file of several).
pub fn read_key_file(path: &Path) -> Result<Vec<TrustedKey>, ReleaseError> {
    use std::io::Read;
    let source = path.display().to_string();
    let invalid = |reason: String| ReleaseError::KeyInvalid {
        origin: source.clone(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
        .map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("untrusted comment:"))
        .map(|l| parse_key(l, &source))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(invalid("it holds no public key".into()));
    }
    Ok(keys)
}

/// minisign's key id (8 bytes, little-endian) as `minisign` prints it.
pub fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    let n = keynum.len().min(8);
    bytes[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}
