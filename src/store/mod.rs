//! The database: SQLite (embedded) or PostgreSQL behind one typed interface.
//!
//! Statements are written once in the common SQL subset (`$1` placeholders, BIGINT
//! timestamps, TEXT ids) and declared in `statements!` blocks, which check that each
//! prepares on both backends. Values go in as [`Param`]s and rows come out as typed
//! values ([`FromRow`]), NULL as `Option`. Writes run in a [`Tx`]; reads outside one
//! go through [`Db::read`]. On SQLite both run on rusqlite connections of our own, on
//! the request's task (see `sqlite_read` and `sqlite_write`); on PostgreSQL through
//! sqlx's pool. Migrations are per backend because DDL differs.

mod error;
pub mod filter_sql;
pub mod list;
pub mod secrets;
mod sqlite_read;
mod sqlite_write;
mod statement;
mod tx;
mod value;

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, Connection};

pub use error::{EMAIL_KEY, EXTERNAL_IDENTITY_KEY, StoreError, USERNAME_KEY, UniqueKey};
pub use statement::Sql;
#[cfg(test)]
pub use statement::check;
pub use tx::Tx;
pub use value::{Decode, FromRow, Param, Row};

use sqlite_read::SqliteReaders;
use sqlite_write::SqliteWriter;

/// Which SQL engine sits behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Cheap to clone: the connections are shared.
#[derive(Clone)]
pub struct Db {
    engine: Engine,
    /// Set by [`Db::close`]: every later use answers "unavailable".
    closed: Arc<std::sync::atomic::AtomicBool>,
    pub backend: Backend,
    /// Totals of recent lists (see [`Db::count_versioned`]).
    counts: Cache<String, (i64, u64)>,
}

#[derive(Clone)]
enum Engine {
    Sqlite { path: Arc<std::path::Path>, readers: Arc<SqliteReaders>, writer: Arc<SqliteWriter> },
    Postgres(sqlx::PgPool),
}

/// Counts kept, and for how long one unused is kept.
const CACHED_COUNTS: u64 = 10_000;
const CACHED_COUNT_IDLE: Duration = Duration::from_secs(600);

