//! SQLite reads without a thread hop.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so every query
//! costs two context switches and a message per row; on a small machine that hand-off
//! cost more than the query. Reads (lists, counts, reports) instead run here, on
//! read-only connections of their own, called directly from the request's task.
//!
//! A read first runs inline under a budget of SQLite VM steps. The short indexed
//! reads that make up nearly all traffic finish well within it; a read that exceeds
//! it (a filter that scans everyone's runs, say) is interrupted and run again on a
//! blocking thread, so no query holds up the async runtime for long. Writes stay with
//! sqlx; WAL lets these readers run beside the writer, and each read sees every
//! transaction committed before it began.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::config::DbConfig;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::Read;
use super::record::{Cell, Record};
use crate::domain::filter::SqlValue;

/// VM steps between two checks of a read's budget.
const STEPS_PER_TICK: i32 = 1000;
/// Ticks an inline read may take (about a millisecond of work) before it moves to a
/// blocking thread.
const INLINE_TICKS: u32 = 1000;
/// Reads running on blocking threads at once; more wait their turn.
const OFFLOADED_READS: usize = 4;
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 16;
/// Prepared statements kept per connection (list queries vary with their filter).
const STATEMENT_CACHE: usize = 128;

/// A pool of read-only connections to one SQLite file.
pub struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    offloaded: Semaphore,
}

struct Reader {
    conn: Connection,
    /// Budget ticks left for the current read; the progress handler interrupts the
    /// read when it reaches zero.
    ticks_left: Arc<AtomicU32>,
}

impl SqliteReaders {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            offloaded: Semaphore::new(OFFLOADED_READS),
        }
    }

    /// Runs reads in order on one snapshot (one read transaction), each with its
    /// params bound to `$1…`, returning each read's rows.
    pub async fn read(self: &Arc<Self>, reads: &[Read<'_>]) -> Result<Vec<Vec<Record>>, sqlx::Error> {
        match self.run(reads, INLINE_TICKS) {
            Err(err) if is_interrupt(&err) => {}
            done => return done.map_err(into_sqlx),
        }
        let _permit = self.offloaded.acquire().await.map_err(|_| sqlx::Error::PoolClosed)?;
        let owned: Vec<(String, Vec<SqlValue>)> =
            reads.iter().map(|(sql, params)| ((*sql).to_owned(), params.to_vec())).collect();
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let reads: Vec<Read<'_>> =
                owned.iter().map(|(sql, params)| (sql.as_str(), params.as_slice())).collect();
            this.run(&reads, u32::MAX)
        })
        .await
        .map_err(|err| sqlx::Error::Protocol(format!("read task failed: {err}")))?
        .map_err(into_sqlx)
    }

    fn run(&self, reads: &[Read<'_>], ticks: u32) -> rusqlite::Result<Vec<Vec<Record>>> {
        let reader = self.checkout()?;
        reader.ticks_left.store(ticks, Ordering::Relaxed);
        let rows = match reads {
            [] => Ok(Vec::new()),
            [(sql, params)] => query(&reader.conn, sql, params).map(|rows| vec![rows]),
            _ => in_one_transaction(&reader, reads),
        };
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A connection still inside a transaction (its ROLLBACK failed) would keep an
        // old snapshot for good: it is dropped instead.
        if idle.len() < MAX_IDLE && reader.conn.is_autocommit() {
            idle.push(reader);
        }
        rows
    }

    fn checkout(&self) -> rusqlite::Result<Reader> {
        let reused = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        match reused {
            Some(reader) => Ok(reader),
            None => self.open(),
        }
    }

    fn open(&self) -> rusqlite::Result<Reader> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456;
             PRAGMA temp_store = MEMORY;",
        )?;
        // Plans must not depend on bound values. Otherwise, once ANALYZE has gathered
        // sqlite_stat4 samples, every new value bound to a cached statement (another
        // user's id, another date) makes SQLite compile the statement again.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let ticks_left = Arc::new(AtomicU32::new(INLINE_TICKS));
        let budget = ticks_left.clone();
        conn.progress_handler(
            STEPS_PER_TICK,
            Some(move || {
                let left = budget.load(Ordering::Relaxed);
                budget.store(left.saturating_sub(1), Ordering::Relaxed);
                left == 0
            }),
        )?;
        Ok(Reader { conn, ticks_left })
    }
}

