//! User queries, one text for both backends.

use std::collections::HashMap;

use super::model::User;
use crate::clock::Timestamp;
use crate::domain::account::{Email, Username};
use crate::domain::filter::{Field, FieldType, Schema, SortKey};
use crate::domain::ids::UserId;
use crate::http::listing::{ListSql, Listing};
use crate::params;
use crate::store::{
    Db, EMAIL_KEY, EXTERNAL_IDENTITY_KEY, FromRow, Param, Row, Sql, StoreError, Tx, USERNAME_KEY,
};

macro_rules! columns {
    () => {
        "id, username, email, name, profile, attributes, password_hash, failed_logins,
    locked_until, created_at, updated_at, updated_by, expired_at"
    };
}

crate::statements! {
    NAMES_CLASH = "SELECT CASE WHEN email_key = $1 THEN 1 ELSE 0 END FROM users
         WHERE id <> $3 AND (email_key = $1 OR username_key = $2) LIMIT 1";
    INSERT_USER = "INSERT INTO users (id, username, username_key, email, email_key, name, password_hash,
                            created_at, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)";
    TOUCH_USER = "UPDATE users SET updated_at = $2, updated_by = $3 WHERE id = $1";
    DELETE_ROLES = "DELETE FROM user_roles WHERE user_id = $1";
    INSERT_ROLE = "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)";
    ROLES_OF = "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role";
    FIND_USER = concat!("SELECT ", columns!(), " FROM users WHERE id = $1");
    FIND_ACTIVE_USER = concat!("SELECT ", columns!(), " FROM users WHERE id = $1 AND expired_at IS NULL");
    FIND_BY_LOGIN = concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE username_key = $1 OR email_key = $1 ORDER BY username_key = $1 DESC"
    );
    COUNT_ADMINS = "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id
             WHERE r.role = 'admin' AND u.expired_at IS NULL";
    CLAIM_LOGIN = "UPDATE users SET
             login_inflight = (CASE WHEN login_inflight_at IS NULL OR login_inflight_at < $2 - $4
                               THEN 0 ELSE login_inflight END) + 1,
             login_inflight_at = $2
         WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2)
           AND (CASE WHEN login_inflight_at IS NULL OR login_inflight_at < $2 - $4
                THEN 0 ELSE login_inflight END)
               < (CASE WHEN failed_logins >= $3 THEN 1 ELSE $3 - failed_logins END)";
    IS_LOCKED = "SELECT COUNT(*) FROM users WHERE id = $1 AND locked_until > $2";
    CLAIM_NOTHING = "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ''";
    LOCK_UNTIL = "UPDATE users SET locked_until = $2 WHERE id = $1";
    RECORD_SUCCESS = "UPDATE users SET failed_logins = 0, locked_until = NULL,
             login_inflight = CASE WHEN login_inflight > 0 THEN login_inflight - 1 ELSE 0 END
         WHERE id = $1";
    RECORD_FAILURE = "UPDATE users SET failed_logins = failed_logins + 1,
             login_inflight = CASE WHEN login_inflight > 0 THEN login_inflight - 1 ELSE 0 END
         WHERE id = $1 RETURNING failed_logins";
    SET_PASSWORD_HASH = "UPDATE users SET password_hash = $2, updated_at = $3, updated_by = $4 WHERE id = $1";
    UPDATE_ACCOUNT = concat!(
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
    EXPIRE_USER = "UPDATE users SET expired_at = $2, updated_at = $2, updated_by = $3 WHERE id = $1 AND expired_at IS NULL";
    LINKED_USER = "SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2";
    INSERT_LINK = "INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)";
    OTHER_ADMINS = "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id
         WHERE r.role = 'admin' AND u.expired_at IS NULL AND u.id <> $1";
}

pub struct NewUser<'a> {
    pub username: &'a Username,
    pub email: Option<&'a Email>,
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub roles: &'a [&'a str],
    pub created_by: Option<&'a UserId>,
}

/// A user row; its roles are read separately.
impl FromRow for User {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        Ok(User {
            id: row.get("id")?,
            username: row.get("username")?,
            email: row.get("email")?,
            name: row.get("name")?,
            profile: row.get("profile")?,
            attributes: row.get("attributes")?,
            password_hash: row.get("password_hash")?,
            failed_logins: row.get("failed_logins")?,
            locked_until: row.get("locked_until")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            updated_by: row.get("updated_by")?,
            expired_at: row.get("expired_at")?,
            roles: Vec::new(),
        })
    }
}

/// Login takes a username or an e-mail address, so neither may be another account's
/// other name: a username that is someone's address (or the reverse) would capture
/// their "log in with e-mail". The unique indexes guard each column on its own; a
/// clash is reported as the key it takes.
async fn names_are_free(
    tx: &mut Tx,
    id: &UserId,
    username_key: Option<&str>,
    email_key: Option<&str>,
) -> Result<(), StoreError> {
    if username_key.is_none() && email_key.is_none() {
        return Ok(());
    }
    let clash: Option<i64> = tx.fetch_optional(NAMES_CLASH, params![username_key, email_key, id]).await?;
    match clash {
        Some(1) => Err(StoreError::Unique(Some(USERNAME_KEY))),
        Some(_) => Err(StoreError::Unique(Some(EMAIL_KEY))),
        None => Ok(()),
    }
}

