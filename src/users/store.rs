//! User queries, one text for both backends.

use super::model::User;
use crate::clock::Timestamp;
use crate::domain::account::{Email, Username};
use crate::domain::filter::{Field, FieldType, Schema, SortKey, SqlValue};
use crate::http::error::{ApiError, ApiResult};
use crate::http::listing::{ListSql, Listing};
use crate::store::{Db, Record, Tx, is_unique_violation};

macro_rules! columns {
    () => {
        "id, username, email, name, profile, attributes, password_hash, failed_logins,
    locked_until, created_at, updated_at, updated_by, expired_at"
    };
}

pub struct NewUser<'a> {
    pub username: &'a Username,
    pub email: Option<&'a Email>,
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub roles: &'a [&'a str],
    pub created_by: Option<&'a str>,
}

fn from_row(row: &Record, roles: Vec<String>) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        profile: row.try_get("profile")?,
        attributes: row.try_get("attributes")?,
        password_hash: row.try_get("password_hash")?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
        expired_at: row.try_get("expired_at")?,
        roles,
    })
}

/// Maps a unique violation to a 409 naming the field that is taken.
pub fn conflict_or(err: sqlx::Error) -> ApiError {
    if !is_unique_violation(&err) {
        return err.into();
    }
    let sqlx::Error::Database(db) = &err else {
        return err.into();
    };
    let what = db.constraint().unwrap_or_else(|| db.message());
    if what.contains("email") {
        email_taken()
    } else if what.contains("username") {
        username_taken()
    } else {
        ApiError::conflict("conflict", "the record already exists")
    }
}

/// Login takes a username or an e-mail address, so neither may be another account's
/// other name: a username that is someone's address (or the reverse) would capture
/// their "log in with e-mail". The unique indexes guard each column on its own.
async fn names_are_free(
    tx: &mut Tx,
    id: &str,
    username_key: Option<&str>,
    email_key: Option<&str>,
) -> ApiResult<()> {
    if username_key.is_none() && email_key.is_none() {
        return Ok(());
    }
    let clash: Option<i64> = sqlx::query_scalar(
        "SELECT CASE WHEN email_key = $1 THEN 1 ELSE 0 END FROM users
         WHERE id <> $3 AND (email_key = $1 OR username_key = $2) LIMIT 1",
    )
    .bind(username_key)
    .bind(email_key)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    match clash {
        Some(1) => Err(username_taken()),
        Some(_) => Err(email_taken()),
        None => Ok(()),
    }
}

fn username_taken() -> ApiError {
    ApiError::conflict("username_taken", "that username is already taken")
}

fn email_taken() -> ApiError {
    ApiError::conflict("email_taken", "that e-mail address is already in use")
}

/// Inserts the user and its roles inside `tx`; returns the new id.
pub async fn insert_in(tx: &mut Tx, new: NewUser<'_>, now: Timestamp) -> ApiResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    names_are_free(tx, &id, Some(&new.username.key()), new.email.map(Email::key).as_deref()).await?;
    sqlx::query(
        "INSERT INTO users (id, username, username_key, email, email_key, name, password_hash,
                            created_at, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
    )
    .bind(&id)
    .bind(new.username.as_str())
    .bind(new.username.key())
    .bind(new.email.map(|e| e.as_str().to_owned()))
    .bind(new.email.map(Email::key))
    .bind(new.name)
    .bind(new.password_hash)
    .bind(now)
    .bind(new.created_by)
    .execute(&mut **tx)
    .await
    .map_err(conflict_or)?;
    set_roles_in(tx, &id, new.roles).await?;
    Ok(id)
}

/// Replaces the user's roles.
pub async fn set_roles(
    tx: &mut Tx,
    user_id: &str,
    roles: &[&str],
    now: Timestamp,
    by: &str,
) -> ApiResult<()> {
    sqlx::query("UPDATE users SET updated_at = $2, updated_by = $3 WHERE id = $1")
        .bind(user_id)
        .bind(now)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    set_roles_in(tx, user_id, roles).await
}

