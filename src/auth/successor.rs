//! Sealing a refresh token's successor (the tokens themselves are `opaque` secrets).
//!
//! When a token is rotated, its successor is kept sealed under a key derived from the
//! *old* token. Only a caller who presents the old token can open it, so a concurrent
//! or retried refresh inside the grace window receives the very same successor, while a
//! copy of the database alone reveals no usable token.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

fn sealing_cipher(old_token: &str) -> ChaCha20Poly1305 {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, old_token.as_bytes())
        .expand(b"hallpass refresh successor", &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    ChaCha20Poly1305::new(&key.into())
}

/// Seals `successor` so only the holder of `old_token` can open it. Each key seals
/// exactly one message (a token has one successor), so a fixed nonce is safe.
pub fn seal(old_token: &str, successor: &str) -> Vec<u8> {
    sealing_cipher(old_token)
        .encrypt(&Nonce::default(), successor.as_bytes())
        .expect("in-memory encryption cannot fail")
}

pub fn open(old_token: &str, sealed: &[u8]) -> Option<String> {
    let plain = sealing_cipher(old_token).decrypt(&Nonce::default(), sealed).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::opaque::REFRESH_TOKEN;

    #[test]
    fn only_the_old_token_opens_its_successor() {
        let (old, next) = (REFRESH_TOKEN.generate(), REFRESH_TOKEN.generate());
        let sealed = seal(&old, &next);
        assert_eq!(open(&old, &sealed).as_deref(), Some(next.as_str()));
        assert_eq!(open(&REFRESH_TOKEN.generate(), &sealed), None);
        assert!(!sealed.windows(8).any(|w| next.as_bytes().windows(8).any(|n| n == w)));
    }
}
