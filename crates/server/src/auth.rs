//! Access control: HS256 JSON Web Tokens naming the topics a client may subscribe to and
//! publish on (feature `auth`).
//!
//! Verification is sans-IO: [`Verifier::verify`] takes the token and the current Unix time and
//! returns a [`Grant`] or an [`AuthError`]. Written here on RustCrypto's `hmac` + `sha2`
//! rather than with a JWT crate because the rules differ from the common defaults: `alg` is
//! pinned to `HS256` (`none`, `HS512`, anything else is refused), a `crit` header is refused,
//! `exp` is required, `nbf` is checked when present, and the clock leeway is
//! [`LEEWAY_SECS`] (the `jsonwebtoken` crate's defaults are 60 s and `nbf` unchecked).
//! Claims are read with `serde_json`: the payload is peer input, and a proven parser with
//! recursion and number limits is worth more here than a few microseconds.
//!
//! ```
//! use pushwire_server::auth::Verifier;
//! let v = Verifier::new(b"secret");
//! // Minted elsewhere (PyJWT, jsonwebtoken, ...): here with the test helper.
//! let t = pushwire_server::auth::sign_hs256(b"secret", r#"{"exp":2000000000,"subscribe":["chat.*"]}"#);
//! let g = v.verify(&t, 1_900_000_000).unwrap();
//! assert!(g.may_subscribe("chat.a.b"));
//! assert!(!g.may_subscribe("chat"));
//! assert!(!g.may_publish("chat.a"));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

/// base64url of `{"alg":"HS256","typ":"JWT"}`.
const COMMON_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Clock leeway for `nbf` (a token minted by a host whose clock runs a little ahead is not
/// refused). `exp` gets none: a connection is closed at `exp`, so a token must not be
/// accepted past it either.
pub const LEEWAY_SECS: u64 = 5;

/// Longest token accepted, in bytes (8 KiB). A token is decoded and hashed before it can be
/// refused, so this bounds the work one request can cause; a real token is a few hundred
/// bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. Every variant is answered `401` with `WWW-Authenticate: Bearer`;
/// the Display never contains the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token in `Authorization: Bearer` or `token=`.
    #[error("missing bearer token")]
    Missing,
    /// Not three base64url parts of JSON objects, or over [`MAX_TOKEN_BYTES`].
    #[error("malformed token")]
    Malformed,
    /// `alg` is not `HS256` (`none` included).
    #[error("token algorithm is not HS256")]
    Algorithm,
    /// The header has a `crit` member (no extension is understood).
    #[error("token has critical header extensions")]
    Critical,
    /// The HMAC does not match.
    #[error("bad token signature")]
    Signature,
    /// `exp` is missing or not a number.
    #[error("token has no exp claim")]
    NoExpiry,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
}

impl AuthError {
    /// The HTTP status: always `401`.
    pub fn status(&self) -> u16 {
        401
    }
}

/// Checks tokens against one HMAC key. Cheap to clone (the keyed HMAC state is shared); its
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct Verifier {
    /// The HMAC with the key already absorbed: cloning it skips the key schedule.
    mac: Arc<HmacSha256>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(<secret>)")
    }
}

impl Verifier {
    /// A verifier for tokens signed with `key`.
    pub fn new(key: &[u8]) -> Verifier {
        // HMAC takes keys of any length.
        let mac = match HmacSha256::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        Verifier { mac: Arc::new(mac) }
    }

