//! File rows and per-owner usage, one text for both backends.

use object_store::path::Path as Key;

use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey};
use crate::domain::ids::{FileId, UserId};
use crate::http::listing::{ListSql, Listing};
use crate::params;
use crate::store::{Db, FromRow, Param, Row, Sql, StoreError, Tx};

macro_rules! columns {
    () => {
        "f.id, f.owner_id, u.username AS owner, f.name, f.size, f.content_type, f.sha256, f.object_key, f.created_at"
    };
}

crate::statements! {
    ENSURE_USAGE = "INSERT INTO file_usage (user_id, used_bytes, files) VALUES ($1, 0, 0)
         ON CONFLICT (user_id) DO NOTHING";
    /// Takes `$2` bytes of `$1`'s quota `$3`, or changes nothing when they do not fit.
    CLAIM_QUOTA = "UPDATE file_usage SET used_bytes = used_bytes + $2, files = files + 1
         WHERE user_id = $1 AND used_bytes + $2 <= $3";
    RELEASE_QUOTA = "UPDATE file_usage SET used_bytes = used_bytes - $2, files = files - 1 WHERE user_id = $1";
    USAGE = "SELECT used_bytes, files FROM file_usage WHERE user_id = $1";
    INSERT_FILE = "INSERT INTO files (id, owner_id, name, size, content_type, sha256, object_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    FIND_FILE = concat!("SELECT ", columns!(), " FROM files f JOIN users u ON u.id = f.owner_id WHERE f.id = $1");
    DELETE_FILE = "DELETE FROM files WHERE id = $1 RETURNING owner_id, size, object_key";
}

/// A stored file, with its owner's username.
#[derive(Debug, Clone)]
pub struct File {
    pub id: FileId,
    pub owner_id: UserId,
    pub owner: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub sha256: String,
    pub object_key: Key,
    pub created_at: Timestamp,
}

impl FromRow for File {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        let size: i64 = row.get("size")?;
        let key: String = row.get("object_key")?;
        Ok(File {
            id: row.get("id")?,
            owner_id: row.get("owner_id")?,
            owner: row.get("owner")?,
            name: row.get("name")?,
            size: u64::try_from(size).map_err(|_| StoreError::Decode("negative file size".into()))?,
            content_type: row.get("content_type")?,
            sha256: row.get("sha256")?,
            object_key: Key::from(key),
            created_at: row.get("created_at")?,
        })
    }
}

/// What the list can be filtered and sorted on (`owner` is the owner's username).
pub const SCHEMA: Schema = Schema {
    fields: &[
        Field { name: "id", column: "f.id", ty: FieldType::Text, nullable: false },
        Field { name: "name", column: "f.name", ty: FieldType::Text, nullable: false },
        Field { name: "size", column: "f.size", ty: FieldType::Integer, nullable: false },
        Field { name: "content_type", column: "f.content_type", ty: FieldType::Text, nullable: false },
        Field { name: "owner", column: "u.username", ty: FieldType::Text, nullable: false },
        Field { name: "owner_id", column: "f.owner_id", ty: FieldType::Text, nullable: false },
        Field { name: "created_at", column: "f.created_at", ty: FieldType::Timestamp, nullable: false },
    ],
};
pub const DEFAULT_ORDER: &[SortKey] = &[SortKey::desc("f.created_at")];

/// Bytes and files an owner holds.
pub async fn usage(db: &Db, owner: &UserId) -> Result<(u64, u64), StoreError> {
    let row: Option<(i64, i64)> = db.read_optional(USAGE, params![owner]).await?;
    let (bytes, files) = row.unwrap_or_default();
    Ok((bytes.max(0) as u64, files.max(0) as u64))
}

/// Charges `size` bytes to the owner's quota of `quota` bytes; `false` (and nothing
/// changed) when they do not fit. Concurrent claims serialize on the owner's row.
pub async fn claim_quota(tx: &mut Tx, owner: &UserId, size: u64, quota: u64) -> Result<bool, StoreError> {
    tx.execute(ENSURE_USAGE, params![owner]).await?;
    let claimed = tx.execute(CLAIM_QUOTA, params![owner, to_i64(size), to_i64(quota)]).await?;
    Ok(claimed == 1)
}

pub async fn insert(tx: &mut Tx, file: &File) -> Result<(), StoreError> {
    let params = params![
        &file.id,
        &file.owner_id,
        &file.name,
        to_i64(file.size),
        &file.content_type,
        &file.sha256,
        file.object_key.as_ref(),
        file.created_at,
    ];
    tx.execute(INSERT_FILE, params).await?;
    Ok(())
}

pub async fn find(db: &Db, id: &FileId) -> Result<Option<File>, StoreError> {
    db.read_optional(FIND_FILE, params![id]).await
}

/// Removes the row and gives its bytes back to the owner's quota; the object key to
/// delete, or `None` when the file was already gone.
pub async fn delete(tx: &mut Tx, id: &FileId) -> Result<Option<Key>, StoreError> {
    let deleted: Option<(UserId, i64, String)> = tx.fetch_optional(DELETE_FILE, params![id]).await?;
    let Some((owner, size, key)) = deleted else {
        return Ok(None);
    };
    tx.execute(RELEASE_QUOTA, params![&owner, size]).await?;
    Ok(Some(Key::from(key)))
}

/// A page of files; `after` continues after that file in the default order.
pub async fn list(
    db: &Db,
    after: Option<&File>,
    listing: &Listing,
) -> Result<(Vec<File>, Option<u64>), StoreError> {
    let (scope, params) = match after {
        Some(cursor) => (
            "f.created_at < $1 OR (f.created_at = $1 AND f.id < $2)",
            vec![Param::from(cursor.created_at), Param::from(&cursor.id)],
        ),
        None => ("1 = 1", Vec::new()),
    };
    let query = ListSql {
        columns: columns!(),
        from: "files f JOIN users u ON u.id = f.owner_id",
        scope,
        scope_params: params,
        tiebreak: "f.id DESC",
        version: None,
    };
    query.fetch(db, listing).await
}

/// Which of `keys` some row refers to.
pub async fn known_keys(db: &Db, keys: &[String]) -> Result<Vec<String>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT object_key FROM files WHERE object_key IN ({})", placeholders.join(", "));
    let params: Vec<Param<'_>> = keys.iter().map(Param::from).collect();
    db.read(Sql::dynamic(&sql), &params).await
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
