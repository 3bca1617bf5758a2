//! The database: one connection pool over SQLite or PostgreSQL, and migrations.
//!
//! Queries are written once in the common SQL subset (`$1` placeholders, BIGINT
//! timestamps, TEXT ids) and run through sqlx's `Any` driver on either backend; the
//! migrations folder is per backend because DDL differs. Reads that return rows go
//! through [`Db::read`], which on SQLite skips sqlx (see `sqlite_read`).

mod record;
mod sqlite_read;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use record::{Cell, FromCell, Record};

use sqlite_read::SqliteReaders;

use crate::domain::filter::SqlValue;

/// One read: SQL and the values of its `$1…`.
pub type Read<'a> = (&'a str, &'a [SqlValue]);

/// A write transaction. One operation writes through one of these, passed down to
/// every store function it calls, its audit row included: it all commits together or
/// not at all (dropping it uncommitted rolls back).
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Which SQL engine sits behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Cheap to clone: the pool is reference counted.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite only: the connections [`Db::read`] uses.
    sqlite_readers: Option<Arc<SqliteReaders>>,
    /// Totals of recent lists (see [`Db::count_versioned`]).
    counts: Cache<String, (i64, u64)>,
}

/// The longest a request waits for a PostgreSQL connection. sqlx keeps retrying a
/// refused connection until then, so while the server is down every request takes
/// this long to answer 503: it stays well under the 3 s the API promises (an
/// overloaded server likewise turns into a quick 503 instead of a hung request).
const POSTGRES_PATIENCE: Duration = Duration::from_secs(2);

