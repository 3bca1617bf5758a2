//! Creating accounts: registration, the admin CLI, user management, and outside
//! identities all come through here.

use crate::auth::password::PasswordHasherPool;
use crate::clock::Timestamp;
use crate::domain::Invalid;
use crate::domain::account::{Email, Username, parse_name};
use crate::domain::filter::SqlValue;
use crate::domain::password_policy;
use crate::http::error::{ApiError, ApiResult};
use crate::store::Db;

use super::model::User;
use super::store::{self, NewUser};

/// What a new account is made from, before validation.
pub struct AccountInput<'a> {
    pub username: &'a str,
    /// `None` for accounts that only sign in through an outside identity.
    pub password: Option<&'a str>,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// An outside identity to link the new account to.
pub struct Link<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
}

pub struct Creation<'a> {
    pub roles: &'a [&'a str],
    pub created_by: Option<&'a str>,
    pub link: Option<Link<'a>>,
}

/// Validates every field (reporting all problems at once), hashes the password,
/// and stores the account (and its link) in one transaction.
pub async fn create(
    db: &Db,
    hasher: &PasswordHasherPool,
    password_min_length: usize,
    input: &AccountInput<'_>,
    creation: Creation<'_>,
    now: Timestamp,
) -> ApiResult<User> {
    let mut errors: Vec<Invalid> = Vec::new();
    let username = Username::parse(input.username).map_err(|e| errors.push(e)).ok();
    let email = match input.email.filter(|e| !e.trim().is_empty()) {
        Some(raw) => Email::parse(raw).map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    let name = parse_name(input.name.unwrap_or_default()).map_err(|e| errors.push(e)).ok();
    if let Some(password) = input.password
        && let Err(e) = password_policy::check(password, input.username, password_min_length)
    {
        errors.push(e);
    }
    let (Some(username), Some(name), true) = (username, name, errors.is_empty()) else {
        return Err(ApiError::from(errors));
    };
    let password_hash = match input.password {
        Some(password) => Some(hasher.hash(password).await?),
        None => None,
    };
    let new = NewUser {
        username: &username,
        email: email.as_ref(),
        name: &name,
        password_hash: password_hash.as_deref(),
        roles: creation.roles,
        created_by: creation.created_by,
    };
    if let Some(link) = &creation.link {
        let sql = "SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2";
        let params = [SqlValue::Text(link.issuer.to_owned()), SqlValue::Text(link.subject.to_owned())];
        let linked = db.read_optional(sql, &params).await?;
        if linked.is_some() {
            return Err(already_linked());
        }
    }
    let mut tx = db.pool.begin().await?;
    let id = store::insert_in(&mut tx, new, now).await?;
    if let Some(link) = creation.link {
        sqlx::query(
            "INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(link.issuer)
        .bind(link.subject)
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|err| match crate::store::is_unique_violation(&err) {
            true => ApiError::conflict("already_linked", "this outside identity already has an account"),
            false => err.into(),
        })?;
    }
    tx.commit().await?;
    store::find(db, &id).await?.ok_or(ApiError::NotFound)
}

fn already_linked() -> ApiError {
    ApiError::conflict("already_linked", "this outside identity already has an account")
}
