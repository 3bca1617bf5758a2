//! Outside identities: ID tokens from one configured OIDC issuer (or Firebase).
//!
//! Verification allows RS256 and ES256 only, each key only with its own algorithm,
//! and checks `iss`, `aud`, `exp`, `iat`, `nbf` and a non-empty `sub` against the
//! injected clock. Keys come from the issuer's JWKS, cached as its `Cache-Control`
//! says. An unknown `kid` refetches at most once a minute; when the JWKS endpoint is
//! down a warm cache keeps working, a cold one answers 503.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::clock::{SharedClock, Timestamp};
use crate::config::OidcSettings;
use crate::http::error::ApiError;

const LEEWAY: i64 = 5;
/// Refetches for an unknown `kid` are at most this frequent.
const UNKNOWN_KID_REFETCH: i64 = 60;
/// With nothing cached, a failed fetch is retried at most this often.
const COLD_RETRY: i64 = 5;
const MAX_TOKEN_LEN: usize = 8192;

/// Who the outside token says the caller is.
#[derive(Debug, Clone)]
pub struct ExternalClaims {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    loaded: bool,
    fresh_until: Timestamp,
    last_attempt: Option<Timestamp>,
}

pub struct ExternalIssuer {
    pub settings: OidcSettings,
    http: reqwest::Client,
    clock: SharedClock,
    cache: RwLock<Arc<KeyCache>>,
    fetching: Mutex<()>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: Timestamp,
    iat: Timestamp,
    nbf: Option<Timestamp>,
    email: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: Option<String>,
}

/// The `iss` a JWT claims, unverified: only to route it to the right verifier.
pub fn claimed_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<IssuerOnly>(&bytes).ok()?.iss
}