/// Inserts the user and its roles inside `tx`; returns the new id.
pub async fn insert_in(tx: &mut Tx, new: NewUser<'_>, now: Timestamp) -> Result<UserId, StoreError> {
    let id = UserId::generate();
    let (username_key, email_key) = (new.username.key(), new.email.map(Email::key));
    names_are_free(tx, &id, Some(&username_key), email_key.as_deref()).await?;
    let params = params![
        &id,
        new.username.as_str(),
        username_key,
        new.email.map(Email::as_str),
        email_key,
        new.name,
        new.password_hash,
        now,
        new.created_by,
    ];
    tx.execute(INSERT_USER, params).await?;
    set_roles_in(tx, &id, new.roles).await?;
    Ok(id)
}

/// Replaces the user's roles.
pub async fn set_roles(
    tx: &mut Tx,
    user_id: &UserId,
    roles: &[&str],
    now: Timestamp,
    by: &UserId,
) -> Result<(), StoreError> {
    tx.execute(TOUCH_USER, params![user_id, now, by]).await?;
    set_roles_in(tx, user_id, roles).await
}

async fn set_roles_in(tx: &mut Tx, user_id: &UserId, roles: &[&str]) -> Result<(), StoreError> {
    tx.execute(DELETE_ROLES, params![user_id]).await?;
    for role in roles {
        tx.execute(INSERT_ROLE, params![user_id, *role]).await?;
    }
    Ok(())
}

pub async fn roles_of(db: &Db, user_id: &UserId) -> Result<Vec<String>, StoreError> {
    db.read(ROLES_OF, params![user_id]).await
}

/// The user's roles as `tx` sees them.
pub async fn roles_in(tx: &mut Tx, user_id: &UserId) -> Result<Vec<String>, StoreError> {
    tx.fetch_all(ROLES_OF, params![user_id]).await
}

async fn with_roles(db: &Db, user: Option<User>) -> Result<Option<User>, StoreError> {
    let Some(mut user) = user else { return Ok(None) };
    user.roles = roles_of(db, &user.id).await?;
    Ok(Some(user))
}

/// Any user by id, expired or not.
pub async fn find(db: &Db, id: &UserId) -> Result<Option<User>, StoreError> {
    with_roles(db, db.read_optional(FIND_USER, params![id]).await?).await
}

/// The user `id` if not expired, with roles the caller already knows (the session
/// gate read them for this request): one query instead of two.
pub async fn find_active_with_roles(
    db: &Db,
    id: &UserId,
    roles: &[String],
) -> Result<Option<User>, StoreError> {
    let user: Option<User> = db.read_optional(FIND_ACTIVE_USER, params![id]).await?;
    Ok(user.map(|user| User { roles: roles.to_vec(), ..user }))
}

/// The user a login name (username or e-mail, any case) refers to, without its
/// roles (login loads them once the password is right: same work for every name).
pub async fn find_by_login(db: &Db, login: &str) -> Result<Option<User>, StoreError> {
    let key = login.trim().to_lowercase();
    if key.len() > 320 || key.chars().any(char::is_control) {
        return Ok(None);
    }
    db.read_optional(FIND_BY_LOGIN, params![key]).await
}

pub async fn any_admin(db: &Db) -> Result<bool, StoreError> {
    Ok(db.count(COUNT_ADMINS, &[]).await? > 0)
}

/// In-flight checks of an account older than this are stale (a node died mid-check).
const STALE_INFLIGHT: i64 = 60;

/// Claims one password check of an unlocked account: true when claimed, i.e. when the
/// settled failures plus the checks in flight stay under `max_failures` (once a lock
/// has run out, one check at a time: each failure locks again, for longer); false when
/// the account is locked or (see [`is_locked`]) other checks must settle first.
pub async fn claim_login_attempt(
    db: &Db,
    id: &UserId,
    now: Timestamp,
    max_failures: u32,
) -> Result<bool, StoreError> {
    Ok(db.execute(CLAIM_LOGIN, params![id, now, max_failures, STALE_INFLIGHT]).await? == 1)
}

/// Whether the account is locked now (as opposed to waiting for checks in flight).
pub async fn is_locked(db: &Db, id: &UserId, now: Timestamp) -> Result<bool, StoreError> {
    Ok(db.count(IS_LOCKED, params![id, now]).await? > 0)
}

/// The same kind of write as `claim_login_attempt`, touching nothing: an unknown
/// login name costs what a known one does.
pub async fn claim_nothing(db: &Db) -> Result<(), StoreError> {
    db.execute(CLAIM_NOTHING, &[]).await?;
    Ok(())
}

pub async fn lock_until(tx: &mut Tx, id: &UserId, until: Timestamp) -> Result<(), StoreError> {
    tx.execute(LOCK_UNTIL, params![id, until]).await?;
    Ok(())
}