/// Counts kept, and for how long one unused is kept.
const CACHED_COUNTS: u64 = 10_000;
const CACHED_COUNT_IDLE: Duration = Duration::from_secs(600);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects (creating the SQLite file and its directory if needed).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("HALLPASS_DATABASE_URL must start with sqlite: or postgres://");
        };
        let mut sqlite_readers = None;
        let pool = match backend {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                let path = path.split('?').next().unwrap_or(path);
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)?;
                }
                sqlite_readers = Some(Arc::new(SqliteReaders::new(std::path::Path::new(path))));
                // sqlx's SQLite defaults already enable foreign keys and a 5 s busy
                // timeout; WAL lets readers run beside the single writer.
                //
                // One connection: SQLite runs one write transaction at a time, and a
                // second connection that tries anyway is told BUSY and sleeps in
                // SQLite's busy handler (1, 2, 5, 10… ms). Waiting in the pool's
                // queue instead hands the connection over the moment it is free (see
                // bench/README.md). A writer may wait out the longest write the server
                // makes itself: a 100,000-row import takes several seconds.
                let options = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=rwc"))?
                    .disable_statement_logging();
                pool_options(1, Duration::from_secs(30))
                    // An embedded connection cannot drop; sqlx's ping before every
                    // acquire would cost a round trip to its worker thread per write.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers beside the writer; a 32 MiB page cache and a
                            // 256 MiB memory map per connection keep hot lists in memory.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                                 PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456;
                                 PRAGMA temp_store = MEMORY;",
                            )
                            .await
                            .map(|_| ())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
                pool_options(16, POSTGRES_PATIENCE).connect_with(options).await?
            }
        };
        let counts = Cache::builder().max_capacity(CACHED_COUNTS).time_to_idle(CACHED_COUNT_IDLE).build();
        Ok(Self { pool, backend, sqlite_readers, counts })
    }

    /// Runs a query that returns rows, with `params` bound to `$1…` in order.
    pub async fn read(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Record>, sqlx::Error> {
        let mut results = self.read_together(&[(sql, params)]).await?;
        Ok(results.pop().unwrap_or_default())
    }

    /// Runs several such queries in order, returning each one's rows. On SQLite they
    /// all see one snapshot (and share one read transaction's locking); on
    /// PostgreSQL each sees what was committed before it began.
    pub async fn read_together(&self, reads: &[Read<'_>]) -> Result<Vec<Vec<Record>>, sqlx::Error> {
        if let Some(readers) = &self.sqlite_readers {
            return readers.read(reads).await;
        }
        let mut conn = self.pool.acquire().await?;
        let mut results = Vec::with_capacity(reads.len());
        for (sql, params) in reads {
            results.push(read_in(&mut conn, sql, params).await?);
        }
        Ok(results)
    }

    /// Starts the write transaction of one operation.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.pool.begin().await
    }

    /// The number a `SELECT COUNT(*) …` query returns.
    pub async fn count(&self, sql: &str, params: &[SqlValue]) -> Result<u64, sqlx::Error> {
        let row = self.read_optional(sql, params).await?.ok_or(sqlx::Error::RowNotFound)?;
        Ok(u64::try_from(row.try_get_at::<i64>(0)?).unwrap_or(0))
    }

    /// Like [`Db::count`], but reuses the number counted earlier for the same query
    /// while the data's `version` has not changed since. `version` must be read
    /// before the count and bumped in the same transaction as every change to the
    /// data: a count is then never labelled newer than it is.
    pub async fn count_versioned(
        &self,
        sql: &str,
        params: &[SqlValue],
        version: i64,
    ) -> Result<u64, sqlx::Error> {
        let key = format!("{sql}\0{params:?}");
        if let Some((counted_at, total)) = self.counts.get(&key)
            && counted_at == version
        {
            return Ok(total);
        }
        let total = self.count(sql, params).await?;
        self.counts.insert(key, (version, total));
        Ok(total)
    }

    /// The first row of [`Db::read`], if any.
    pub async fn read_optional(&self, sql: &str, params: &[SqlValue]) -> Result<Option<Record>, sqlx::Error> {
        Ok(self.read(sql, params).await?.into_iter().next())
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Readiness probe: one round trip (on SQLite, through a reader, so that a long
    /// write does not make the node look down), and the writers' pool still open.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        if self.pool.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        self.read("SELECT 1", &[]).await.map(|_| ())
    }
}

/// A read inside a transaction: it sees the transaction's own writes, and on
/// PostgreSQL the rows it locked.
async fn read_in(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<Record>, sqlx::Error> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in params {
        query = match value {
            SqlValue::Int(n) => query.bind(*n),
            SqlValue::Real(x) => query.bind(*x),
            SqlValue::Text(s) => query.bind(s.clone()),
        };
    }
    Record::from_any_rows(&query.fetch_all(conn).await?)
}

/// Serializes the transactions that take the same named lock (`migrations/*/locks`):
/// the second waits until the first has committed, then sees what it wrote. The rule
/// "keep an administrator" takes `admins`, so two admins demoting each other at the
/// same moment cannot both succeed.
pub async fn take_lock(tx: &mut Tx, name: &str) -> Result<(), sqlx::Error> {
    let taken = sqlx::query("UPDATE locks SET taken = taken + 1 WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    if taken.rows_affected() != 1 {
        return Err(sqlx::Error::Protocol(format!("no lock named {name}")));
    }
    Ok(())
}

fn pool_options(max: u32, acquire_timeout: Duration) -> AnyPoolOptions {
    AnyPoolOptions::new().max_connections(max).min_connections(1).acquire_timeout(acquire_timeout)
}

/// True when `err` is a unique-constraint violation (the caller maps it to 409).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A nullable `f64` parameter. sqlx 0.9's `Any` driver sends a NULL `f64` to
/// PostgreSQL typed `float4`, and a cached statement first run with NULL then fails
/// ("incorrect binary data format") once real values come; NULLs bound through
/// `f32`'s type reach PostgreSQL as `float8`, matching the values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Double(pub Option<f64>);

impl sqlx::Type<sqlx::Any> for Double {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Any> for Double {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(value) => <f64 as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&value, buf),
            None => <Option<f32> as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&None, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_versioned_count_is_reused_until_the_version_moves() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite:{}", dir.path().join("count.db").display())).await.unwrap();
        db.pool.execute("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2)").await.unwrap();
        let sql = "SELECT COUNT(*) FROM t WHERE n > $1";
        let params = [SqlValue::Int(0)];
        assert_eq!(db.count_versioned(sql, &params, 1).await.unwrap(), 2);
        db.pool.execute("INSERT INTO t VALUES (3)").await.unwrap();
        // Nothing bumped the version: the earlier count stands (this is what a write
        // that forgot its bump would look like).
        assert_eq!(db.count_versioned(sql, &params, 1).await.unwrap(), 2);
        assert_eq!(db.count_versioned(sql, &params, 2).await.unwrap(), 3, "a new version counts again");
        assert_eq!(
            db.count_versioned(sql, &[SqlValue::Int(2)], 2).await.unwrap(),
            1,
            "other params, other count"
        );
    }
}