    /// A verifier whose key is the bytes of the file at `path`, one trailing newline
    /// (`\n` or `\r\n`) trimmed.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Verifier> {
        let mut bytes = std::fs::read(path)?;
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the auth secret file is empty",
            ));
        }
        Ok(Verifier::new(&bytes))
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch): signature, `alg`, `crit`,
    /// `exp`, `nbf`; returns what it grants.
    pub fn verify(&self, token: &str, now: u64) -> Result<Grant, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        // The header first: an unpinned `alg` is refused before anything else is trusted.
        // The header nearly every minter writes (PyJWT, jsonwebtoken) is recognised by its
        // bytes, without a JSON parse: a third of the check's cost.
        if h64 != COMMON_HEADER {
            let header = decode_json(h64)?;
            if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
                return Err(AuthError::Algorithm);
            }
            if header.get("crit").is_some() {
                return Err(AuthError::Critical);
            }
        }
        let mut sig = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(s64, &mut sig) {
            Ok(32) => {}
            _ => return Err(AuthError::Signature),
        }
        let mut mac = (*self.mac).clone();
        mac.update(h64.as_bytes());
        mac.update(b".");
        mac.update(p64.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&sig).map_err(|_| AuthError::Signature)?;
        let claims = decode_json(p64)?;
        let exp = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or(AuthError::NoExpiry)?;
        if now >= exp {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or(AuthError::Malformed)?;
            if now.saturating_add(LEEWAY_SECS) < nbf {
                return Err(AuthError::NotYetValid);
            }
        }
        let sub = match claims.get("sub") {
            None => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AuthError::Malformed),
        };
        Ok(Grant {
            sub,
            exp,
            subscribe: topic_list(claims.get("subscribe"))?,
            publish: topic_list(claims.get("publish"))?,
        })
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` accepts every key length; keep the signature total anyway.
    panic!("HMAC-SHA256 refused a key")
}

fn decode_json(part: &str) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(AuthError::Malformed),
    }
}

/// A JWT NumericDate: seconds, possibly fractional (truncated); negative is refused.
fn numeric_date(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

fn topic_list(v: Option<&serde_json::Value>) -> Result<Vec<String>, AuthError> {
    match v {
        None => Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(str::to_string).ok_or(AuthError::Malformed))
            .collect(),
        Some(_) => Err(AuthError::Malformed),
    }
}

/// What a valid token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The `sub` claim, if any (who the token was issued to).
    pub sub: Option<String>,
    /// `exp`: seconds since the Unix epoch at which the token and every connection opened
    /// with it end.
    pub exp: u64,
    /// Topic patterns this token may subscribe to.
    pub subscribe: Vec<String>,
    /// Topic patterns this token may publish on.
    pub publish: Vec<String>,
}

impl Grant {
    /// Whether the `subscribe` claim covers `topic`.
    pub fn may_subscribe(&self, topic: &str) -> bool {
        self.subscribe.iter().any(|p| topic_matches(p, topic))
    }

    /// Whether the `publish` claim covers `topic` (it does not imply subscribing).
    pub fn may_publish(&self, topic: &str) -> bool {
        self.publish.iter().any(|p| topic_matches(p, topic))
    }
}

/// Whether `pattern` covers `topic`: equal, or a pattern ending in `*` whose prefix `topic`
/// extends by at least one character (`chat.*` covers `chat.a` and `chat.a.b`, not `chat`
/// or `chatx`).
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => topic.len() > prefix.len() && topic.starts_with(prefix),
        None => pattern == topic,
    }
}

/// Signs `claims` (a JSON object) as an HS256 JWT with `key`: for tests, examples and
/// benchmarks; production tokens come from the application's backend.
pub fn sign_hs256(key: &[u8], claims: &str) -> String {
    sign_with_header(key, r#"{"alg":"HS256","typ":"JWT"}"#, claims)
}

/// Like [`sign_hs256`] with any header (to test refusals).
pub fn sign_with_header(key: &[u8], header: &str, claims: &str) -> String {
    let mut t = URL_SAFE_NO_PAD.encode(header);
    t.push('.');
    t.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let mut mac = Verifier::new(key).mac.as_ref().clone();
    mac.update(t.as_bytes());
    let sig = mac.finalize().into_bytes();
    t.push('.');
    t.push_str(&URL_SAFE_NO_PAD.encode(sig));
    t
}

/// The token of a request: `Authorization: Bearer T`, else the `token` query parameter.
pub(crate) fn token_of(req: &crate::wire::Request) -> Option<String> {
    if let Some(v) = req.header_str("authorization") {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string());
    }
    req.query_param("token")
}

/// Seconds since the Unix epoch now.
pub(crate) fn unix_now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &[u8] = b"k3y";
    const NOW: u64 = 1_800_000_000;

    fn claims(extra: &str) -> String {
        format!(r#"{{"exp":{}{extra}}}"#, NOW + 60)
    }

    #[test]
    fn valid_token_grants_its_claims() {
        let t = sign_hs256(
            K,
            &claims(r#","sub":"u1","subscribe":["a","chat.*"],"publish":["a"]"#),
        );
        let g = Verifier::new(K).verify(&t, NOW).unwrap();
        assert_eq!(g.sub.as_deref(), Some("u1"));
        assert_eq!(g.exp, NOW + 60);
        assert!(g.may_subscribe("a") && g.may_publish("a"));
        assert!(g.may_subscribe("chat.x") && !g.may_publish("chat.x"));
    }

    #[test]
    fn refusals_each_with_their_reason() {
        let v = Verifier::new(K);
        let good = sign_hs256(K, &claims(""));
        assert!(v.verify(&good, NOW).is_ok());
        let cases: Vec<(String, AuthError)> = vec![
            ("".into(), AuthError::Malformed),
            ("a.b".into(), AuthError::Malformed),
            (format!("{good}.x"), AuthError::Malformed),
            (
                sign_with_header(K, r#"{"alg":"none"}"#, &claims("")),
                AuthError::Algorithm,
            ),
            (
                sign_with_header(K, r#"{"alg":"HS512"}"#, &claims("")),
                AuthError::Algorithm,
            ),
            (
                sign_with_header(K, r#"{"alg":"HS256","crit":["b64"]}"#, &claims("")),
                AuthError::Critical,
            ),
            (sign_hs256(b"other", &claims("")), AuthError::Signature),
            (sign_hs256(K, r#"{"sub":"x"}"#), AuthError::NoExpiry),
            (
                sign_hs256(K, &format!(r#"{{"exp":{NOW}}}"#)),
                AuthError::Expired,
            ),
            (
                sign_hs256(K, &claims(&format!(r#","nbf":{}"#, NOW + 6))),
                AuthError::NotYetValid,
            ),
            (
                sign_hs256(K, &claims(r#","subscribe":"a""#)),
                AuthError::Malformed,
            ),
        ];
        for (t, want) in cases {
            assert_eq!(v.verify(&t, NOW), Err(want), "{t}");
        }
        // nbf within the leeway passes
        let t = sign_hs256(K, &claims(&format!(r#","nbf":{}"#, NOW + 5)));
        assert!(v.verify(&t, NOW).is_ok());
        // a tampered payload (re-encoded, old signature) fails the signature
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{},"publish":["*"]}}"#, NOW + 60)),
            parts[2]
        );
        assert_eq!(v.verify(&forged, NOW), Err(AuthError::Signature));
        // too long
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(v.verify(&long, NOW), Err(AuthError::Malformed));
    }

    #[test]
    fn common_header_constant_is_what_it_says() {
        assert_eq!(
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            COMMON_HEADER
        );
    }

    #[test]
    fn wildcards() {
        assert!(topic_matches("chat.*", "chat.a"));
        assert!(topic_matches("chat.*", "chat.a.b"));
        assert!(!topic_matches("chat.*", "chat"));
        assert!(!topic_matches("chat.*", "chat."));
        assert!(!topic_matches("chat.*", "chatx"));
        assert!(topic_matches("chat", "chat"));
        assert!(!topic_matches("chat", "chat.a"));
        assert!(topic_matches("*", "anything"));
    }

    #[test]
    fn missing_claims_grant_nothing() {
        let t = sign_hs256(K, &claims(""));
        let g = Verifier::new(K).verify(&t, NOW).unwrap();
        assert!(!g.may_subscribe("a") && !g.may_publish("a"));
    }

    #[test]
    fn secret_file_trims_one_newline() {
        let dir = std::env::temp_dir().join(format!("pw-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s");
        std::fs::write(&p, b"k3y\n").unwrap();
        let t = sign_hs256(K, &claims(""));
        assert!(Verifier::from_file(&p).unwrap().verify(&t, NOW).is_ok());
        std::fs::write(&p, b"k3y\n\n").unwrap();
        assert!(Verifier::from_file(&p).unwrap().verify(&t, NOW).is_err());
        std::fs::write(&p, b"\n").unwrap();
        assert!(Verifier::from_file(&p).is_err());
        assert!(!format!("{:?}", Verifier::new(b"k3y")).contains("k3y"));
    }
}
