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
    /// The setting the keys were read from, read again at every reload ([`Trust::reread`]).
    setting: Option<String>,
}

impl Trust {
    /// Parses `ATTACH_GUEST_TRUSTED_KEYS`: entries separated by commas or new lines, each a
    /// minisign public key (the base64 line, `RW…`) or the absolute path of a file of such
    /// keys (a `.pub` file as `minisign -G` writes it; `untrusted comment:` and `#` lines
    /// skipped). An entry that decodes as a key is a key, even when it contains a `/` (base64
    /// does); anything else must be an absolute path, so no entry is ever read relative to the
    /// working directory, which may be one someone else can write.
    pub fn parse(setting: &str, allow_unsigned: bool) -> Result<Trust, ReleaseError> {
        let mut keys = Vec::new();
        for entry in setting
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if let Ok(key) = parse_key(entry, "ATTACH_GUEST_TRUSTED_KEYS") {
                keys.push(key);
            } else if Path::new(entry).is_absolute() {
                keys.extend(read_key_file(Path::new(entry))?);
            } else {
                return Err(ReleaseError::KeyInvalid {
                    origin: "ATTACH_GUEST_TRUSTED_KEYS".into(),
                    reason: "an entry is neither a minisign public key nor an absolute path \
                             to a file of them"
                        .into(),
                });
            }
        }
        Ok(Trust {
            keys,
            allow_unsigned,
            setting: Some(setting.to_string()),
        })
    }

    /// The keys as the setting names them now: the key files are read again, so an operator
    /// who drops a compromised key from its file and sends SIGHUP (`systemctl reload`) stops
    /// trusting it without a restart.
    pub fn reread(&self) -> Result<Trust, ReleaseError> {
        match &self.setting {
            Some(setting) => Trust::parse(setting, self.allow_unsigned),
            None => Ok(self.clone()),
        }
    }

    /// No key trusted: guests load only unsigned, and only if `allow_unsigned`.
    pub fn none(allow_unsigned: bool) -> Trust {
        Trust {
            allow_unsigned,
            ..Trust::default()
        }
    }

    /// Trust in exactly these keys.
    pub fn keys(keys: Vec<TrustedKey>) -> Trust {
        Trust {
            keys,
            allow_unsigned: false,
            setting: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh key's base64 line, and its id.
    fn key_line() -> (String, String) {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        (pair.pk.to_base64(), key_id(pair.pk.keynum()))
    }

    #[test]
    fn an_inline_key_is_a_key_even_when_its_base64_holds_a_slash() {
        // Base64 uses `/`: more than half of all keys contain one.
        let (line, id) = std::iter::repeat_with(key_line)
            .find(|(l, _)| l.contains('/'))
            .unwrap();
        let trust = Trust::parse(&line, false).expect("an inline key parses");
        assert_eq!(trust.keys.len(), 1);
        assert_eq!(trust.keys[0].id, id);
    }

    #[test]
    fn an_entry_that_is_not_a_key_is_read_only_from_an_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let (line, id) = key_line();
        let file = dir.path().join("release.pub");
        std::fs::write(
            &file,
            format!("untrusted comment: minisign public key\n{line}\n"),
        )
        .unwrap();
        let trust = Trust::parse(&file.to_string_lossy(), false).unwrap();
        assert_eq!(trust.keys[0].id, id);
        // A key file named relative to the working directory is refused, not read, even
        // though it is there.
        let mut here = tempfile::Builder::new()
            .suffix(".pub")
            .tempfile_in(".")
            .unwrap();
        std::io::Write::write_all(&mut here, line.as_bytes()).unwrap();
        let relative = here
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let e = Trust::parse(&relative, false).unwrap_err();
        assert_eq!(crate::error::ErrorCode::code(&e), "guest-key-invalid");
    }

    #[test]
    fn several_keys_are_trusted_together_for_a_rotation() {
        let ((a, ida), (b, idb)) = (key_line(), key_line());
        let trust = Trust::parse(&format!("{a}, {b}"), false).unwrap();
        assert!(trust.find(&ida).is_some() && trust.find(&idb).is_some());
    }
}
