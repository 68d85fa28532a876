//! Who may call the API: bearer tokens from a file (stored as their sha256, so the file
//! grants nothing to whoever reads it), each with scopes, each under a rate limit; and the
//! HMAC key that signs what attachd hands out (local upload and download URLs, review
//! sessions and their CSRF tokens).

use super::error::ApiError;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Characters of a token `attachd api-token` makes: 32 random bytes in URL-safe base64 after
/// the `atk_` prefix (which lets secret scanners recognise a leaked one).
pub const TOKEN_PREFIX: &str = "atk_";
/// Shortest token a request may present. The file holds only hashes, so a token's length
/// cannot be checked there; a presented token shorter than this never authenticates, so a
/// short, guessable secret hashed into the file by hand is useless (`api-token` makes 47).
pub const MIN_TOKEN_LEN: usize = 32;
/// Longest `Authorization` value read: a token is far shorter, and hashing megabytes per
/// request would be a cheap way to burn the server's CPU.
pub const MAX_TOKEN_LEN: usize = 512;
/// Bytes of the signing key: HMAC-SHA256's block is 64, its output 32; fewer than 32 would
/// make the key easier to guess than the MAC.
pub const MIN_SIGNING_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Sign, complete and read uploads: the application's backend.
    Upload,
    /// The review page and the review endpoints: security reviewers.
    Review,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Upload => "upload",
            Scope::Review => "review",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        match s {
            "upload" => Some(Scope::Upload),
            "review" => Some(Scope::Review),
            _ => None,
        }
    }
}

/// One caller: a name for logs and audit events, its scopes, and its token's sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub scopes: Vec<Scope>,
    hash: [u8; 32],
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope.as_str()))
        }
    }

    /// The token's sha256 in hex: what a review session is bound to, so that a token taken
    /// out of the file also ends its sessions (at the next start).
    pub fn token_hash(&self) -> String {
        crate::release::hex(&self.hash)
    }
}

/// The tokens file: `NAME SCOPES sha256:HEX` per line, `#` comments and blank lines ignored.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    callers: Vec<Caller>,
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the tokens file {}: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut callers: Vec<Caller> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |m: &str| format!("line {}: {m}", i + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, scopes, hash] = fields[..] else {
                return Err(at("expected NAME SCOPES sha256:HEX"));
            };
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
                || name.len() > 64
            {
                return Err(at("a name is 1 to 64 of A-Z a-z 0-9 - _ . @"));
            }
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s)
                        .ok_or_else(|| at(&format!("unknown scope {s:?} (upload, review)")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let hex = hash
                .strip_prefix("sha256:")
                .ok_or_else(|| at("the hash is sha256:HEX"))?;
            let hash = parse_hex32(hex).ok_or_else(|| at("sha256:HEX needs 64 hex digits"))?;
            if callers.iter().any(|c| c.name == name) {
                return Err(at(&format!("the name {name} is used twice")));
            }
            if callers.iter().any(|c| c.hash == hash) {
                return Err(at("the same token is listed twice"));
            }
            callers.push(Caller {
                name: name.to_owned(),
                scopes,
                hash,
            });
        }
        if callers.is_empty() {
            return Err("no tokens: the API would answer nobody".into());
        }
        Ok(Tokens { callers })
    }

    /// The caller whose token this is. Every entry is compared, in constant time, so the
    /// answer's timing says nothing about which entry (or how much of one) matched.
    pub fn find(&self, token: &str) -> Option<&Caller> {
        if token.len() < MIN_TOKEN_LEN || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for caller in &self.callers {
            if constant_time_eq(&caller.hash, &hash) {
                found = Some(caller);
            }
        }
        found
    }

    /// The caller called `name` (a review session names its caller; the session's signature
    /// covers the caller's token hash, so a token replaced under the same name ends it).
    pub fn by_name(&self, name: &str) -> Option<&Caller> {
        self.callers.iter().find(|c| c.name == name)
    }
}

/// The tokens file as loaded, swapped whole when it is read again (SIGHUP), so that a token
/// added or revoked takes effect without a restart. A file that no longer parses changes
/// nothing: the tokens loaded before stay.
#[derive(Debug)]
pub struct TokenSet {
    file: std::path::PathBuf,
    current: std::sync::RwLock<std::sync::Arc<Tokens>>,
}

impl TokenSet {
    pub fn load(file: &Path) -> Result<TokenSet, String> {
        Ok(TokenSet {
            file: file.to_owned(),
            current: std::sync::RwLock::new(std::sync::Arc::new(Tokens::load(file)?)),
        })
    }

    /// The tokens now (a request keeps what it got, even across a reload).
    pub fn get(&self) -> std::sync::Arc<Tokens> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the file again; returns how many callers it lists now.
    pub fn reload(&self) -> Result<usize, String> {
        let tokens = Tokens::load(&self.file)?;
        let n = tokens.callers.len();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(tokens);
        Ok(n)
    }
}