/// Several reads on one snapshot. A single statement is its own transaction; a group
/// takes SQLite's locks once rather than once per statement, and always ends its
/// transaction, whatever happened, before the connection is reused.
fn in_one_transaction(reader: &Reader, reads: &[Read<'_>]) -> rusqlite::Result<Vec<Vec<Record>>> {
    let conn = &reader.conn;
    conn.prepare_cached("BEGIN")?.execute([])?;
    let rows: rusqlite::Result<Vec<_>> = reads.iter().map(|(sql, params)| query(conn, sql, params)).collect();
    // Ending a read transaction must not be cut short by the read's budget.
    reader.ticks_left.store(u32::MAX, Ordering::Relaxed);
    let ended = conn.prepare_cached("COMMIT").and_then(|mut commit| commit.execute([]));
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    let rows = rows?;
    ended?;
    Ok(rows)
}

fn query(conn: &Connection, sql: &str, params: &[SqlValue]) -> rusqlite::Result<Vec<Record>> {
    let mut statement = conn.prepare_cached(sql)?;
    for (i, value) in params.iter().enumerate() {
        let name = format!("${}", i + 1);
        match value {
            SqlValue::Int(n) => statement.raw_bind_parameter(name.as_str(), n)?,
            SqlValue::Real(x) => statement.raw_bind_parameter(name.as_str(), x)?,
            SqlValue::Text(s) => statement.raw_bind_parameter(name.as_str(), s)?,
        }
    }
    let names: Arc<[String]> = statement.column_names().into_iter().map(str::to_owned).collect();
    let width = names.len();
    let mut rows = statement.raw_query();
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        let cells = (0..width)
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(x) => Cell::Real(x),
                    ValueRef::Text(bytes) => Cell::Text(match std::str::from_utf8(bytes) {
                        Ok(text) => text.to_owned(),
                        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                    }),
                    ValueRef::Blob(bytes) => Cell::Blob(bytes.to_vec()),
                })
            })
            .collect::<rusqlite::Result<_>>()?;
        records.push(Record::new(names.clone(), cells));
    }
    Ok(records)
}

fn is_interrupt(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
}

