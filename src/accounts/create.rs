//! Creating accounts: registration, the admin CLI, user management, and outside
//! identities all come through here.

use super::password::PasswordHasherPool;
use crate::clock::Timestamp;
use crate::domain::Invalid;
use crate::domain::account::{Email, Username, parse_name};
use crate::domain::ids::UserId;
use crate::domain::password_policy;
use crate::http::error::{ApiError, ApiResult};
use crate::store::Tx;

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
    pub created_by: Option<&'a UserId>,
    pub link: Option<Link<'a>>,
}

/// An account that passed validation, its password already hashed.
pub struct ValidAccount {
    username: Username,
    email: Option<Email>,
    name: String,
    password_hash: Option<String>,
}

/// Validates every field (reporting all problems at once) and hashes the password:
/// everything that can refuse the request or take long, before any write.
pub async fn validate(
    hasher: &PasswordHasherPool,
    password_min_length: usize,
    input: &AccountInput<'_>,
) -> ApiResult<ValidAccount> {
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
    Ok(ValidAccount { username, email, name, password_hash })
}

/// Stores a validated account (and its link) inside `tx`.
pub async fn create(
    tx: &mut Tx,
    account: ValidAccount,
    creation: Creation<'_>,
    now: Timestamp,
) -> ApiResult<User> {
    let new = NewUser {
        username: &account.username,
        email: account.email.as_ref(),
        name: &account.name,
        password_hash: account.password_hash.as_deref(),
        roles: creation.roles,
        created_by: creation.created_by,
    };
    if let Some(link) = &creation.link {
        // Checked first: an identity already linked is the conflict to report.
        store::identity_is_free(tx, link.issuer, link.subject).await?;
    }
    let id = store::insert_in(tx, new, now).await?;
    if let Some(link) = creation.link {
        store::link_identity(tx, link.issuer, link.subject, &id, now).await?;
    }
    Ok(User {
        id,
        username: account.username.as_str().to_owned(),
        email: account.email.map(|e| e.as_str().to_owned()),
        name: account.name,
        profile: "{}".into(),
        attributes: "{}".into(),
        password_hash: account.password_hash,
        failed_logins: 0,
        locked_until: None,
        created_at: now,
        updated_at: now,
        updated_by: creation.created_by.map(UserId::to_string),
        expired_at: None,
        roles: {
            let mut roles: Vec<String> = creation.roles.iter().map(|r| (*r).to_owned()).collect();
            roles.sort_unstable();
            roles.dedup();
            roles
        },
    })
}