/// A new token and its line for the tokens file.
pub fn new_token(name: &str, scopes: &[Scope]) -> Result<(String, String), String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    let token = format!("{TOKEN_PREFIX}{}", base64_url(&bytes));
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let line = format!(
        "{name} {} sha256:{}",
        scopes.join(","),
        crate::release::hex(&Sha256::digest(token.as_bytes()))
    );
    // The line must read back as this caller.
    let parsed = Tokens::parse(&line)?;
    debug_assert!(parsed.find(&token).is_some());
    Ok((token, line))
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Per-token token buckets: `rate` requests a second on average, `burst` at once.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `caller`'s bucket, or says how long until one is there. The
    /// map holds one entry per token in the file, so it cannot grow past it.
    pub fn take(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(
                Duration::try_from_secs_f64((1.0 - bucket.tokens) / self.rate)
                    .unwrap_or(Duration::MAX),
            )
        }
    }
}

/// The HMAC key behind every URL and session attachd signs.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < MIN_SIGNING_KEY_LEN {
            return Err(format!(
                "the signing key has {} bytes; it needs {MIN_SIGNING_KEY_LEN} or more",
                bytes.len()
            ));
        }
        Ok(SigningKey(bytes))
    }

    /// Reads the key file, or makes one (random, readable by its owner only) where none is.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match std::fs::read(path) {
            Ok(bytes) => SigningKey::new(bytes).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = vec![0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                }
                write_private(path, &bytes)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "made a new API signing key");
                // Another server may have made it first: whatever is there now is the key.
                SigningKey::load_or_create(path)
            }
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// HMAC-SHA256 of `parts` joined by NUL (no part holds one), in hex.
    pub fn sign(&self, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(b"\0");
            }
            mac.update(part.as_bytes());
        }
        crate::release::hex(&mac.finalize().into_bytes())
    }

    pub fn verify(&self, parts: &[&str], signature: &str) -> bool {
        constant_time_eq(self.sign(parts).as_bytes(), signature.as_bytes())
    }
}

/// Creates `path` with mode 0600 (failing if it exists: never overwrite a key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_made_by_api_token_authenticates_with_its_scopes_and_nothing_else_does() {
        let (token, line) = new_token("app", &[Scope::Upload]).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() >= MIN_TOKEN_LEN);
        let (other, other_line) = new_token("rev", &[Scope::Review, Scope::Upload]).unwrap();
        let tokens = Tokens::parse(&format!("# comment\n\n{line}\n{other_line}\n")).unwrap();
        let app = tokens.find(&token).unwrap();
        assert_eq!(app.name, "app");
        assert!(app.has(Scope::Upload) && !app.has(Scope::Review));
        assert!(matches!(
            app.require(Scope::Review),
            Err(ApiError::InsufficientScope("review"))
        ));
        assert_eq!(tokens.find(&other).unwrap().name, "rev");
        // A token one character off, a prefix of one, or its hash itself: nobody.
        let last = if token.ends_with('A') { 'B' } else { 'A' };
        let wrong = format!("{}{last}", &token[..token.len() - 1]);
        assert!(tokens.find(&wrong).is_none());
        assert!(tokens.find(&token[..token.len() - 1]).is_none());
        assert!(tokens.find(&app.token_hash()).is_none());
        assert!(tokens.find("").is_none());
    }

    #[test]
    fn the_tokens_file_refuses_what_it_cannot_read_exactly() {
        let hash = format!("sha256:{}", "a".repeat(64));
        assert!(Tokens::parse("").is_err(), "no tokens");
        assert!(Tokens::parse(&format!("app upload {hash} extra")).is_err());
        assert!(Tokens::parse(&format!("app admin {hash}")).is_err());
        assert!(Tokens::parse(&format!("a<b upload {hash}")).is_err());
        assert!(Tokens::parse("app upload sha256:abc").is_err());
        assert!(Tokens::parse(&format!("app upload {}", "a".repeat(64))).is_err());
        assert!(Tokens::parse(&format!("a upload {hash}\nb review {hash}")).is_err());
        assert!(Tokens::parse(&format!(
            "a upload {hash}\na review sha256:{}",
            "b".repeat(64)
        ))
        .is_err());
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.take("a", t0).unwrap();
        }
        let wait = limiter.take("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another token has its own bucket.
        limiter.take("b", t0).unwrap();
        // Half a second later one request is allowed again, and only one.
        let t1 = t0 + Duration::from_millis(500);
        limiter.take("a", t1).unwrap();
        assert!(limiter.take("a", t1).is_err());
    }

    #[test]
    fn signatures_cover_every_part_and_its_boundaries() {
        let key = SigningKey::new(vec![7; 32]).unwrap();
        let sig = key.sign(&["PUT", "uploads/a", "10"]);
        assert!(key.verify(&["PUT", "uploads/a", "10"], &sig));
        assert!(!key.verify(&["PUT", "uploads/a", "11"], &sig));
        assert!(!key.verify(&["PUT", "uploads/a1", "0"], &sig));
        assert!(!key.verify(&["GET", "uploads/a", "10"], &sig));
        let other = SigningKey::new(vec![8; 32]).unwrap();
        assert!(!other.verify(&["PUT", "uploads/a", "10"], &sig));
        assert!(SigningKey::new(vec![1; 31]).is_err());
    }

    #[test]
    fn a_missing_key_file_is_made_private_and_then_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/api-signing.key");
        let key = SigningKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(key.sign(&["x"]), again.sign(&["x"]));
    }
}
