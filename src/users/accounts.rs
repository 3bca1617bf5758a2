//! Creating an account: used by registration, the admin CLI and user management.

use crate::auth::password::PasswordHasherPool;
use crate::clock::Timestamp;
use crate::domain::account::{Email, Username, parse_name};
use crate::domain::password_policy;
use crate::http::error::{ApiError, ApiResult};
use crate::store::Db;

use super::model::User;
use super::store::{self, NewUser};

/// What a new account is made from, before validation.
pub struct AccountInput<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Validates every field (reporting all problems at once), hashes, and stores.
pub async fn create(
    db: &Db,
    hasher: &PasswordHasherPool,
    password_min_length: usize,
    input: &AccountInput<'_>,
    roles: &[&str],
    created_by: Option<&str>,
    now: Timestamp,
) -> ApiResult<User> {
    let mut errors = Vec::new();
    let username = Username::parse(input.username)
        .map_err(|e| errors.push(e))
        .ok();
    let email = match input.email.filter(|e| !e.trim().is_empty()) {
        Some(raw) => Email::parse(raw).map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    let name = parse_name(input.name.unwrap_or_default())
        .map_err(|e| errors.push(e))
        .ok();
    if let Err(e) = password_policy::check(input.password, input.username, password_min_length) {
        errors.push(e);
    }
    let (Some(username), Some(name), true) = (username, name, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let password_hash = hasher.hash(input.password).await?;
    let new = NewUser {
        username: &username,
        email: email.as_ref(),
        name: &name,
        password_hash: &password_hash,
        roles,
        created_by,
    };
    store::insert(db, new, now).await
}
