//! The user as stored and as shown (never with its password hash).

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{Timestamp, rfc3339};
use crate::domain::ids::UserId;

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub name: String,
    pub profile: String,
    pub attributes: String,
    pub password_hash: Option<String>,
    pub failed_logins: i64,
    pub locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub updated_by: Option<String>,
    pub expired_at: Option<Timestamp>,
    pub roles: Vec<String>,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub name: String,
    pub roles: Vec<String>,
    /// JSON the user edits (≤ 16 KiB).
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
    /// JSON only administrators edit.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: Option<String>,
    pub expired_at: Option<String>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        let json = |text: &str| serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!({}));
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            roles: user.roles.clone(),
            profile: json(&user.profile),
            attributes: json(&user.attributes),
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
            updated_by: user.updated_by.clone(),
            expired_at: user.expired_at.map(rfc3339),
        }
    }
}