/// Settles a right password: failures and lock cleared, its check no longer in flight.
pub async fn record_success(tx: &mut Tx, id: &UserId) -> Result<(), StoreError> {
    tx.execute(RECORD_SUCCESS, params![id]).await?;
    Ok(())
}

/// Settles a wrong password: one more failure, its check no longer in flight. The
/// failures counted so far.
pub async fn record_failure(tx: &mut Tx, id: &UserId) -> Result<i64, StoreError> {
    tx.fetch_one(RECORD_FAILURE, params![id]).await
}

pub async fn set_password_hash(
    tx: &mut Tx,
    id: &UserId,
    hash: &str,
    now: Timestamp,
    by: &UserId,
) -> Result<(), StoreError> {
    tx.execute(SET_PASSWORD_HASH, params![id, hash, now, by]).await?;
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
    id: &UserId,
    change: &ProfileChange,
    now: Timestamp,
    by: &UserId,
    roles: Vec<String>,
) -> Result<Option<User>, StoreError> {
    let email = change.email.as_ref();
    let username_key = change.username.as_ref().map(Username::key);
    let email_key = email.and_then(|e| e.as_ref().map(Email::key));
    names_are_free(tx, id, username_key.as_deref(), email_key.as_deref()).await?;
    let params = params![
        id,
        change.username.as_ref().map(Username::as_str),
        username_key,
        email.is_some(),
        email.and_then(|e| e.as_ref().map(Email::as_str)),
        email_key,
        change.name.as_deref(),
        change.profile.as_deref(),
        change.attributes.as_deref(),
        change.password_hash.as_deref(),
        now,
        by,
    ];
    let user: Option<User> = tx.fetch_optional(UPDATE_ACCOUNT, params).await?;
    Ok(user.map(|user| User { roles, ..user }))
}

/// Refuses an outside identity that is already linked, as its key.
pub async fn identity_is_free(tx: &mut Tx, issuer: &str, subject: &str) -> Result<(), StoreError> {
    match tx.fetch_optional::<String>(LINKED_USER, params![issuer, subject]).await? {
        Some(_) => Err(StoreError::Unique(Some(EXTERNAL_IDENTITY_KEY))),
        None => Ok(()),
    }
}

/// Links an outside identity (`issuer`, `subject`) to the user.
pub async fn link_identity(
    tx: &mut Tx,
    issuer: &str,
    subject: &str,
    user_id: &UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(INSERT_LINK, params![issuer, subject, user_id, now]).await?;
    Ok(())
}

/// Soft-deletes the user; returns false when already expired or missing.
pub async fn expire(tx: &mut Tx, id: &UserId, now: Timestamp, by: &UserId) -> Result<bool, StoreError> {
    Ok(tx.execute(EXPIRE_USER, params![id, now, by]).await? == 1)
}

/// Active administrators other than `user_id`, as `tx` sees them (take the `admins`
/// lock first, so that the answer still holds when `tx` commits).
pub async fn other_admins(tx: &mut Tx, user_id: &UserId) -> Result<i64, StoreError> {
    tx.fetch_one(OTHER_ADMINS, params![user_id]).await
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
) -> Result<(Vec<User>, Option<u64>), StoreError> {
    // Only fixed fragments and placeholders are pasted: every value is bound.
    let mut scope = vec![if include_expired { "1 = 1".to_owned() } else { "expired_at IS NULL".to_owned() }];
    let mut params = Vec::new();
    if let Some(roles) = only_roles {
        let placeholders: Vec<String> = (1..=roles.len()).map(|i| format!("${i}")).collect();
        scope.push(format!(
            "NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = users.id AND r.role NOT IN ({}))",
            placeholders.join(", ")
        ));
        params.extend(roles.iter().map(|r| Param::from(*r)));
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
    let (mut users, total): (Vec<User>, _) = query.fetch(db, listing).await?;
    let ids: Vec<&UserId> = users.iter().map(|u| &u.id).collect();
    let mut roles = roles_of_many(db, &ids).await?;
    for user in &mut users {
        user.roles = roles.remove(&user.id).unwrap_or_default();
    }
    Ok((users, total))
}

async fn roles_of_many(db: &Db, ids: &[&UserId]) -> Result<HashMap<UserId, Vec<String>>, StoreError> {
    let mut roles: HashMap<UserId, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(roles);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT user_id, role FROM user_roles WHERE user_id IN ({}) ORDER BY role",
        placeholders.join(", ")
    );
    let params: Vec<Param<'_>> = ids.iter().map(|id| Param::from(*id)).collect();
    for (user_id, role) in db.read::<(UserId, String)>(Sql::dynamic(&sql), &params).await? {
        roles.entry(user_id).or_default().push(role);
    }
    Ok(roles)
}

/// The usernames of `ids` (those that exist).
pub async fn usernames(db: &Db, ids: &[&str]) -> Result<HashMap<String, String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT id, username FROM users WHERE id IN ({})", placeholders.join(", "));
    let params: Vec<Param<'_>> = ids.iter().map(|id| Param::from(*id)).collect();
    Ok(db.read::<(String, String)>(Sql::dynamic(&sql), &params).await?.into_iter().collect())
}
