//! SQL text for both backends, and the check that every static statement prepares
//! on both.
//!
//! A static statement is declared once, in a `statements!` block of its store module:
//!
//! ```ignore
//! statements! {
//!     /// The user's roles.
//!     ROLES_OF = "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role";
//! }
//! ```
//!
//! The block also declares a unit test that prepares each of its statements against
//! freshly migrated SQLite and PostgreSQL databases, so a typo, a missing column or
//! SQL one backend does not speak fails `cargo test`, not a request. Dynamic SQL
//! (lists and their filters) is built by `store::list`.

/// SQL text in the common subset: `$1…` placeholders, BIGINT Unix-second timestamps,
/// TEXT ids.
#[derive(Debug, Clone, Copy)]
pub struct Sql<'a>(&'a str);

impl Sql<'static> {
    /// A static statement; use `statements!`, which also checks it.
    #[doc(hidden)]
    pub const fn declared(text: &'static str) -> Self {
        Sql(text)
    }
}

impl<'a> Sql<'a> {
    /// Text built at run time from fixed fragments and placeholders (lists), never
    /// from a value; or ad hoc, in tests.
    pub fn dynamic(text: &'a str) -> Self {
        Sql(text)
    }

    pub fn text(&self) -> &'a str {
        self.0
    }
}

/// Declares static statements (see the module documentation).
#[macro_export]
macro_rules! statements {
    ($($(#[$doc:meta])* $name:ident = $text:expr;)*) => {
        $(
            $(#[$doc])*
            pub(crate) const $name: $crate::store::Sql<'static> = $crate::store::Sql::declared($text);
        )*

        #[cfg(test)]
        #[test]
        fn every_statement_prepares_on_both_backends() {
            $crate::store::check::prepare_all(&[$((stringify!($name), $text)),*]);
        }
    };
}

#[cfg(test)]
pub mod check {
    //! Preparing statements against real, migrated databases.

    /// Prepares each `(name, text)` on SQLite and (when configured; always under
    /// `CI`) PostgreSQL, panicking with every statement that does not prepare.
    pub fn prepare_all(statements: &[(&str, &str)]) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let failures = runtime.block_on(on_sqlite(statements));
        #[cfg(test_postgres)]
        let failures = [failures, runtime.block_on(on_postgres(statements))].concat();
        assert!(failures.is_empty(), "statements that do not prepare:\n{}", failures.join("\n"));
    }

    async fn on_sqlite(statements: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("check.db");
        let db = super::super::Db::connect(&format!("sqlite:{}", path.display())).await.unwrap();
        db.migrate().await.unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        statements
            .iter()
            .filter_map(|(name, text)| conn.prepare(text).err().map(|err| format!("sqlite {name}: {err}")))
            .collect()
    }

    #[cfg(test_postgres)]
    async fn on_postgres(statements: &[(&str, &str)]) -> Vec<String> {
        use sqlx::{Connection, Executor};
        let admin = std::env::var("HALLPASS_TEST_POSTGRES_URL")
            .expect("HALLPASS_TEST_POSTGRES_URL: statements are checked on PostgreSQL too");
        let name = format!("hallpass_statements_{}", uuid::Uuid::now_v7().simple());
        let mut server = sqlx::PgConnection::connect(&admin).await.unwrap();
        server.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        let failures = {
            let db = super::super::Db::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut failures = Vec::new();
            for (statement, text) in statements {
                if let Err(err) =
                    conn.prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(*text))).await
                {
                    failures.push(format!("postgres {statement}: {err}"));
                }
            }
            conn.close().await.unwrap();
            db.close().await;
            failures
        };
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        server.execute(sqlx::AssertSqlSafe(drop)).await.unwrap();
        failures
    }
}
