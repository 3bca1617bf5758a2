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
//! The block also declares unit tests that prepare each of its statements against
//! freshly migrated SQLite and PostgreSQL databases (the PostgreSQL one is listed as
//! ignored, with the variable it needs, when PostgreSQL is not configured), so a typo, a missing column or
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
        mod every_statement_prepares {
            fn statements() -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($name), super::$name.text())),*]
            }

            #[test]
            fn on_sqlite() {
                $crate::store::check::on_sqlite(&statements());
            }

            #[test]
            #[cfg_attr(not(test_postgres), ignore = "needs PostgreSQL: set HALLPASS_TEST_POSTGRES_URL")]
            fn on_postgres() {
                $crate::store::check::on_postgres(&statements());
            }
        }
    };
}

#[cfg(test)]
pub mod check {
    //! Preparing statements against real, migrated databases.

    /// Prepares each `(name, text)` on a migrated SQLite database, panicking with every
    /// statement that does not prepare.
    pub fn on_sqlite(statements: &[(&str, &str)]) {
        report(block_on(sqlite_failures(statements)));
    }

    /// The same on a migrated PostgreSQL database (a test that calls this is ignored,
    /// saying so, without `HALLPASS_TEST_POSTGRES_URL`; under `CI` it always runs).
    pub fn on_postgres(statements: &[(&str, &str)]) {
        report(block_on(postgres_failures(statements)));
    }

    fn block_on<T>(work: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(work)
    }

    fn report(failures: Vec<String>) {
        assert!(failures.is_empty(), "statements that do not prepare:\n{}", failures.join("\n"));
    }

    async fn sqlite_failures(statements: &[(&str, &str)]) -> Vec<String> {
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

    async fn postgres_failures(statements: &[(&str, &str)]) -> Vec<String> {
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