impl ExternalIssuer {
    pub fn new(settings: OidcSettings, clock: SharedClock) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Self { settings, http, clock, cache: RwLock::default(), fetching: Mutex::new(()) })
    }

    fn current(&self) -> Arc<KeyCache> {
        self.cache.read().expect("jwks cache lock").clone()
    }

    /// The verified identity in `token`; 401 when it is not genuine and current,
    /// 503 when the keys cannot be had at all.
    pub async fn verify(&self, token: &str) -> Result<ExternalClaims, ApiError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(ApiError::unauthenticated());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::unauthenticated())?;
        let embedded =
            header.jku.is_some() || header.jwk.is_some() || header.x5u.is_some() || header.x5c.is_some();
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) || embedded {
            return Err(ApiError::unauthenticated());
        }
        let kid = header.kid.ok_or_else(ApiError::unauthenticated)?;
        let key = self.key(&kid).await?;
        let (key, key_alg) = key.ok_or_else(ApiError::unauthenticated)?;
        if key_alg != header.alg {
            return Err(ApiError::unauthenticated());
        }
        let mut validation = Validation::new(key_alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<RawClaims>(token, &key, &validation)
            .map_err(|_| ApiError::unauthenticated())?
            .claims;
        let now = self.clock.now();
        let audience_ok = match &claims.aud {
            Audience::One(aud) => *aud == self.settings.audience,
            Audience::Many(auds) => auds.contains(&self.settings.audience),
        };
        let valid = claims.iss == self.settings.issuer
            && audience_ok
            && !claims.sub.is_empty()
            && claims.sub.len() <= 255
            && claims.exp > now - LEEWAY
            && claims.iat <= now + LEEWAY
            && claims.nbf.is_none_or(|nbf| nbf <= now + LEEWAY);
        if !valid {
            return Err(ApiError::unauthenticated());
        }
        Ok(ExternalClaims { issuer: claims.iss, subject: claims.sub, email: claims.email, name: claims.name })
    }

    /// The key for `kid`, fetching the JWKS when the cache is cold, stale, or (at most
    /// once a minute) when the kid is unknown.
    async fn key(&self, kid: &str) -> Result<Option<(DecodingKey, Algorithm)>, ApiError> {
        let lookup = |cache: &KeyCache| cache.keys.get(kid).cloned();
        let cache = self.current();
        let now = self.clock.now();
        if cache.loaded
            && now < cache.fresh_until
            && let Some(key) = lookup(&cache)
        {
            return Ok(Some(key));
        }
        let _guard = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let cache = self.current();
        let fresh = cache.loaded && now < cache.fresh_until;
        let since_attempt = cache.last_attempt.map_or(i64::MAX, |at| now - at);
        let may_fetch = if !cache.loaded {
            since_attempt >= COLD_RETRY
        } else if !fresh {
            true
        } else {
            lookup(&cache).is_none() && since_attempt >= UNKNOWN_KID_REFETCH
        };
        if !may_fetch {
            return match (cache.loaded, lookup(&cache)) {
                (false, _) => Err(ApiError::Unavailable { retry_after: COLD_RETRY as u64 }),
                (true, key) => Ok(key),
            };
        }
        let updated = match self.fetch(now).await {
            Ok(fetched) => fetched,
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), url = %self.settings.jwks_url, "fetching outside JWKS failed");
                KeyCache {
                    keys: cache.keys.clone(),
                    loaded: cache.loaded,
                    // Keep serving the keys we have; try again in a minute.
                    fresh_until: if cache.loaded { now + UNKNOWN_KID_REFETCH } else { 0 },
                    last_attempt: Some(now),
                }
            }
        };
        let updated = Arc::new(updated);
        *self.cache.write().expect("jwks cache lock") = updated.clone();
        if !updated.loaded {
            return Err(ApiError::Unavailable { retry_after: COLD_RETRY as u64 });
        }
        Ok(lookup(&updated))
    }

    async fn fetch(&self, now: Timestamp) -> anyhow::Result<KeyCache> {
        let response = self.http.get(&self.settings.jwks_url).send().await?.error_for_status()?;
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(300);
        let body: serde_json::Value = response.json().await?;
        let jwks =
            body.get("keys").and_then(|k| k.as_array()).ok_or_else(|| anyhow::anyhow!("no `keys` array"))?;
        let keys: HashMap<_, _> = jwks.iter().filter_map(usable_key).collect();
        tracing::info!(keys = keys.len(), max_age, "fetched outside JWKS");
        Ok(KeyCache {
            keys,
            loaded: true,
            fresh_until: now + max_age.clamp(60, 86_400),
            last_attempt: Some(now),
        })
    }
}

/// `max-age` (or `s-maxage`) seconds of a Cache-Control value.
fn max_age(header: &str) -> Option<i64> {
    header.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        matches!(name.trim(), "max-age" | "s-maxage").then(|| value.trim().trim_matches('"').parse().ok())?
    })
}

/// A signing key we can use: an RSA key for RS256 or a P-256 key for ES256, with a kid.
fn usable_key(value: &serde_json::Value) -> Option<(String, (DecodingKey, Algorithm))> {
    let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    let kid = jwk.common.key_id.clone()?;
    let alg = match (&jwk.algorithm, &jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((kid, (key, alg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("public, max-age=19800, must-revalidate"), Some(19800));
        assert_eq!(max_age("s-maxage=60"), Some(60));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }

    #[test]
    fn only_rsa_and_p256_keys_are_used() {
        let hmac = serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"});
        assert!(usable_key(&hmac).is_none());
        let rsa_without_kid = serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        assert!(usable_key(&rsa_without_kid).is_none());
        let rsa_for_ps =
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r", "alg": "PS256"});
        assert!(usable_key(&rsa_for_ps).is_none());
    }

    #[test]
    fn issuer_is_peeked_without_trusting_it() {
        use base64::Engine;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"iss":"https://idp.example"}"#);
        assert_eq!(claimed_issuer(&format!("h.{payload}.s")).as_deref(), Some("https://idp.example"));
        assert_eq!(claimed_issuer("garbage"), None);
    }
}
