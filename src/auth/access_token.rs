//! Access tokens: EdDSA-signed JWTs (`typ: at+jwt`, RFC 9068) that name a session.
//!
//! Verification is strict (one algorithm, one `typ`, a known `kid`, no `jku`/`jwk`/
//! `x5u`/`x5c`, `iss`/`aud`/`exp`/`nbf`/`iat` checked against the injected clock with
//! ≤ 5 s leeway). A signature check costs ≈ 60 µs, so verified tokens are remembered in
//! a bounded cache keyed by the token's hash until they expire; whether the session
//! and user are still good is checked on every request regardless (see `gate`).

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header, Validation};
use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::KeyRing;
use crate::clock::{SharedClock, Timestamp};
use crate::domain::ids::UserId;

pub const TYP: &str = "at+jwt";
const LEEWAY: i64 = 5;
/// Anything longer is not one of ours; refused before parsing.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: Timestamp,
    pub iat: Timestamp,
    pub nbf: Timestamp,
    pub jti: String,
    pub sid: String,
    /// For clients to read; the server decides from the database, never from this.
    #[serde(default)]
    pub roles: Vec<String>,
}

pub struct AccessTokens {
    keys: Arc<KeyRing>,
    clock: SharedClock,
    issuer: String,
    ttl: i64,
    verified: Cache<[u8; 32], Arc<AccessClaims>>,
}

impl AccessTokens {
    pub fn new(keys: Arc<KeyRing>, clock: SharedClock, issuer: String, ttl_seconds: u64) -> Self {
        let verified = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(ttl_seconds + LEEWAY as u64))
            .build();
        Self { keys, clock, issuer, ttl: ttl_seconds as i64, verified }
    }

    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// Signs a token for `user_id` in session `sid`; returns it with its expiry.
    pub fn issue(
        &self,
        user_id: &UserId,
        sid: &str,
        roles: &[String],
    ) -> anyhow::Result<(String, Timestamp)> {
        let now = self.clock.now();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: user_id.to_string(),
            aud: self.issuer.clone(),
            exp: now + self.ttl,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::now_v7().to_string(),
            sid: sid.to_owned(),
            roles: roles.to_vec(),
        };
        let key = self.keys.active();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(TYP.into());
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)?;
        Ok((token, claims.exp))
    }

    /// The claims of a genuine, current access token, or `None`.
    pub async fn verify(&self, token: &str) -> Option<Arc<AccessClaims>> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = self.clock.now();
        if let Some(claims) = self.verified.get(&digest) {
            return self.time_ok(&claims, now).then_some(claims);
        }
        let claims = Arc::new(self.verify_signature(token).await?);
        if !self.claims_ok(&claims, now) {
            return None;
        }
        self.verified.insert(digest, claims.clone());
        Some(claims)
    }

    async fn verify_signature(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let typ_ok = header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt"));
        let embedded_key =
            header.jku.is_some() || header.jwk.is_some() || header.x5u.is_some() || header.x5c.is_some();
        if header.alg != Algorithm::EdDSA || !typ_ok || embedded_key {
            return None;
        }
        let key = self.keys.verifying_key(header.kid.as_deref()?).await?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time and audience are checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).ok().map(|d| d.claims)
    }

    fn claims_ok(&self, claims: &AccessClaims, now: Timestamp) -> bool {
        claims.iss == self.issuer
            && claims.aud == self.issuer
            && !claims.sub.is_empty()
            && !claims.sid.is_empty()
            && claims.iat <= now + LEEWAY
            && self.time_ok(claims, now)
    }

    fn time_ok(&self, claims: &AccessClaims, now: Timestamp) -> bool {
        claims.exp > now - LEEWAY && claims.nbf <= now + LEEWAY
    }
}
