//! The per-request check behind every access token: is its session still open and
//! its user still active, and which roles does the user hold right now?
//!
//! Answers are cached per session (positive and negative: revocation is final) and
//! dropped on logout, revocation, role change or expiry, on this node at once and on
//! the others through the cluster channel. When the cluster says caches cannot be
//! trusted, every request reads the database.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use sqlx::Row;

use crate::clock::{SharedClock, Timestamp};
use crate::cluster::{Cluster, Invalidation};
use crate::http::error::ApiResult;
use crate::store::Db;

/// What an open session grants.
#[derive(Debug)]
pub struct SessionGrant {
    pub user_id: String,
    pub expires_at: Timestamp,
    pub roles: Arc<[String]>,
}

pub struct SessionGate {
    db: Db,
    clock: SharedClock,
    cluster: Cluster,
    cache: Cache<String, Option<Arc<SessionGrant>>>,
}

impl SessionGate {
    pub fn new(db: Db, clock: SharedClock, cluster: Cluster) -> Self {
        let cache = Cache::builder()
            .max_capacity(200_000)
            // A bound on staleness should an invalidation ever be lost.
            .time_to_live(Duration::from_secs(60))
            .support_invalidation_closures()
            .build();
        Self {
            db,
            clock,
            cluster,
            cache,
        }
    }

    /// The grant of session `sid` if it is open and its user active.
    pub async fn check(&self, sid: &str) -> ApiResult<Option<Arc<SessionGrant>>> {
        let trusted = self.cluster.caches_trusted();
        let grant = match self.cache.get(sid) {
            Some(grant) if trusted => grant,
            _ => {
                let grant = self.load(sid).await?;
                if trusted {
                    self.cache.insert(sid.to_owned(), grant.clone());
                }
                grant
            }
        };
        Ok(grant.filter(|g| g.expires_at > self.clock.now()))
    }

    async fn load(&self, sid: &str) -> ApiResult<Option<Arc<SessionGrant>>> {
        let row = sqlx::query(
            "SELECT s.user_id, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = $1 AND s.revoked_at IS NULL AND u.expired_at IS NULL",
        )
        .bind(sid)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: String = row.try_get("user_id")?;
        let roles = crate::users::store::roles_of(&self.db, &user_id).await?;
        Ok(Some(Arc::new(SessionGrant {
            user_id,
            expires_at: row.try_get("expires_at")?,
            roles: roles.into(),
        })))
    }

    /// Applies an invalidation from this node or another one.
    pub fn apply(&self, event: &Invalidation) {
        match event {
            Invalidation::Session(sid) => self.cache.invalidate(sid),
            Invalidation::User(uid) => {
                let uid = uid.clone();
                // Only fails when closures are unsupported, which the builder enables.
                let _ = self.cache.invalidate_entries_if(move |_, grant| {
                    grant.as_ref().is_some_and(|g| g.user_id == uid)
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
