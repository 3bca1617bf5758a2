//! API token queries.

use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey, SqlValue};
use crate::http::error::ApiResult;
use crate::http::listing::{ListSql, Listing};
use crate::http::paging::Page;
use crate::store::{Db, Record, Tx};

#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// `None`: the owner's permissions.
    pub scopes: Option<Vec<String>>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

pub struct NewToken<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scopes: Option<&'a [String]>,
    pub expires_at: Option<Timestamp>,
    pub created_by: &'a str,
}

fn from_row(row: &Record) -> Result<ApiToken, sqlx::Error> {
    let scopes: Option<String> = row.try_get("scopes")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        scopes: scopes.map(|s| s.split_whitespace().map(str::to_owned).collect()),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

pub async fn insert(tx: &mut Tx, new: NewToken<'_>, now: Timestamp) -> Result<ApiToken, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(new.user_id)
    .bind(new.name)
    .bind(new.token_hash)
    .bind(new.scopes.map(|s| s.join(" ")))
    .bind(now)
    .bind(new.created_by)
    .bind(new.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(ApiToken {
        id,
        user_id: new.user_id.to_owned(),
        name: new.name.to_owned(),
        scopes: new.scopes.map(<[String]>::to_vec),
        created_at: now,
        expires_at: new.expires_at,
        last_used_at: None,
    })
}

/// What token lists can be filtered and sorted on.
pub const FIELDS: &[Field] = &[
    Field { name: "id", column: "id", ty: FieldType::Text, nullable: false },
    Field { name: "name", column: "name", ty: FieldType::Text, nullable: false },
    Field { name: "scopes", column: "scopes", ty: FieldType::Text, nullable: true },
    Field { name: "created_at", column: "created_at", ty: FieldType::Timestamp, nullable: false },
    Field { name: "expires_at", column: "expires_at", ty: FieldType::Timestamp, nullable: true },
    Field { name: "last_used_at", column: "last_used_at", ty: FieldType::Timestamp, nullable: true },
];
pub const SCHEMA: Schema = Schema { fields: FIELDS };
pub const DEFAULT_ORDER: &[SortKey] = &[SortKey::desc("created_at")];

/// The live (unrevoked) tokens of `user_id`.
pub async fn list_of(db: &Db, user_id: &str, listing: &Listing) -> ApiResult<Page<ApiToken>> {
    let query = ListSql {
        columns: "id, user_id, name, scopes, created_at, expires_at, last_used_at",
        from: "api_tokens",
        scope: "user_id = $1 AND revoked_at IS NULL",
        scope_params: vec![SqlValue::Text(user_id.to_owned())],
        tiebreak: "id DESC",
        version: None,
    };
    let (rows, total) = query.fetch(db, listing).await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(listing.page_of(items, total))
}

/// Revokes token `id` if it belongs to `owner` (any owner when `None`); returns the
/// owner's id when something was revoked.
pub async fn revoke(
    tx: &mut Tx,
    id: &str,
    owner: Option<&str>,
    now: Timestamp,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE api_tokens SET revoked_at = $3
         WHERE id = $1 AND revoked_at IS NULL AND ($2 = '' OR user_id = $2) RETURNING user_id",
    )
    .bind(id)
    .bind(owner.unwrap_or(""))
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

/// Revokes every live token of the user; returns their ids.
pub async fn revoke_all_of(tx: &mut Tx, user_id: &str, now: Timestamp) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await
}
