//! Sessions and their refresh-token families.
//!
//! Each session has one live refresh token (`refresh_generation`). Presenting it rotates
//! it: exactly one caller wins the conditional UPDATE and seals the successor; callers
//! that lost the race, or retry within the grace window, open that same successor.
//! Presenting any older token outside the grace window is reuse: the session dies.

use super::opaque::REFRESH_TOKEN;
use super::successor;
use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey, SqlValue};
use crate::http::error::ApiResult;
use crate::http::listing::{ListSql, Listing};
use crate::http::paging::Page;
use crate::store::{Db, Record, Tx};

pub const IDLE_LIFETIME: i64 = 7 * 24 * 3600;
pub const ABSOLUTE_LIFETIME: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: String,
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

fn from_row(row: &Record) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
        refresh_generation: row.try_get("refresh_generation")?,
        refresh_rotated_at: row.try_get("refresh_rotated_at")?,
        successor_box: row.try_get("successor_box")?,
    })
}

/// Opens a session for an active user, and with `require_hash` only while that is
/// still the user's password hash; returns it with its first refresh token.
pub async fn create(
    tx: &mut Tx,
    user_id: &str,
    require_hash: Option<&str>,
    user_agent: &str,
    ip: &str,
    now: Timestamp,
) -> ApiResult<Option<(Session, String)>> {
    let id = uuid::Uuid::now_v7().to_string();
    let token = REFRESH_TOKEN.generate();
    let user_agent: String = user_agent.chars().filter(|c| !c.is_control()).take(256).collect();
    let inserted = sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
         SELECT $1, $2, $3, $3, $4, $5, $6 WHERE EXISTS (
             SELECT 1 FROM users WHERE id = $2 AND expired_at IS NULL AND ($7 = '' OR password_hash = $7))",
    )
    .bind(&id)
    .bind(user_id)
    .bind(now)
    .bind(now + ABSOLUTE_LIFETIME)
    .bind(&user_agent)
    .bind(ip)
    .bind(require_hash.unwrap_or(""))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    insert_token(tx, &token, &id, 0, now).await?;
    let session = Session {
        id,
        user_id: user_id.to_owned(),
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
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(REFRESH_TOKEN.lookup_hash(token))
    .bind(session_id)
    .bind(generation)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<Session>> {
    let sql = concat!("SELECT ", columns!(), " FROM sessions WHERE id = $1");
    let row = db.read_optional(sql, &[SqlValue::Text(id.to_owned())]).await?;
    Ok(row.as_ref().map(from_row).transpose()?)
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
    user_id: &str,
    now: Timestamp,
    listing: &Listing,
) -> ApiResult<Page<Session>> {
    let query = ListSql {
        columns: columns!(),
        from: "sessions",
        scope: "user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3",
        scope_params: vec![
            SqlValue::Text(user_id.to_owned()),
            SqlValue::Int(now),
            SqlValue::Int(now - IDLE_LIFETIME),
        ],
        tiebreak: "id DESC",
        version: None,
    };
    let (rows, total) = query.fetch(db, listing).await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
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

pub async fn refresh(db: &Db, token: &str, grace: i64, now: Timestamp) -> ApiResult<Refresh> {
    if !REFRESH_TOKEN.looks_valid(token) {
        return Ok(Refresh::Invalid);
    }
    let sql = "SELECT session_id, generation FROM refresh_tokens WHERE token_hash = $1";
    let found = db.read_optional(sql, &[SqlValue::Text(REFRESH_TOKEN.lookup_hash(token))]).await?;
    let Some(found) = found else {
        return Ok(Refresh::Invalid);
    };
    let (session_id, generation): (String, i64) =
        (found.try_get("session_id")?, found.try_get("generation")?);
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
async fn rotate(db: &Db, session: &Session, token: &str, now: Timestamp) -> ApiResult<Option<Refresh>> {
    let successor = REFRESH_TOKEN.generate();
    let sealed = successor::seal(token, &successor);
    let next = session.refresh_generation + 1;
    let mut tx = db.pool.begin().await?;
    // The conditional UPDATE comes first so SQLite takes its write lock at once.
    let won = sqlx::query(
        "UPDATE sessions SET refresh_generation = $3, refresh_rotated_at = $4, successor_box = $5, last_used_at = $4
         WHERE id = $1 AND refresh_generation = $2 AND revoked_at IS NULL",
    )
    .bind(&session.id)
    .bind(session.refresh_generation)
    .bind(next)
    .bind(now)
    .bind(sealed)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !won {
        tx.rollback().await?;
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
pub async fn revoke(tx: &mut Tx, id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes session `id` if it is an open session of `user_id`; false otherwise
/// (someone else's session is simply not found).
pub async fn revoke_own(tx: &mut Tx, id: &str, user_id: &str, now: Timestamp) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3 AND last_used_at > $4",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .bind(now - IDLE_LIFETIME)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes the user's open sessions except `keep`; returns the ids revoked.
pub async fn revoke_all_of(
    tx: &mut Tx,
    user_id: &str,
    keep: Option<&str>,
    now: Timestamp,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2 RETURNING id",
    )
    .bind(user_id)
    .bind(keep.unwrap_or(""))
    .bind(now)
    .fetch_all(&mut **tx)
    .await
}
