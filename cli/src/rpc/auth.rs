//! The RPC secret: a bearer token read from a file.
//!
//! The engine API signs a short-lived JWT (HS256, `iat` within 60 s) with a shared 32-byte
//! secret; here the secret itself is the bearer token. That is what the operator's tools
//! (`curl -H`, `peerwire attach --rpc-secret`) can send without a JWT library, and over a
//! network it is as safe as the channel: put TLS (a reverse proxy) or an SSH tunnel in front
//! of a non-loopback `--rpc`.

use std::path::Path;

use hyper::header::HeaderValue;
use subtle::ConstantTimeEq;

/// The fewest characters a secret may have: 32 hex digits are 128 bits.
const MIN_LEN: usize = 32;
/// The most read from a secret file.
const MAX_LEN: usize = 4096;

/// A secret, compared in constant time.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Reads the secret from `path`: its text, surrounding whitespace removed.
    pub(crate) fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the RPC secret {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|why| format!("the RPC secret {}: {why}", path.display()))
    }

    fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.len() < MIN_LEN {
            return Err("too short (at least 32 characters)");
        }
        if text.len() > MAX_LEN {
            return Err("too long (at most 4096 characters)");
        }
        // It goes in a header: visible ASCII only.
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("only visible ASCII characters, no spaces");
        }
        Ok(Self(text.to_string()))
    }

    /// The `Authorization` header value to send.
    pub(crate) fn header(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `Authorization` header carries this secret.
    pub(crate) fn admits(&self, header: Option<&HeaderValue>) -> bool {
        let Some(token) = header.and_then(|h| h.as_bytes().strip_prefix(b"Bearer ")) else {
            return false;
        };
        token.ct_eq(self.0.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let s = Secret::parse(&format!("{}\n", "ab".repeat(16))).unwrap();
        let h = |v: &str| HeaderValue::from_str(v).unwrap();
        assert!(s.admits(Some(&h(&s.header()))));
        assert!(!s.admits(Some(&h(&format!("Bearer {}", "ab".repeat(15))))));
        assert!(!s.admits(Some(&h(&format!("Bearer {}c", "ab".repeat(16))))));
        assert!(!s.admits(Some(&h(&format!("Basic {}", "ab".repeat(16))))));
        assert!(!s.admits(None));
    }

    #[test]
    fn short_or_spaced_secrets_are_refused() {
        assert!(Secret::parse("short").is_err());
        assert!(Secret::parse(&format!("{} {}", "a".repeat(20), "b".repeat(20))).is_err());
        assert!(Secret::parse(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}
