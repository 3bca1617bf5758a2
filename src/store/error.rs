//! The store's one error type: what went wrong, in terms the edge can map to HTTP
//! without looking at driver messages.

/// A unique key, named the same on both backends (`table.column`).
pub type UniqueKey = &'static str;

pub const USERNAME_KEY: UniqueKey = "users.username_key";
pub const EMAIL_KEY: UniqueKey = "users.email_key";
pub const EXTERNAL_IDENTITY_KEY: UniqueKey = "external_identities";

/// Every unique constraint the edge may report by name: its PostgreSQL name (the
/// default `<table>_<column>_key`, or `<table>_pkey`) and its SQLite message suffix.
const UNIQUE_KEYS: &[(&str, &str, UniqueKey)] = &[
    ("users_username_key_key", "users.username_key", USERNAME_KEY),
    ("users_email_key_key", "users.email_key", EMAIL_KEY),
    (
        "external_identities_pkey",
        "external_identities.issuer, external_identities.subject",
        EXTERNAL_IDENTITY_KEY,
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (or the pool waited too long for it).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Transient contention: worth a retry (SQLite BUSY, PostgreSQL serialization
    /// failures, deadlocks, resource limits, shutdowns).
    #[error("database busy: {0}")]
    Busy(String),
    /// A unique constraint was violated; the key when it is one we name.
    #[error("unique constraint violated: {}", .0.unwrap_or("unnamed"))]
    Unique(Option<UniqueKey>),
    /// PostgreSQL refuses NUL and unconvertible characters in text.
    #[error("text that cannot be stored")]
    UnstorableText,
    /// A row that was expected was not there.
    #[error("no row")]
    NoRow,
    /// A value that does not decode to its Rust type.
    #[error("decode: {0}")]
    Decode(String),
    /// A SQLite read stopped for running over its inline budget (it is run again on a
    /// blocking thread; never reaches the edge).
    #[error("read interrupted")]
    Interrupted,
    /// Anything else: a bug or a broken database.
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    pub fn is_unique(&self) -> bool {
        matches!(self, Self::Unique(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Self::Unavailable(err.to_string()),
            sqlx::Error::RowNotFound => Self::NoRow,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
                Self::Decode(err.to_string())
            }
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                let code = code.as_ref();
                if db.is_unique_violation() {
                    let name = db.constraint().unwrap_or_default();
                    Self::Unique(UNIQUE_KEYS.iter().find(|(pg, _, _)| *pg == name).map(|(_, _, key)| *key))
                } else if matches!(code, "22021" | "22P05") {
                    Self::UnstorableText
                } else if matches!(code, "40001" | "40P01")
                    || ["53", "57P"].iter().any(|c| code.starts_with(c))
                {
                    Self::Busy(err.to_string())
                } else if code.starts_with("08") {
                    Self::Unavailable(err.to_string())
                } else {
                    Self::Other(err.to_string())
                }
            }
            _ => Self::Other(err.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match &err {
            rusqlite::Error::SqliteFailure(failure, message) => match failure.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Self::Busy(err.to_string()),
                ErrorCode::OperationInterrupted => Self::Interrupted,
                ErrorCode::ConstraintViolation
                    if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    // "UNIQUE constraint failed: users.username_key"
                    let columns = message.as_deref().and_then(|m| m.split_once(": ")).map(|(_, c)| c);
                    Self::Unique(
                        UNIQUE_KEYS
                            .iter()
                            .find(|(_, sqlite, _)| Some(*sqlite) == columns)
                            .map(|(_, _, key)| *key),
                    )
                }
                ErrorCode::CannotOpen | ErrorCode::SystemIoFailure => Self::Unavailable(err.to_string()),
                _ => Self::Other(err.to_string()),
            },
            rusqlite::Error::QueryReturnedNoRows => Self::NoRow,
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::InvalidColumnName(_)
            | rusqlite::Error::InvalidColumnIndex(_)
            | rusqlite::Error::FromSqlConversionFailure(..) => Self::Decode(err.to_string()),
            _ => Self::Other(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_unique_violations_name_their_key_exactly() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE users (username_key TEXT UNIQUE, email_key TEXT UNIQUE, other TEXT UNIQUE);
             INSERT INTO users VALUES ('a', 'a@x', 'o');",
        )
        .unwrap();
        let insert = |sql: &str| StoreError::from(conn.execute_batch(sql).unwrap_err());
        assert!(matches!(
            insert("INSERT INTO users VALUES ('a', 'b@x', 'p')"),
            StoreError::Unique(Some(USERNAME_KEY))
        ));
        assert!(matches!(
            insert("INSERT INTO users VALUES ('b', 'a@x', 'p')"),
            StoreError::Unique(Some(EMAIL_KEY))
        ));
        assert!(matches!(insert("INSERT INTO users VALUES ('b', 'b@x', 'o')"), StoreError::Unique(None)));
    }
}
