//! Opaque secrets (refresh tokens, API tokens): a kind prefix and 256 random bits,
//! stored only as a domain-separated SHA-256, never as themselves.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// One kind of secret: its visible prefix and its hashing label.
pub struct SecretKind {
    pub prefix: &'static str,
    label: &'static [u8],
}

pub const REFRESH_TOKEN: SecretKind = SecretKind { prefix: "hpr_", label: b"hallpass refresh lookup\0" };
pub const API_TOKEN: SecretKind = SecretKind { prefix: "hp_", label: b"hallpass api token\0" };
/// The one-time link that creates the first administrator.
pub const SETUP_TOKEN: SecretKind = SecretKind { prefix: "hps_", label: b"hallpass setup\0" };
/// The web pages' session cookie.
pub const WEB_SESSION: SecretKind = SecretKind { prefix: "hpw_", label: b"hallpass web session\0" };

impl SecretKind {
    /// A new random secret of this kind.
    pub fn generate(&self) -> String {
        let bytes: [u8; 32] = rand::random();
        format!("{}{}", self.prefix, URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Cheap shape check before any database work.
    pub fn looks_valid(&self, secret: &str) -> bool {
        secret.len() == self.prefix.len() + 43 && secret.starts_with(self.prefix)
    }

    /// The value stored and looked up.
    pub fn lookup_hash(&self, secret: &str) -> String {
        hex::encode(Sha256::new().chain_update(self.label).chain_update(secret).finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_well_formed_and_hashed_apart_by_kind() {
        let (a, b) = (REFRESH_TOKEN.generate(), REFRESH_TOKEN.generate());
        assert_ne!(a, b);
        assert!(REFRESH_TOKEN.looks_valid(&a) && !API_TOKEN.looks_valid(&a), "{a}");
        assert!(!REFRESH_TOKEN.looks_valid("hpr_short"));
        assert_eq!(REFRESH_TOKEN.lookup_hash(&a).len(), 64);
        assert_ne!(REFRESH_TOKEN.lookup_hash(&a), API_TOKEN.lookup_hash(&a));
        let api = API_TOKEN.generate();
        assert!(api.starts_with("hp_") && API_TOKEN.looks_valid(&api));
    }
}
