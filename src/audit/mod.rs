//! The audit log: security events, recorded as they happen, read by `audit:read`.

pub mod routes;

use serde_json::Value;

use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey, SqlValue};
use crate::http::error::ApiResult;
use crate::http::listing::{ListSql, Listing};
use crate::http::paging::Page;
use crate::store::{Db, Record, Tx};

/// What happened. The names are the stable `action` strings of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    Logout,
    RefreshReused,
    PasswordChanged,
    RolesChanged,
    TokenCreated,
    TokenRevoked,
    UserCreated,
    UserExpired,
    ExternalLinked,
    SessionRevoked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::Logout => "logout",
            Self::RefreshReused => "refresh.reused",
            Self::PasswordChanged => "password.changed",
            Self::RolesChanged => "roles.changed",
            Self::TokenCreated => "token.created",
            Self::TokenRevoked => "token.revoked",
            Self::UserCreated => "user.created",
            Self::UserExpired => "user.expired",
            Self::ExternalLinked => "external.linked",
            Self::SessionRevoked => "session.revoked",
        }
    }
}

/// One event to record. Never put a password or token secret in `details`.
pub struct Event<'a> {
    pub action: Action,
    pub actor_id: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub ip: Option<String>,
    pub details: Value,
}

impl<'a> Event<'a> {
    pub fn new(action: Action) -> Self {
        Self { action, actor_id: None, target_id: None, ip: None, details: Value::Object(Default::default()) }
    }

    pub fn actor(mut self, id: &'a str) -> Self {
        self.actor_id = Some(id);
        self
    }

    pub fn target(mut self, id: &'a str) -> Self {
        self.target_id = Some(id);
        self
    }

    pub fn ip(mut self, ip: impl ToString) -> Self {
        self.ip = Some(ip.to_string());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Writes the event inside the operation's transaction: the event and what it
    /// describes land together or not at all.
    pub async fn record(self, tx: &mut Tx, now: Timestamp) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, action, actor_id, target_id, ip, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(now)
        .bind(self.action.as_str())
        .bind(self.actor_id)
        .bind(self.target_id)
        .bind(self.ip)
        .bind(self.details.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub action: String,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

fn entry(row: &Record) -> Result<AuditEntry, sqlx::Error> {
    let details: String = row.try_get("details")?;
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: crate::clock::rfc3339(row.try_get("at")?),
        action: row.try_get("action")?,
        actor_id: row.try_get("actor_id")?,
        target_id: row.try_get("target_id")?,
        ip: row.try_get("ip")?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
    })
}

/// What the audit log can be filtered and sorted on.
pub const FIELDS: &[Field] = &[
    Field { name: "id", column: "id", ty: FieldType::Text, nullable: false },
    Field { name: "at", column: "at", ty: FieldType::Timestamp, nullable: false },
    Field { name: "action", column: "action", ty: FieldType::Text, nullable: false },
    Field { name: "actor_id", column: "actor_id", ty: FieldType::Text, nullable: true },
    Field { name: "target_id", column: "target_id", ty: FieldType::Text, nullable: true },
    Field { name: "ip", column: "ip", ty: FieldType::Text, nullable: true },
];
pub const SCHEMA: Schema = Schema { fields: FIELDS };
/// Newest first: ids are UUIDv7, so they sort by time.
pub const DEFAULT_ORDER: &[SortKey] = &[SortKey::desc("id")];

/// A page of events; with `after` (an event id, default order only), the events
/// older than it (keyset paging, stable while new events arrive).
pub async fn list(db: &Db, listing: &Listing, after: Option<&str>) -> ApiResult<Page<AuditEntry>> {
    let (scope, scope_params) = match after {
        Some(id) => ("id < $1", vec![SqlValue::Text(id.to_owned())]),
        None => ("1 = 1", Vec::new()),
    };
    let query = ListSql {
        columns: "id, at, action, actor_id, target_id, ip, details",
        from: "audit_log",
        scope,
        scope_params,
        tiebreak: "id DESC",
        version: None,
    };
    let (rows, total) = query.fetch(db, listing).await?;
    let items = rows.iter().map(entry).collect::<Result<_, _>>()?;
    Ok(listing.page_of(items, total))
}