/// SQLite's own failures keep their (extended) result code, so that BUSY still maps
/// to a 503 like it does through sqlx; anything else is an internal error.
fn into_sqlx(err: rusqlite::Error) -> sqlx::Error {
    match &err {
        rusqlite::Error::SqliteFailure(failure, _) => sqlx::Error::Database(Box::new(SqliteReadError {
            code: failure.extended_code.to_string(),
            message: err.to_string(),
        })),
        _ => sqlx::Error::Protocol(format!("sqlite read: {err}")),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct SqliteReadError {
    code: String,
    message: String,
}

impl sqlx::error::DatabaseError for SqliteReadError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.as_str().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers() -> (tempfile::TempDir, Arc<SqliteReaders>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER, x REAL, s TEXT, b BLOB);
             INSERT INTO t VALUES (1, 0.5, 'one', x'01'), (2, NULL, 'two', NULL);",
        )
        .unwrap();
        (dir, Arc::new(SqliteReaders::new(&path)))
    }

    #[tokio::test]
    async fn binds_numbered_parameters_by_name_and_reads_every_type() {
        let (_dir, readers) = readers();
        // `$2` comes first in the text: binding must follow the numbers, not the order.
        let sql = "SELECT n, x, s, b FROM t WHERE s <> $2 OR n = $1 ORDER BY n";
        let params = [SqlValue::Int(2), SqlValue::Text("two".into())];
        let rows = readers.read(&[(sql, &params)]).await.unwrap().remove(0);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].try_get::<Option<f64>>("x").unwrap(), Some(0.5));
        assert_eq!(rows[0].try_get::<Vec<u8>>("b").unwrap(), vec![1]);
        assert_eq!(rows[1].try_get::<String>("s").unwrap(), "two");
        assert_eq!(rows[1].try_get::<Option<f64>>("x").unwrap(), None);
    }

    #[tokio::test]
    async fn a_read_over_the_inline_budget_completes_on_a_blocking_thread() {
        let (_dir, readers) = readers();
        // Millions of VM steps: far past the inline budget.
        let sql = "WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < $1)
                   SELECT COUNT(*) AS total FROM c";
        let long = [SqlValue::Int(2_000_000)];
        let rows = readers.read(&[(sql, &long)]).await.unwrap().remove(0);
        assert_eq!(rows[0].try_get::<i64>("total").unwrap(), 2_000_000);
        // The connection went back with a fresh budget: a short read still runs inline.
        let short = readers.run(&[("SELECT n FROM t", &[])], INLINE_TICKS);
        assert_eq!(short.unwrap()[0].len(), 2);
        let over_budget = readers.run(&[(sql, &long)], INLINE_TICKS);
        assert!(over_budget.is_err_and(|err| is_interrupt(&err)));
        // Likewise inside a group: its transaction ends, and the whole group reruns.
        let group = [("SELECT n FROM t", &[][..]), (sql, &long)];
        let over_budget = readers.run(&group, INLINE_TICKS);
        assert!(over_budget.is_err_and(|err| is_interrupt(&err)));
        let reader = readers.checkout().unwrap();
        assert!(reader.conn.is_autocommit(), "the interrupted group's transaction was ended");
        readers.idle.lock().unwrap().push(reader);
        let results = readers.read(&group).await.unwrap();
        assert_eq!((results[0].len(), results[1][0].try_get::<i64>("total").unwrap()), (2, 2_000_000));
    }

    #[tokio::test]
    async fn a_group_of_reads_returns_each_reads_rows_and_ends_its_transaction() {
        let (_dir, readers) = readers();
        let two = [SqlValue::Int(2)];
        let group = [("SELECT COUNT(*) FROM t", &[][..]), ("SELECT s FROM t WHERE n = $1", &two)];
        let results = readers.read(&group).await.unwrap();
        assert_eq!(results[0][0].try_get_at::<i64>(0).unwrap(), 2);
        assert_eq!(results[1][0].try_get::<String>("s").unwrap(), "two");
        let reader = readers.checkout().unwrap();
        assert!(reader.conn.is_autocommit());
    }

    #[test]
    fn a_group_reads_one_snapshot_even_when_a_write_lands_between_its_reads() {
        let (dir, readers) = readers();
        let reader = readers.checkout().unwrap();
        let writer = Connection::open(dir.path().join("read.db")).unwrap();
        // The write lands while the group's first (long) read of `t` runs.
        let steps = std::sync::atomic::AtomicU32::new(0);
        let handler = move || {
            if steps.fetch_add(1, Ordering::Relaxed) == 500 {
                writer.execute_batch("INSERT INTO t (n) VALUES (3)").unwrap();
            }
            false
        };
        reader.conn.progress_handler(1, Some(handler)).unwrap();
        let long = "WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 10000)
                    SELECT COUNT(*) FROM t, c";
        let count = "SELECT COUNT(*) FROM t";
        let results = in_one_transaction(&reader, &[(long, &[]), (count, &[])]).unwrap();
        assert_eq!(results[1][0].try_get_at::<i64>(0).unwrap(), 2, "the snapshot from before the write");
        let after = query(&reader.conn, count, &[]).unwrap();
        assert_eq!(after[0].try_get_at::<i64>(0).unwrap(), 3, "the next read sees the write");
    }

    #[test]
    fn cached_statements_are_not_recompiled_for_new_values_once_analyzed() {
        let (_dir, readers) = readers();
        let reader = readers.checkout().unwrap();
        let setup = Connection::open(readers.path.as_path()).unwrap();
        // Skewed data, so that ANALYZE keeps sqlite_stat4 samples the planner could
        // consult for each bound value.
        setup
            .execute_batch(
                "CREATE TABLE u (k INTEGER, v INTEGER); CREATE INDEX u_k ON u (k);
                 WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
                 INSERT INTO u SELECT CASE WHEN i < 1500 THEN 7 ELSE i END, i FROM c;
                 ANALYZE;",
            )
            .unwrap();
        let sql = "SELECT COUNT(*) FROM u WHERE k > $1";
        for bound in [0, 7, 1900, 5] {
            let count = query(&reader.conn, sql, &[SqlValue::Int(bound)]).unwrap();
            assert!(count[0].try_get_at::<i64>(0).unwrap() > 0);
        }
        let statement = reader.conn.prepare_cached(sql).unwrap();
        assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[tokio::test]
    async fn sqlite_errors_keep_their_code() {
        let (_dir, readers) = readers();
        let err = readers.read(&[("SELECT nope FROM t", &[])]).await.unwrap_err();
        let sqlx::Error::Database(db) = err else { panic!("expected a database error, got {err:?}") };
        assert_eq!(db.code().as_deref(), Some("1"));
        assert!(db.message().contains("nope"));
    }
}