async fn set_roles_in(tx: &mut Tx, user_id: &str, roles: &[&str]) -> ApiResult<()> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(user_id).execute(&mut **tx).await?;
    for role in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(user_id)
            .bind(*role)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn roles_of(db: &Db, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = db
        .read(
            "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role",
            &[SqlValue::Text(user_id.to_owned())],
        )
        .await?;
    rows.iter().map(|row| row.try_get_at(0)).collect()
}

/// The user's roles as `tx` sees them.
pub async fn roles_in(tx: &mut Tx, user_id: &str) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
        .bind(user_id)
        .fetch_all(&mut **tx)
        .await?)
}

async fn with_roles(db: &Db, row: Option<Record>) -> ApiResult<Option<User>> {
    let Some(row) = row else { return Ok(None) };
    let roles = roles_of(db, &row.try_get::<String>("id")?).await?;
    Ok(Some(from_row(&row, roles)?))
}

/// Any user by id, expired or not.
pub async fn find(db: &Db, id: &str) -> ApiResult<Option<User>> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE id = $1");
    let row = db.read_optional(sql, &[SqlValue::Text(id.to_owned())]).await?;
    with_roles(db, row).await
}

/// The user `id` if not expired, with roles the caller already knows (the session
/// gate read them for this request): one query instead of two.
pub async fn find_active_with_roles(db: &Db, id: &str, roles: &[String]) -> ApiResult<Option<User>> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE id = $1 AND expired_at IS NULL");
    let row = db.read_optional(sql, &[SqlValue::Text(id.to_owned())]).await?;
    Ok(row.map(|row| from_row(&row, roles.to_vec())).transpose()?)
}

/// The user a login name (username or e-mail, any case) refers to, without its
/// roles (login loads them once the password is right: same work for every name).
pub async fn find_by_login(db: &Db, login: &str) -> ApiResult<Option<User>> {
    let key = login.trim().to_lowercase();
    if key.len() > 320 || key.chars().any(char::is_control) {
        return Ok(None);
    }
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE username_key = $1 OR email_key = $1 ORDER BY username_key = $1 DESC"
    );
    let row = db.read_optional(sql, &[SqlValue::Text(key)]).await?;
    Ok(row.map(|row| from_row(&row, Vec::new())).transpose()?)
}

pub async fn any_admin(db: &Db) -> Result<bool, sqlx::Error> {
    let count = db
        .count(
            "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id
             WHERE r.role = 'admin' AND u.expired_at IS NULL",
            &[],
        )
        .await?;
    Ok(count > 0)
}

/// In-flight checks of an account older than this are stale (a node died mid-check).
const STALE_INFLIGHT: i64 = 60;

/// Claims one password check of an unlocked account: true when claimed, i.e. when the
/// settled failures plus the checks in flight stay under `max_failures` (once a lock
/// has run out, one check at a time: each failure locks again, for longer); false when
/// the account is locked or (see [`is_locked`]) other checks must settle first.
pub async fn claim_login_attempt(db: &Db, id: &str, now: Timestamp, max_failures: u32) -> ApiResult<bool> {
    let claimed = sqlx::query(
        "UPDATE users SET
             login_inflight = (CASE WHEN login_inflight_at IS NULL OR login_inflight_at < $2 - $4
                               THEN 0 ELSE login_inflight END) + 1,
             login_inflight_at = $2
         WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2)
           AND (CASE WHEN login_inflight_at IS NULL OR login_inflight_at < $2 - $4
                THEN 0 ELSE login_inflight END)
               < (CASE WHEN failed_logins >= $3 THEN 1 ELSE $3 - failed_logins END)",
    )
    .bind(id)
    .bind(now)
    .bind(i64::from(max_failures))
    .bind(STALE_INFLIGHT)
    .execute(&db.pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Whether the account is locked now (as opposed to waiting for checks in flight).
pub async fn is_locked(db: &Db, id: &str, now: Timestamp) -> ApiResult<bool> {
    let row = db
        .read_optional(
            "SELECT COUNT(*) AS locked FROM users WHERE id = $1 AND locked_until > $2",
            &[SqlValue::Text(id.to_owned()), SqlValue::Int(now)],
        )
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("locked")).transpose()?.unwrap_or(0) > 0)
}

