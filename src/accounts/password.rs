//! Password hashing: argon2id for everything new; bcrypt and Django `pbkdf2_sha256`
//! hashes from imported systems still verify and are upgraded on the next login.
//!
//! Hashing is CPU- and memory-heavy (≈ 23 ms, 19 MiB), so it runs on blocking threads
//! behind a semaphore sized to the cores: a login flood queues instead of starving
//! the async runtime or exhausting memory.

use std::sync::Arc;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// OWASP's argon2id minimum: 19 MiB, two passes, one lane.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// What checking a password against a stored hash found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    Match,
    /// Correct, but the stored hash is legacy or weaker than today's: store a new one.
    MatchNeedsRehash,
}

#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified for unknown users so that their
    /// login takes as long as a real one (no user enumeration by timing).
    dummy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasherPool {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let random: [u8; 16] = rand::random();
        let dummy_hash = hash_now(&hex::encode(random))?;
        Ok(Self { permits: Arc::new(Semaphore::new(cores)), dummy_hash: Arc::new(dummy_hash) })
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        tokio::task::spawn_blocking(job).await.context("hashing task")
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_owned();
        self.run(move || hash_now(&password)).await?
    }

    /// Verifies against `stored`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<Verdict> {
        let (password, known) = (password.to_owned(), stored.is_some());
        let stored = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let verdict = self.run(move || verify_now(&password, &stored)).await?;
        Ok(if known { verdict } else { Verdict::Mismatch })
    }
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

/// Dispatches on the stored hash's format.
pub fn verify_now(password: &str, stored: &str) -> Verdict {
    if stored.starts_with("$argon2") {
        verify_argon2(password, stored)
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| stored.starts_with(p)) {
        legacy(bcrypt::verify(password, stored).unwrap_or(false))
    } else if stored.starts_with("pbkdf2_sha256$") {
        legacy(verify_django_pbkdf2(password, stored))
    } else {
        Verdict::Mismatch
    }
}

fn legacy(matched: bool) -> Verdict {
    if matched { Verdict::MatchNeedsRehash } else { Verdict::Mismatch }
}

fn verify_argon2(password: &str, stored: &str) -> Verdict {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict::Mismatch;
    };
    if argon2().verify_password(password.as_bytes(), &parsed).is_err() {
        return Verdict::Mismatch;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() >= M_COST_KIB && p.t_cost() >= T_COST && p.p_cost() >= P_COST);
    if current { Verdict::Match } else { Verdict::MatchNeedsRehash }
}

/// Django's format: `pbkdf2_sha256$<iterations>$<salt>$<base64 digest>`.
fn verify_django_pbkdf2(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(_), Some(iterations), Some(salt), Some(expected), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(iterations), Ok(expected)) = (iterations.parse::<u32>(), STANDARD.decode(expected)) else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 || expected.len() != 32 {
        return false;
    }
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut derived);
    derived.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip_uses_owasp_parameters() {
        let hash = hash_now("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(verify_now("correct horse battery staple", &hash), Verdict::Match);
        assert_eq!(verify_now("wrong", &hash), Verdict::Mismatch);
    }

    #[test]
    fn weaker_argon2_needs_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap())
            .hash_password(b"pw-legacy-1")
            .unwrap()
            .to_string();
        assert_eq!(verify_now("pw-legacy-1", &weak), Verdict::MatchNeedsRehash);
    }

    #[test]
    fn legacy_bcrypt_verifies_and_needs_rehash() {
        let hash = bcrypt::hash("legacy pass", 4).unwrap();
        assert_eq!(verify_now("legacy pass", &hash), Verdict::MatchNeedsRehash);
        assert_eq!(verify_now("other", &hash), Verdict::Mismatch);
    }

    #[test]
    fn django_pbkdf2_verifies() {
        // Django's documented test vector (auth hashers tests): password "lètmein".
        let stored = "pbkdf2_sha256$30000$seasalt$VrX+V8drCGo68wlvy6rfu8i1d1pfkdeXA4LJkRGJodY=";
        assert_eq!(verify_now("lètmein", stored), Verdict::MatchNeedsRehash);
        assert_eq!(verify_now("letmein", stored), Verdict::Mismatch);
        assert_eq!(verify_now("x", "pbkdf2_sha256$0$salt$AAAA"), Verdict::Mismatch);
        assert_eq!(verify_now("x", "garbage"), Verdict::Mismatch);
    }
}
