//! Token signing keys (Ed25519), kept in the database so every node signs and
//! verifies with the same set; the public halves are published as JWKS.
//!
//! A successor key is generated a day before the current one has signed for
//! `ROTATE_AFTER`, is published in JWKS at once, and only signs once it has been
//! published for `PUBLISH_BEFORE_USE`, by which time every node has loaded it. Old
//! keys verify for two days past their rotation, far longer than any token lives.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};

use crate::clock::{SharedClock, Timestamp};
use crate::params;
use crate::store::{Db, FromRow, Row, StoreError};

crate::statements! {
    RECENT_KEYS = "SELECT kid, private_der, public_key, created_at FROM signing_keys
             WHERE algorithm = 'EdDSA' AND created_at > $1";
    INSERT_KEY = "INSERT INTO signing_keys (kid, algorithm, private_der, public_key, created_at)
         VALUES ($1, 'EdDSA', $2, $3, $4)";
}

const DAY: i64 = 24 * 3600;
/// How long one key signs new tokens.
const ROTATE_AFTER: i64 = 30 * DAY;
/// How long a key is published before it signs (nodes reload every 10 minutes).
const PUBLISH_BEFORE_USE: i64 = 15 * 60;
/// How often a node reloads the key set.
pub const RELOAD_EVERY: i64 = 600;

pub struct ActiveKey {
    pub kid: String,
    pub encoding: EncodingKey,
}

struct KeySet {
    active: Arc<ActiveKey>,
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
}

/// The node's view of the signing keys; reloaded from the database when stale or
/// when a token names a key this node has not seen.
pub struct KeyRing {
    db: Db,
    clock: SharedClock,
    set: RwLock<Arc<KeySet>>,
    loaded_at: RwLock<Timestamp>,
}

impl KeyRing {
    pub async fn load(db: Db, clock: SharedClock) -> anyhow::Result<Self> {
        let set = load_set(&db, clock.now()).await?;
        let now = clock.now();
        Ok(Self { db, clock, set: RwLock::new(Arc::new(set)), loaded_at: RwLock::new(now) })
    }

    fn current(&self) -> Arc<KeySet> {
        self.set.read().expect("key ring lock").clone()
    }

    /// The key new tokens are signed with.
    pub fn active(&self) -> Arc<ActiveKey> {
        self.current().active.clone()
    }

    pub fn jwks(&self) -> Value {
        self.current().jwks.clone()
    }

    /// The verification key for `kid`, reloading at most every 10 s on a miss.
    pub async fn verifying_key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.current().verifying.get(kid) {
            return Some(key.clone());
        }
        if self.reload_if_older_than(10).await.is_err() {
            return None;
        }
        self.current().verifying.get(kid).cloned()
    }

    /// Reloads (and rotates, if due) when the loaded set is older than `seconds`.
    pub async fn reload_if_older_than(&self, seconds: i64) -> anyhow::Result<()> {
        let now = self.clock.now();
        {
            let mut loaded_at = self.loaded_at.write().expect("key ring lock");
            if now - *loaded_at < seconds {
                return Ok(());
            }
            *loaded_at = now;
        }
        let set = load_set(&self.db, now).await?;
        *self.set.write().expect("key ring lock") = Arc::new(set);
        Ok(())
    }
}

async fn load_set(db: &Db, now: Timestamp) -> anyhow::Result<KeySet> {
    let mut rows = fetch_keys(db, now).await?;
    if !rows.iter().any(|k| k.created_at > now - (ROTATE_AFTER - DAY)) {
        insert_new_key(db, now).await?;
        rows = fetch_keys(db, now).await?;
    }
    // The newest key that every node has had time to see; on a first start, the
    // only one there is.
    let by_age = |k: &&KeyRow| (k.created_at, k.kid.clone());
    let newest = rows
        .iter()
        .filter(|k| k.created_at <= now - PUBLISH_BEFORE_USE)
        .max_by_key(by_age)
        .or_else(|| rows.iter().max_by_key(by_age))
        .ok_or_else(|| anyhow::anyhow!("no signing key"))?;
    let active = Arc::new(ActiveKey {
        kid: newest.kid.clone(),
        encoding: EncodingKey::from_ed_der(&newest.private_der),
    });
    let mut verifying = HashMap::new();
    let mut keys = Vec::new();
    for row in &rows {
        let x = URL_SAFE_NO_PAD.encode(&row.public_key);
        verifying.insert(row.kid.clone(), DecodingKey::from_ed_components(&x)?);
        keys.push(
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": row.kid, "alg": "EdDSA", "use": "sig"}),
        );
    }
    Ok(KeySet { active, verifying, jwks: json!({ "keys": keys }) })
}

struct KeyRow {
    kid: String,
    private_der: Vec<u8>,
    public_key: Vec<u8>,
    created_at: Timestamp,
}

impl FromRow for KeyRow {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        Ok(KeyRow {
            kid: row.get("kid")?,
            private_der: row.get("private_der")?,
            public_key: row.get("public_key")?,
            created_at: row.get("created_at")?,
        })
    }
}

async fn fetch_keys(db: &Db, now: Timestamp) -> anyhow::Result<Vec<KeyRow>> {
    Ok(db.read(RECENT_KEYS, params![now - ROTATE_AFTER - 2 * DAY]).await?)
}

async fn insert_new_key(db: &Db, now: Timestamp) -> anyhow::Result<()> {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let der = key.to_pkcs8_der().map_err(|e| anyhow::anyhow!("pkcs8 encoding: {e}"))?;
    let kid = uuid::Uuid::now_v7().simple().to_string();
    let public = key.verifying_key().to_bytes();
    db.execute(INSERT_KEY, params![kid, der.as_bytes(), &public[..], now]).await?;
    tracing::info!("generated a new token signing key");
    Ok(())
}
