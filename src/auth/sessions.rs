//! Sessions and their refresh-token families.
//!
//! Each session has one live refresh token (`refresh_generation`). Presenting it rotates
//! it: exactly one caller wins the conditional UPDATE and seals the successor; callers
//! that lost the race, or retry within the grace window, open that same successor.
//! Presenting any older token outside the grace window is reuse: the session dies.

use super::opaque::REFRESH_TOKEN;
use super::successor;
use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey};
use crate::domain::ids::{SessionId, UserId};
use crate::http::listing::{ListSql, Listing};
use crate::http::paging::Page;
use crate::params;
use crate::store::{Db, FromRow, Param, Row, StoreError, Tx};

pub const IDLE_LIFETIME: i64 = 7 * 24 * 3600;
pub const ABSOLUTE_LIFETIME: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub user_agent: String,
    pub ip: String,
    pub refresh_generation: i64,
    pub refresh_rotated_at: Option<Timestamp>,
    pub successor_box: Option<Vec<u8>>,
}

impl Session {
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && self.last_used_at + IDLE_LIFETIME > now
    }
}

macro_rules! columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip,
    refresh_generation, refresh_rotated_at, successor_box"
    };
}

crate::statements! {
    INSERT_SESSION = "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
         SELECT $1, $2, $3, $3, $4, $5, $6 WHERE EXISTS (
             SELECT 1 FROM users WHERE id = $2 AND expired_at IS NULL AND (CAST($7 AS TEXT) IS NULL OR password_hash = $7))";
    INSERT_REFRESH_TOKEN = "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at) VALUES ($1, $2, $3, $4)";
    FIND_SESSION = concat!("SELECT ", columns!(), " FROM sessions WHERE id = $1");
    FIND_REFRESH_TOKEN = "SELECT session_id, generation FROM refresh_tokens WHERE token_hash = $1";
    ROTATE = "UPDATE sessions SET refresh_generation = $3, refresh_rotated_at = $4, successor_box = $5, last_used_at = $4
         WHERE id = $1 AND refresh_generation = $2 AND revoked_at IS NULL";
    REVOKE = "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
    REVOKE_OWN = "UPDATE sessions SET revoked_at = $3
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3 AND last_used_at > $4";
    SET_WEB_SECRET = "UPDATE sessions SET web_secret_hash = $2 WHERE id = $1";
    FIND_WEB_SESSION = "SELECT id, last_used_at FROM sessions WHERE web_secret_hash = $1
         AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3";
    TOUCH = "UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL AND last_used_at > $3";
    REVOKE_ALL_OF = "UPDATE sessions SET revoked_at = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND (CAST($2 AS TEXT) IS NULL OR id <> $2) RETURNING id";
}

impl FromRow for Session {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        Ok(Session {
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            created_at: row.get("created_at")?,
            last_used_at: row.get("last_used_at")?,
            expires_at: row.get("expires_at")?,
            revoked_at: row.get("revoked_at")?,
            user_agent: row.get("user_agent")?,
            ip: row.get("ip")?,
            refresh_generation: row.get("refresh_generation")?,
            refresh_rotated_at: row.get("refresh_rotated_at")?,
            successor_box: row.get("successor_box")?,
        })
    }
}

/// Opens a session for an active user, and with `require_hash` only while that is
/// still the user's password hash; returns it with its first refresh token.
pub async fn create(
    tx: &mut Tx,
    user_id: &UserId,
    require_hash: Option<&str>,
    user_agent: &str,
    ip: &str,
    now: Timestamp,
) -> Result<Option<(Session, String)>, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let token = REFRESH_TOKEN.generate();
    let user_agent: String = user_agent.chars().filter(|c| !c.is_control()).take(256).collect();
    let params = params![&id, user_id, now, now + ABSOLUTE_LIFETIME, &user_agent, ip, require_hash];
    let inserted = tx.execute(INSERT_SESSION, params).await?;
    if inserted == 0 {
        return Ok(None);
    }
    insert_token(tx, &token, &id, 0, now).await?;
    let session = Session {
        id,
        user_id: user_id.clone(),
        created_at: now,
        last_used_at: now,
        expires_at: now + ABSOLUTE_LIFETIME,
        revoked_at: None,
        user_agent,
        ip: ip.to_owned(),
        refresh_generation: 0,
        refresh_rotated_at: None,
        successor_box: None,
    };
    Ok(Some((session, token)))
}

async fn insert_token(
    tx: &mut Tx,
    token: &str,
    session_id: &str,
    generation: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let params = params![REFRESH_TOKEN.lookup_hash(token), session_id, generation, now];
    tx.execute(INSERT_REFRESH_TOKEN, params).await?;
    Ok(())
}

pub async fn find(db: &Db, id: &str) -> Result<Option<Session>, StoreError> {
    db.read_optional(FIND_SESSION, params![id]).await
}

/// What session lists can be filtered and sorted on.
pub const FIELDS: &[Field] = &[
    Field { name: "id", column: "id", ty: FieldType::Text, nullable: false },
    Field { name: "created_at", column: "created_at", ty: FieldType::Timestamp, nullable: false },
    Field { name: "last_used_at", column: "last_used_at", ty: FieldType::Timestamp, nullable: false },
    Field { name: "expires_at", column: "expires_at", ty: FieldType::Timestamp, nullable: false },
    Field { name: "user_agent", column: "user_agent", ty: FieldType::Text, nullable: false },
    Field { name: "ip", column: "ip", ty: FieldType::Text, nullable: false },
];
pub const SCHEMA: Schema = Schema { fields: FIELDS };
pub const DEFAULT_ORDER: &[SortKey] = &[SortKey::desc("created_at")];