/// The longest a request waits for a PostgreSQL connection. sqlx keeps retrying a
/// refused connection until then, so while the server is down every request takes
/// this long to answer 503: it stays well under the 3 s the API promises (an
/// overloaded server likewise turns into a quick 503 instead of a hung request).
const POSTGRES_PATIENCE: Duration = Duration::from_secs(2);
const POSTGRES_CONNECTIONS: u32 = 16;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects (creating the SQLite file and its directory if needed).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let (backend, engine) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)?;
            }
            let writer = Arc::new(SqliteWriter::open(path)?);
            let readers = Arc::new(SqliteReaders::new(path));
            (Backend::Sqlite, Engine::Sqlite { path: path.into(), readers, writer })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = url.parse::<sqlx::postgres::PgConnectOptions>()?.disable_statement_logging();
            let pool = PgPoolOptions::new()
                .max_connections(POSTGRES_CONNECTIONS)
                .min_connections(1)
                .acquire_timeout(POSTGRES_PATIENCE)
                .connect_with(options)
                .await?;
            (Backend::Postgres, Engine::Postgres(pool))
        } else {
            anyhow::bail!("HALLPASS_DATABASE_URL must start with sqlite: or postgres://");
        };
        let counts = Cache::builder().max_capacity(CACHED_COUNTS).time_to_idle(CACHED_COUNT_IDLE).build();
        Ok(Self { engine, backend, counts, closed: Arc::default() })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.engine {
            Engine::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path.as_ref());
                let mut conn =
                    sqlx::SqliteConnection::connect_with(&options.disable_statement_logging()).await?;
                SQLITE_MIGRATIONS.run(&mut conn).await?;
                conn.close().await?;
            }
            Engine::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        Ok(())
    }

    /// Starts the write transaction of one operation.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        self.check_open()?;
        match &self.engine {
            Engine::Sqlite { writer, .. } => Ok(Tx::sqlite(writer.begin().await?)),
            Engine::Postgres(pool) => Ok(Tx::postgres(pool.begin().await?)),
        }
    }

    /// One write in a transaction of its own; the number of rows it changed.
    pub async fn execute(&self, sql: Sql<'_>, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let changed = tx.execute(sql, params).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// The rows a query returns, with `params` bound to `$1…` in order: what was
    /// committed before it began.
    pub async fn read<T: FromRow>(&self, sql: Sql<'_>, params: &[Param<'_>]) -> Result<Vec<T>, StoreError> {
        self.check_open()?;
        match &self.engine {
            Engine::Sqlite { readers, .. } => readers.read(sql.text(), params).await,
            Engine::Postgres(pool) => {
                let query = value::bind_pg(sqlx::query(sqlx::AssertSqlSafe(sql.text())), params);
                tx::decode_pg(&query.fetch_all(pool).await?)
            }
        }
    }

    /// The first row of [`Db::read`], if any.
    pub async fn read_optional<T: FromRow>(
        &self,
        sql: Sql<'_>,
        params: &[Param<'_>],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.read(sql, params).await?.into_iter().next())
    }

    /// Two queries' rows. On SQLite both see one snapshot; on PostgreSQL each sees
    /// what was committed before it began.
    pub async fn read_pair<A: FromRow, B: FromRow>(
        &self,
        (first, first_params): (Sql<'_>, &[Param<'_>]),
        (second, second_params): (Sql<'_>, &[Param<'_>]),
    ) -> Result<(Vec<A>, Vec<B>), StoreError> {
        self.check_open()?;
        match &self.engine {
            Engine::Sqlite { readers, .. } => {
                readers.read_pair((first.text(), first_params), (second.text(), second_params)).await
            }
            Engine::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let query = value::bind_pg(sqlx::query(sqlx::AssertSqlSafe(first.text())), first_params);
                let a = tx::decode_pg(&query.fetch_all(&mut *conn).await?)?;
                let query = value::bind_pg(sqlx::query(sqlx::AssertSqlSafe(second.text())), second_params);
                let b = tx::decode_pg(&query.fetch_all(&mut *conn).await?)?;
                Ok((a, b))
            }
        }
    }

    /// The number a `SELECT COUNT(*) …` query returns.
    pub async fn count(&self, sql: Sql<'_>, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let count: i64 = self.read_optional(sql, params).await?.ok_or(StoreError::NoRow)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Like [`Db::count`], but reuses the number counted earlier for the same query
    /// while the data's `version` has not changed since. `version` must be read
    /// before the count and bumped in the same transaction as every change to the
    /// data: a count is then never labelled newer than it is.
    pub async fn count_versioned(
        &self,
        sql: Sql<'_>,
        params: &[Param<'_>],
        version: i64,
    ) -> Result<u64, StoreError> {
        let key = format!("{}\0{params:?}", sql.text());
        if let Some((counted_at, total)) = self.counts.get(&key)
            && counted_at == version
        {
            return Ok(total);
        }
        let total = self.count(sql, params).await?;
        self.counts.insert(key, (version, total));
        Ok(total)
    }

    /// Runs SQL text of several statements, without parameters: schema changes in
    /// tests and tools, never anything built from input.
    pub async fn execute_script(&self, script: &str) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sqlite { writer, .. } => {
                let tx = writer.begin().await?;
                tx.conn().execute_batch(script)?;
                tx.commit()
            }
            Engine::Postgres(pool) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(script.to_owned())).execute(pool).await?;
                Ok(())
            }
        }
    }

    /// Readiness probe: one round trip (on SQLite, through a reader, so that a long
    /// write does not make the node look down).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read::<i64>(Sql::dynamic("SELECT 1"), &[]).await.map(|_| ())
    }

    /// Closes the store: later uses answer "unavailable" (503). PostgreSQL's pool
    /// closes; SQLite's connections close with their last handle.
    pub async fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Engine::Postgres(pool) = &self.engine {
            pool.close().await;
        }
    }
}

/// Serializes the transactions that take the same named lock (`migrations/*/locks`):
/// the second waits until the first has committed, then sees what it wrote. The rule
/// "keep an administrator" takes `admins`, so two admins demoting each other at the
/// same moment cannot both succeed.
pub async fn take_lock(tx: &mut Tx, name: &str) -> Result<(), StoreError> {
    if tx.execute(TAKE_LOCK, crate::params![name]).await? != 1 {
        return Err(StoreError::Other(format!("no lock named {name}")));
    }
    Ok(())
}

crate::statements! {
    TAKE_LOCK = "UPDATE locks SET taken = taken + 1 WHERE name = $1";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_versioned_count_is_reused_until_the_version_moves() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite:{}", dir.path().join("count.db").display())).await.unwrap();
        db.execute_script("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2)").await.unwrap();
        let sql = Sql::dynamic("SELECT COUNT(*) FROM t WHERE n > $1");
        assert_eq!(db.count_versioned(sql, crate::params![0_i64], 1).await.unwrap(), 2);
        db.execute_script("INSERT INTO t VALUES (3)").await.unwrap();
        // Nothing bumped the version: the earlier count stands (this is what a write
        // that forgot its bump would look like).
        assert_eq!(db.count_versioned(sql, crate::params![0_i64], 1).await.unwrap(), 2);
        assert_eq!(
            db.count_versioned(sql, crate::params![0_i64], 2).await.unwrap(),
            3,
            "a new version counts again"
        );
        assert_eq!(
            db.count_versioned(sql, crate::params![2_i64], 2).await.unwrap(),
            1,
            "other params, other count"
        );
    }
}
