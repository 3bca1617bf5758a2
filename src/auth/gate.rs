//! The per-request check behind every credential: is the session (or API token, or
//! linked outside identity) still good, is its user active, and what may it do now?
//!
//! Answers are cached (sessions and tokens also negatively: revocation is final) and
//! dropped on logout, revocation, role change or expiry, on this node at once and on
//! the others through the cluster channel. When the cluster says caches cannot be
//! trusted, every request reads the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use super::opaque::API_TOKEN;
use super::permissions::{PermissionSet, RoleBook};
use crate::clock::{SharedClock, Timestamp};
use crate::cluster::{Cluster, Invalidation};
use crate::domain::ids::UserId;
use crate::http::error::ApiResult;
use crate::params;
use crate::store::Db;

crate::statements! {
    SESSION_GRANT = "SELECT s.user_id, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
                   WHERE s.id = $1 AND s.revoked_at IS NULL AND u.expired_at IS NULL";
    TOKEN_GRANT = "SELECT t.user_id, t.expires_at, t.id, t.scopes, t.last_used_at FROM api_tokens t
                   JOIN users u ON u.id = t.user_id
                   WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.expired_at IS NULL";
    EXTERNAL_GRANT = "SELECT e.user_id FROM external_identities e JOIN users u ON u.id = e.user_id
                   WHERE e.issuer = $1 AND e.subject = $2 AND u.expired_at IS NULL";
    NOTE_TOKEN_USE = "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1";
}

/// How often an API token's `last_used_at` is written at most.
const LAST_USED_EVERY: i64 = 60;

/// What a credential grants right now.
#[derive(Debug)]
pub struct Grant {
    pub user_id: UserId,
    pub roles: Arc<[String]>,
    /// The roles' permissions, narrowed by an API token's scopes.
    pub permissions: PermissionSet,
    /// When the session or token ends; `None` for no end.
    pub expires_at: Option<Timestamp>,
    pub api_token: Option<TokenGrant>,
}

#[derive(Debug)]
pub struct TokenGrant {
    pub id: String,
    last_used_written: AtomicI64,
}

pub struct SessionGate {
    db: Db,
    clock: SharedClock,
    cluster: Cluster,
    roles: Arc<RoleBook>,
    cache: Cache<String, Option<Arc<Grant>>>,
    /// Bumped by every invalidation: a load that overlapped one is not cached, so a
    /// grant read just before a logout cannot outlive it.
    epoch: AtomicU64,
}

impl SessionGate {
    pub fn new(db: Db, clock: SharedClock, cluster: Cluster, roles: Arc<RoleBook>) -> Self {
        let cache = Cache::builder()
            .max_capacity(200_000)
            // A bound on staleness should an invalidation ever be lost.
            .time_to_live(Duration::from_secs(10))
            .support_invalidation_closures()
            .build();
        Self { db, clock, cluster, roles, cache, epoch: AtomicU64::new(0) }
    }

    /// The grant of session `sid`, if open and its user active.
    pub async fn session(&self, sid: &str) -> ApiResult<Option<Arc<Grant>>> {
        self.cached(format!("s:{sid}"), true, || self.load_session(sid)).await
    }

    /// The grant of an API token secret, if live and its user active.
    pub async fn api_token(&self, secret: &str) -> ApiResult<Option<Arc<Grant>>> {
        if !API_TOKEN.looks_valid(secret) {
            return Ok(None);
        }
        let hash = API_TOKEN.lookup_hash(secret);
        let grant = self.cached(format!("t:{hash}"), true, || self.load_api_token(&hash)).await?;
        if let Some(token) = grant.as_ref().and_then(|g| g.api_token.as_ref()) {
            self.note_token_use(token).await;
        }
        Ok(grant)
    }

    /// The grant of a linked outside identity. Not cached when unlinked, so a link
    /// made on any node counts at once.
    pub async fn external(&self, issuer: &str, subject: &str) -> ApiResult<Option<Arc<Grant>>> {
        self.cached(format!("x:{issuer}\n{subject}"), false, || self.load_external(issuer, subject)).await
    }

