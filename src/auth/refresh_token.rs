//! Opaque refresh tokens: 256 random bits, stored only as a hash.
//!
//! When a token is rotated, its successor is kept sealed under a key derived from the
//! *old* token. Only a caller who presents the old token can open it, so a concurrent
//! or retried refresh inside the grace window receives the very same successor, while a
//! copy of the database alone reveals no usable token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

const PREFIX: &str = "hpr_";

/// A new random refresh token.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Cheap shape check before any database work.
pub fn looks_valid(token: &str) -> bool {
    token.len() == PREFIX.len() + 43 && token.starts_with(PREFIX)
}

/// The value stored and looked up; never the token itself.
pub fn lookup_hash(token: &str) -> String {
    hex::encode(Sha256::new().chain_update(b"hallpass refresh lookup\0").chain_update(token).finalize())
}

fn sealing_cipher(old_token: &str) -> ChaCha20Poly1305 {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, old_token.as_bytes())
        .expand(b"hallpass refresh successor", &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    ChaCha20Poly1305::new(&key.into())
}

/// Seals `successor` so only the holder of `old_token` can open it. Each key seals
/// exactly one message (a token has one successor), so a fixed nonce is safe.
pub fn seal_successor(old_token: &str, successor: &str) -> Vec<u8> {
    sealing_cipher(old_token)
        .encrypt(&Nonce::default(), successor.as_bytes())
        .expect("in-memory encryption cannot fail")
}

pub fn open_successor(old_token: &str, sealed: &[u8]) -> Option<String> {
    let plain = sealing_cipher(old_token).decrypt(&Nonce::default(), sealed).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_well_formed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(looks_valid(&a), "{a}");
        assert!(!looks_valid("hpr_short"));
        assert_ne!(lookup_hash(&a), lookup_hash(&b));
        assert_eq!(lookup_hash(&a).len(), 64);
    }

    #[test]
    fn only_the_old_token_opens_its_successor() {
        let (old, next) = (generate(), generate());
        let sealed = seal_successor(&old, &next);
        assert_eq!(open_successor(&old, &sealed).as_deref(), Some(next.as_str()));
        assert_eq!(open_successor(&generate(), &sealed), None);
        assert!(!sealed.windows(8).any(|w| next.as_bytes().windows(8).any(|n| n == w)));
    }
}