/// A page of the user's open sessions.
pub async fn list_open(
    db: &Db,
    user_id: &UserId,
    now: Timestamp,
    listing: &Listing,
) -> Result<Page<Session>, StoreError> {
    let query = ListSql {
        columns: columns!(),
        from: "sessions",
        scope: "user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3",
        scope_params: vec![Param::from(user_id), Param::from(now), Param::from(now - IDLE_LIFETIME)],
        tiebreak: "id DESC",
        version: None,
    };
    let (items, total) = query.fetch(db, listing).await?;
    Ok(listing.page_of(items, total))
}

/// What presenting a refresh token led to.
pub enum Refresh {
    /// A successor: newly minted or, within the grace window, the one already minted.
    Rotated { session: Session, token: String },
    /// An old token outside the grace window: the caller revokes the session.
    Reused { session: Session },
    /// Unknown token, or its session is closed.
    Invalid,
}

pub async fn refresh(db: &Db, token: &str, grace: i64, now: Timestamp) -> Result<Refresh, StoreError> {
    if !REFRESH_TOKEN.looks_valid(token) {
        return Ok(Refresh::Invalid);
    }
    let found = db.read_optional(FIND_REFRESH_TOKEN, params![REFRESH_TOKEN.lookup_hash(token)]).await?;
    let Some((session_id, generation)): Option<(String, i64)> = found else {
        return Ok(Refresh::Invalid);
    };
    // Two passes at most: if another caller rotated between our read and our write,
    // the second pass finds the token one generation old and opens the successor.
    for _ in 0..2 {
        let Some(session) = find(db, &session_id).await? else {
            return Ok(Refresh::Invalid);
        };
        if !session.is_open(now) {
            return Ok(Refresh::Invalid);
        }
        if generation == session.refresh_generation {
            if let Some(rotated) = rotate(db, &session, token, now).await? {
                return Ok(rotated);
            }
            continue;
        }
        let in_grace = generation + 1 == session.refresh_generation
            && session.refresh_rotated_at.is_some_and(|at| now - at <= grace);
        let successor = session
            .successor_box
            .as_deref()
            .filter(|_| in_grace)
            .and_then(|sealed| successor::open(token, sealed));
        return Ok(match successor {
            Some(token) => Refresh::Rotated { session, token },
            None => Refresh::Reused { session },
        });
    }
    Ok(Refresh::Invalid)
}

/// Replaces the live token if it is still `session.refresh_generation`; `None` when
/// another caller got there first.
async fn rotate(
    db: &Db,
    session: &Session,
    token: &str,
    now: Timestamp,
) -> Result<Option<Refresh>, StoreError> {
    let successor = REFRESH_TOKEN.generate();
    let sealed = successor::seal(token, &successor);
    let next = session.refresh_generation + 1;
    let mut tx = db.begin().await?;
    let params = params![&session.id, session.refresh_generation, next, now, sealed];
    if tx.execute(ROTATE, params).await? != 1 {
        return Ok(None);
    }
    insert_token(&mut tx, &successor, &session.id, next, now).await?;
    tx.commit().await?;
    let session = Session {
        refresh_generation: next,
        refresh_rotated_at: Some(now),
        last_used_at: now,
        ..session.clone()
    };
    Ok(Some(Refresh::Rotated { session, token: successor }))
}

/// Revokes one session; false if it was not open.
/// Gives `session_id` a web cookie secret; the secret (shown once, to the browser).
pub async fn attach_web_secret(tx: &mut Tx, session_id: &str) -> Result<String, StoreError> {
    let secret = super::opaque::WEB_SESSION.generate();
    tx.execute(SET_WEB_SECRET, params![session_id, super::opaque::WEB_SESSION.lookup_hash(&secret)]).await?;
    Ok(secret)
}

/// The session a web cookie secret belongs to.
/// The open session a web cookie secret belongs to (not revoked, within both its
/// absolute and its idle lifetime), and when it was last used.
pub async fn find_by_web_secret(
    db: &Db,
    secret: &str,
    now: Timestamp,
) -> Result<Option<(String, Timestamp)>, StoreError> {
    if !super::opaque::WEB_SESSION.looks_valid(secret) {
        return Ok(None);
    }
    let hash = super::opaque::WEB_SESSION.lookup_hash(secret);
    db.read_optional(FIND_WEB_SESSION, params![hash, now, now - IDLE_LIFETIME]).await
}

/// Marks a web session used (at most once a minute), so that an active browser is
/// not signed out by the idle lifetime.
pub async fn touch(db: &Db, session_id: &str, now: Timestamp) -> Result<(), StoreError> {
    db.execute(TOUCH, params![session_id, now, now - IDLE_LIFETIME]).await?;
    Ok(())
}

pub async fn revoke(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, StoreError> {
    Ok(tx.execute(REVOKE, params![id, now]).await? == 1)
}

/// Revokes session `id` if it is an open session of `user_id`; false otherwise
/// (someone else's session is simply not found).
pub async fn revoke_own(
    tx: &mut Tx,
    id: &SessionId,
    user_id: &UserId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(tx.execute(REVOKE_OWN, params![id, user_id, now, now - IDLE_LIFETIME]).await? == 1)
}

/// Revokes the user's open sessions except `keep`; returns the ids revoked.
pub async fn revoke_all_of(
    tx: &mut Tx,
    user_id: &UserId,
    keep: Option<&str>,
    now: Timestamp,
) -> Result<Vec<String>, StoreError> {
    tx.fetch_all(REVOKE_ALL_OF, params![user_id, keep, now]).await
}