    async fn cached<F, Fut>(&self, key: String, cache_misses: bool, load: F) -> ApiResult<Option<Arc<Grant>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Option<Arc<Grant>>>>,
    {
        let trusted = self.cluster.caches_trusted();
        let grant = match self.cache.get(&key) {
            Some(grant) if trusted => grant,
            _ => {
                let epoch = self.epoch.load(Ordering::Acquire);
                let grant = load().await?;
                let unchanged = self.epoch.load(Ordering::Acquire) == epoch;
                if trusted && unchanged && (grant.is_some() || cache_misses) {
                    self.cache.insert(key, grant.clone());
                }
                grant
            }
        };
        let now = self.clock.now();
        Ok(grant.filter(|g| g.expires_at.is_none_or(|end| end > now)))
    }

    async fn grant(
        &self,
        user_id: UserId,
        expires_at: Option<Timestamp>,
        api_token: Option<(String, Option<String>, Option<Timestamp>)>,
    ) -> ApiResult<Arc<Grant>> {
        let roles = crate::accounts::store::roles_of(&self.db, &user_id).await?;
        let mut permissions = self.roles.permissions(&roles);
        let api_token = api_token.map(|(id, scopes, last_used)| {
            if let Some(scopes) = scopes {
                // Stored scopes were valid when written; unknown ones grant nothing.
                let granted = scopes
                    .split_whitespace()
                    .filter_map(super::permissions::Permission::parse)
                    .collect::<Vec<_>>();
                permissions = permissions.intersect(PermissionSet::of(&granted));
            }
            TokenGrant { id, last_used_written: AtomicI64::new(last_used.unwrap_or(0)) }
        });
        Ok(Arc::new(Grant { user_id, roles: roles.into(), permissions, expires_at, api_token }))
    }

    async fn load_session(&self, sid: &str) -> ApiResult<Option<Arc<Grant>>> {
        let row: Option<(UserId, i64)> = self.db.read_optional(SESSION_GRANT, params![sid]).await?;
        let Some((user_id, expires_at)) = row else { return Ok(None) };
        Ok(Some(self.grant(user_id, Some(expires_at), None).await?))
    }

    async fn load_api_token(&self, hash: &str) -> ApiResult<Option<Arc<Grant>>> {
        type TokenRow = (UserId, Option<i64>, String, Option<String>, Option<i64>);
        let row: Option<TokenRow> = self.db.read_optional(TOKEN_GRANT, params![hash]).await?;
        let Some((user_id, expires_at, id, scopes, last_used_at)) = row else { return Ok(None) };
        Ok(Some(self.grant(user_id, expires_at, Some((id, scopes, last_used_at))).await?))
    }

    async fn load_external(&self, issuer: &str, subject: &str) -> ApiResult<Option<Arc<Grant>>> {
        let row: Option<UserId> = self.db.read_optional(EXTERNAL_GRANT, params![issuer, subject]).await?;
        let Some(user_id) = row else { return Ok(None) };
        Ok(Some(self.grant(user_id, None, None).await?))
    }

    /// Writes `last_used_at` at most once a minute per token (per node).
    async fn note_token_use(&self, token: &TokenGrant) {
        let now = self.clock.now();
        let written = token.last_used_written.load(Ordering::Relaxed);
        let due = now - written >= LAST_USED_EVERY
            && token
                .last_used_written
                .compare_exchange(written, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if due {
            let result = self.db.execute(NOTE_TOKEN_USE, params![&token.id, now]).await;
            if let Err(err) = result {
                tracing::warn!(error = %err, "recording API token use failed");
            }
        }
    }

    /// Applies an invalidation from this node or another one.
    pub fn apply(&self, event: &Invalidation) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        // `invalidate_entries_if` only fails when closures are unsupported, which the
        // builder enables.
        match event {
            Invalidation::Session(sid) => self.cache.invalidate(&format!("s:{sid}")),
            Invalidation::User(uid) => {
                let uid = uid.clone();
                let _ = self
                    .cache
                    .invalidate_entries_if(move |_, g| g.as_ref().is_some_and(|g| g.user_id.as_str() == uid));
            }
            Invalidation::ApiToken(id) => {
                let id = id.clone();
                let _ = self.cache.invalidate_entries_if(move |_, g| {
                    g.as_ref().and_then(|g| g.api_token.as_ref()).is_some_and(|t| t.id == id)
                });
            }
            Invalidation::All => self.cache.invalidate_all(),
        }
    }

    /// Forgets cached answers here and on every other node.
    pub async fn invalidate(&self, events: Vec<Invalidation>) {
        for event in events {
            self.apply(&event);
            self.cluster.publish(&event).await;
        }
    }
}