/// The same kind of write as `claim_login_attempt`, touching nothing: an unknown
/// login name costs what a known one does.
pub async fn claim_nothing(db: &Db) -> ApiResult<()> {
    sqlx::query("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ''").execute(&db.pool).await?;
    Ok(())
}

pub async fn lock_until(tx: &mut Tx, id: &str, until: Timestamp) -> ApiResult<()> {
    sqlx::query("UPDATE users SET locked_until = $2 WHERE id = $1")
        .bind(id)
        .bind(until)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Settles a right password: failures and lock cleared, its check no longer in flight.
pub async fn record_success(tx: &mut Tx, id: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE users SET failed_logins = 0, locked_until = NULL,
             login_inflight = CASE WHEN login_inflight > 0 THEN login_inflight - 1 ELSE 0 END
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Settles a wrong password: one more failure, its check no longer in flight. The
/// failures counted so far.
pub async fn record_failure(tx: &mut Tx, id: &str) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE users SET failed_logins = failed_logins + 1,
             login_inflight = CASE WHEN login_inflight > 0 THEN login_inflight - 1 ELSE 0 END
         WHERE id = $1 RETURNING failed_logins",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn set_password_hash(tx: &mut Tx, id: &str, hash: &str, now: Timestamp, by: &str) -> ApiResult<()> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3, updated_by = $4 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Fields of a profile edit; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProfileChange {
    pub username: Option<Username>,
    pub email: Option<Option<Email>>,
    pub name: Option<String>,
    pub profile: Option<String>,
    /// Administrators only.
    pub attributes: Option<String>,
    /// Administrators only: an already hashed new password.
    pub password_hash: Option<String>,
}

/// Applies a profile edit, and (administrators) new attributes and a new password
/// hash, in one statement; the active user as it is now, or `None` if it is gone.
pub async fn update_account(
    tx: &mut Tx,
    id: &str,
    change: &ProfileChange,
    now: Timestamp,
    by: &str,
    roles: Vec<String>,
) -> ApiResult<Option<User>> {
    let email = change.email.as_ref();
    let email_key = email.and_then(|e| e.as_ref().map(Email::key));
    names_are_free(tx, id, change.username.as_ref().map(Username::key).as_deref(), email_key.as_deref())
        .await?;
    let sql = concat!(
        "UPDATE users SET
            username = COALESCE($2, username), username_key = COALESCE($3, username_key),
            email = CASE WHEN $4 = 1 THEN $5 ELSE email END,
            email_key = CASE WHEN $4 = 1 THEN $6 ELSE email_key END,
            name = COALESCE($7, name), profile = COALESCE($8, profile),
            attributes = COALESCE($9, attributes), password_hash = COALESCE($10, password_hash),
            updated_at = $11, updated_by = $12
         WHERE id = $1 AND expired_at IS NULL RETURNING ",
        columns!()
    );
    let row = sqlx::query(sql)
        .bind(id)
        .bind(change.username.as_ref().map(|u| u.as_str().to_owned()))
        .bind(change.username.as_ref().map(Username::key))
        .bind(i64::from(email.is_some()))
        .bind(email.and_then(|e| e.as_ref().map(|e| e.as_str().to_owned())))
        .bind(email.and_then(|e| e.as_ref().map(Email::key)))
        .bind(change.name.as_deref())
        .bind(change.profile.as_deref())
        .bind(change.attributes.as_deref())
        .bind(change.password_hash.as_deref())
        .bind(now)
        .bind(by)
        .fetch_optional(&mut **tx)
        .await
        .map_err(conflict_or)?;
    let Some(row) = row else { return Ok(None) };
    let record = Record::from_any_rows(&[row])?.pop().ok_or(sqlx::Error::RowNotFound)?;
    Ok(Some(from_row(&record, roles)?))
}

/// Soft-deletes the user; returns false when already expired or missing.
pub async fn expire(tx: &mut Tx, id: &str, now: Timestamp, by: &str) -> ApiResult<bool> {
    let done = sqlx::query(
        "UPDATE users SET expired_at = $2, updated_at = $2, updated_by = $3 WHERE id = $1 AND expired_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Active administrators other than `user_id`, as `tx` sees them (take the `admins`
/// lock first, so that the answer still holds when `tx` commits).
pub async fn other_admins(tx: &mut Tx, user_id: &str) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id
         WHERE r.role = 'admin' AND u.expired_at IS NULL AND u.id <> $1",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?)
}

/// What user lists can be filtered and sorted on.
pub const FIELDS: &[Field] = &[
    Field { name: "id", column: "id", ty: FieldType::Text, nullable: false },
    Field { name: "username", column: "username", ty: FieldType::Text, nullable: false },
    Field { name: "email", column: "email", ty: FieldType::Text, nullable: true },
    Field { name: "name", column: "name", ty: FieldType::Text, nullable: false },
    Field { name: "created_at", column: "created_at", ty: FieldType::Timestamp, nullable: false },
    Field { name: "updated_at", column: "updated_at", ty: FieldType::Timestamp, nullable: false },
    Field { name: "expired_at", column: "expired_at", ty: FieldType::Timestamp, nullable: true },
];
pub const SCHEMA: Schema = Schema { fields: FIELDS };
pub const DEFAULT_ORDER: &[SortKey] = &[SortKey::asc("created_at")];

/// A page of users; `only_roles` keeps users all of whose roles are among them.
pub async fn list(
    db: &Db,
    include_expired: bool,
    only_roles: Option<&[&str]>,
    listing: &Listing,
) -> ApiResult<(Vec<User>, Option<u64>)> {
    // Only fixed fragments and placeholders are pasted: every value is bound.
    let mut scope = vec![if include_expired { "1 = 1".to_owned() } else { "expired_at IS NULL".to_owned() }];
    let mut params = Vec::new();
    if let Some(roles) = only_roles {
        let placeholders: Vec<String> = (1..=roles.len()).map(|i| format!("${i}")).collect();
        scope.push(format!(
            "NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = users.id AND r.role NOT IN ({}))",
            placeholders.join(", ")
        ));
        params.extend(roles.iter().map(|r| SqlValue::Text((*r).to_owned())));
    }
    let scope = scope.join(" AND ");
    let query = ListSql {
        columns: columns!(),
        from: "users",
        scope: &scope,
        scope_params: params,
        tiebreak: "id ASC",
        version: None,
    };
    let (rows, total) = query.fetch(db, listing).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
    let mut roles = roles_of_many(db, &ids).await?;
    let users = rows
        .iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            from_row(row, roles.remove(&id).unwrap_or_default())
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((users, total))
}

async fn roles_of_many(db: &Db, ids: &[String]) -> ApiResult<std::collections::HashMap<String, Vec<String>>> {
    let mut roles: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(roles);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT user_id, role FROM user_roles WHERE user_id IN ({}) ORDER BY role",
        placeholders.join(", ")
    );
    let params: Vec<SqlValue> = ids.iter().map(|id| SqlValue::Text(id.clone())).collect();
    for mut row in db.read(&sql, &params).await? {
        roles.entry(row.take("user_id")?).or_default().push(row.take("role")?);
    }
    Ok(roles)
}
