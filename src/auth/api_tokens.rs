//! API token secrets: `hp_` + 256 random bits, stored only as a hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "hp_";

pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn looks_valid(secret: &str) -> bool {
    secret.len() == PREFIX.len() + 43 && secret.starts_with(PREFIX)
}

pub fn lookup_hash(secret: &str) -> String {
    hex::encode(Sha256::new().chain_update(b"hallpass api token\0").chain_update(secret).finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashed_apart_from_refresh_tokens() {
        let secret = generate();
        assert!(looks_valid(&secret) && secret.starts_with("hp_"));
        assert_ne!(generate(), secret);
        assert_ne!(lookup_hash(&secret), crate::auth::refresh_token::lookup_hash(&secret));
    }
}
