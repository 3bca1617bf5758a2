//! API token queries.

use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey};
use crate::domain::ids::{TokenId, UserId};
use crate::http::listing::{ListSql, Listing};
use crate::http::paging::Page;
use crate::params;
use crate::store::{Db, FromRow, Param, Row, StoreError, Tx};

crate::statements! {
    INSERT_TOKEN = "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    REVOKE_TOKEN = "UPDATE api_tokens SET revoked_at = $3
         WHERE id = $1 AND revoked_at IS NULL AND (CAST($2 AS TEXT) IS NULL OR user_id = $2) RETURNING user_id";
    REVOKE_TOKENS_OF = "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id";
}

#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    /// `None`: the owner's permissions.
    pub scopes: Option<Vec<String>>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

pub struct NewToken<'a> {
    pub user_id: &'a UserId,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scopes: Option<&'a [String]>,
    pub expires_at: Option<Timestamp>,
    pub created_by: &'a UserId,
}

impl FromRow for ApiToken {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        let scopes: Option<String> = row.get("scopes")?;
        Ok(ApiToken {
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            name: row.get("name")?,
            scopes: scopes.map(|s| s.split_whitespace().map(str::to_owned).collect()),
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
            last_used_at: row.get("last_used_at")?,
        })
    }
}

pub async fn insert(tx: &mut Tx, new: NewToken<'_>, now: Timestamp) -> Result<ApiToken, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let scopes = new.scopes.map(|s| s.join(" "));
    let params =
        params![&id, new.user_id, new.name, new.token_hash, scopes, now, new.created_by, new.expires_at];
    tx.execute(INSERT_TOKEN, params).await?;
    Ok(ApiToken {
        id,
        user_id: new.user_id.clone(),
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
pub async fn list_of(db: &Db, user_id: &UserId, listing: &Listing) -> Result<Page<ApiToken>, StoreError> {
    let query = ListSql {
        columns: "id, user_id, name, scopes, created_at, expires_at, last_used_at",
        from: "api_tokens",
        scope: "user_id = $1 AND revoked_at IS NULL",
        scope_params: vec![Param::from(user_id)],
        tiebreak: "id DESC",
        version: None,
    };
    let (items, total) = query.fetch(db, listing).await?;
    Ok(listing.page_of(items, total))
}

/// Revokes token `id` if it belongs to `owner` (any owner when `None`); returns the
/// owner's id when something was revoked.
pub async fn revoke(
    tx: &mut Tx,
    id: &TokenId,
    owner: Option<&UserId>,
    now: Timestamp,
) -> Result<Option<UserId>, StoreError> {
    tx.fetch_optional(REVOKE_TOKEN, params![id, owner, now]).await
}

/// Revokes every live token of the user; returns their ids.
pub async fn revoke_all_of(tx: &mut Tx, user_id: &UserId, now: Timestamp) -> Result<Vec<String>, StoreError> {
    tx.fetch_all(REVOKE_TOKENS_OF, params![user_id, now]).await
}
