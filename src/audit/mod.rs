//! The audit log: security events, recorded as they happen, read by `audit:read`.

pub mod routes;

use serde_json::Value;

use crate::clock::Timestamp;
use crate::domain::filter::{Field, FieldType, Schema, SortKey};
use crate::http::listing::{ListSql, Listing};
use crate::http::paging::Page;
use crate::params;
use crate::store::{Db, FromRow, Param, Row, StoreError, Tx};

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
    FileUploaded,
    FileDeleted,
    FileLinkCreated,
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
            Self::FileUploaded => "file.uploaded",
            Self::FileDeleted => "file.deleted",
            Self::FileLinkCreated => "file.link_created",
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

    pub fn actor<T: AsRef<str> + ?Sized>(mut self, id: &'a T) -> Self {
        self.actor_id = Some(id.as_ref());
        self
    }

    pub fn target<T: AsRef<str> + ?Sized>(mut self, id: &'a T) -> Self {
        self.target_id = Some(id.as_ref());
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
    pub async fn record(self, tx: &mut Tx, now: Timestamp) -> Result<(), StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let params = params![
            id,
            now,
            self.action.as_str(),
            self.actor_id,
            self.target_id,
            self.ip,
            self.details.to_string()
        ];
        tx.execute(INSERT_EVENT, params).await?;
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

impl FromRow for AuditEntry {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
        let details: String = row.get("details")?;
        Ok(AuditEntry {
            id: row.get("id")?,
            at: crate::clock::rfc3339(row.get("at")?),
            action: row.get("action")?,
            actor_id: row.get("actor_id")?,
            target_id: row.get("target_id")?,
            ip: row.get("ip")?,
            details: serde_json::from_str(&details).unwrap_or(Value::Null),
        })
    }
}

crate::statements! {
    INSERT_EVENT = "INSERT INTO audit_log (id, at, action, actor_id, target_id, ip, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7)";
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
pub async fn list(db: &Db, listing: &Listing, after: Option<&str>) -> Result<Page<AuditEntry>, StoreError> {
    let (scope, scope_params) = match after {
        Some(id) => ("id < $1", vec![Param::from(id)]),
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
    let (items, total) = query.fetch(db, listing).await?;
    Ok(listing.page_of(items, total))
}
