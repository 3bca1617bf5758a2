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
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::StoreError;
use super::value::{FromRow, Param, Row};

/// VM steps between two checks of a read's budget.
const STEPS_PER_TICK: i32 = 1000;
/// Ticks an inline read may take (about a millisecond of work) before it moves to a
/// blocking thread.
const INLINE_TICKS: u32 = 1000;
/// Reads running on blocking threads at once; more wait their turn.
const OFFLOADED_READS: usize = 4;
/// How long an offloaded read waits out a lock (a checkpoint, another process).
const OFFLOADED_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
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

/// Where a read runs: inline (a budget of VM steps, no waiting for locks) or on a
/// blocking thread (no budget, waits out locks).
#[derive(Clone, Copy)]
enum Place {
    Inline,
    Offloaded,
}

impl SqliteReaders {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            offloaded: Semaphore::new(OFFLOADED_READS),
        }
    }

    /// Runs one read, its params bound to `$1…`.
    pub async fn read<T: FromRow>(
        self: &Arc<Self>,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, StoreError> {
        match self.run(Place::Inline, |conn| query(conn, sql, params)) {
            Err(StoreError::Interrupted | StoreError::Busy(_)) => {}
            done => return done,
        }
        let (sql, params) = (sql.to_owned(), owned(params));
        self.offload(move |conn| query(conn, &sql, &params)).await
    }

    /// Runs two reads on one snapshot (one read transaction).
    pub async fn read_pair<A: FromRow, B: FromRow>(
        self: &Arc<Self>,
        (first_sql, first_params): (&str, &[Param<'_>]),
        (second_sql, second_params): (&str, &[Param<'_>]),
    ) -> Result<(Vec<A>, Vec<B>), StoreError> {
        let both = |conn: &Connection, a: &str, ap: &[Param<'_>], b: &str, bp: &[Param<'_>]| {
            in_one_transaction(conn, || Ok((query::<A>(conn, a, ap)?, query::<B>(conn, b, bp)?)))
        };
        match self.run(Place::Inline, |conn| both(conn, first_sql, first_params, second_sql, second_params)) {
            Err(StoreError::Interrupted | StoreError::Busy(_)) => {}
            done => return done,
        }
        let (a, ap) = (first_sql.to_owned(), owned(first_params));
        let (b, bp) = (second_sql.to_owned(), owned(second_params));
        self.offload(move |conn| both(conn, &a, &ap, &b, &bp)).await
    }

    async fn offload<R: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let _permit = self.offloaded.acquire().await.map_err(|_| StoreError::Unavailable("closed".into()))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.run(Place::Offloaded, read))
            .await
            .map_err(|err| StoreError::Other(format!("read task failed: {err}")))?
    }

    fn run<R>(
        &self,
        place: Place,
        read: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let reader = self.checkout()?;
        let (ticks, busy) = match place {
            Place::Inline => (INLINE_TICKS, Duration::ZERO),
            Place::Offloaded => (u32::MAX, OFFLOADED_BUSY_TIMEOUT),
        };
        reader.ticks_left.store(ticks, Ordering::Relaxed);
        let result =
            reader.conn.busy_timeout(busy).map_err(StoreError::from).and_then(|()| read(&reader.conn));
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A connection still inside a transaction (its ROLLBACK failed) would keep an
        // old snapshot for good: it is dropped instead.
        if idle.len() < MAX_IDLE && reader.conn.is_autocommit() {
            idle.push(reader);
        }
        result
    }

    fn checkout(&self) -> Result<Reader, StoreError> {
        let reused = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        match reused {
            Some(reader) => Ok(reader),
            None => Ok(self.open()?),
        }
    }

    fn open(&self) -> rusqlite::Result<Reader> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
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

fn owned(params: &[Param<'_>]) -> Vec<Param<'static>> {
    params.iter().map(|p| p.clone().into_owned()).collect()
}

/// Several reads on one snapshot. A single statement is its own transaction; a group
/// takes SQLite's locks once rather than once per statement, and always ends its
/// transaction, whatever happened, before the connection is reused.
fn in_one_transaction<R>(
    conn: &Connection,
    reads: impl FnOnce() -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let rows = reads();
    let ended = conn.prepare_cached("COMMIT").and_then(|mut commit| commit.execute([]));
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    let rows = rows?;
    ended?;
    Ok(rows)
}

/// Runs `sql` on `conn` (a reader, or the writer inside its transaction) with
/// `params` bound to `$1…` by number, decoding each row.
pub(super) fn query<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    bind(&mut statement, params)?;
    let names: Vec<String> = statement.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = statement.raw_query();
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(T::from_row(&Row::Sqlite(row, &names))?);
    }
    Ok(decoded)
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub(super) fn execute(conn: &Connection, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    bind(&mut statement, params)?;
    Ok(statement.raw_execute()? as u64)
}

fn bind(statement: &mut rusqlite::CachedStatement<'_>, params: &[Param<'_>]) -> Result<(), StoreError> {
    for (i, value) in params.iter().enumerate() {
        statement.raw_bind_parameter(format!("${}", i + 1).as_str(), value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params;

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

    const LONG: &str = "WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < $1)
                        SELECT COUNT(*) AS total FROM c";

    #[tokio::test]
    async fn binds_numbered_parameters_by_number_and_reads_every_type() {
        let (_dir, readers) = readers();
        // `$2` comes first in the text: binding must follow the numbers, not the order.
        let sql = "SELECT n, x, s, b FROM t WHERE s <> $2 OR n = $1 ORDER BY n";
        type Typed = (i64, Option<f64>, String, Option<Vec<u8>>);
        let rows: Vec<Typed> = readers.read(sql, params![2_i64, "two"]).await.unwrap();
        assert_eq!(rows, [(1, Some(0.5), "one".into(), Some(vec![1])), (2, None, "two".into(), None)]);
        let wrong: Result<Vec<i64>, _> = readers.read("SELECT s FROM t", &[]).await;
        assert!(matches!(wrong, Err(StoreError::Decode(_))), "text is not an integer: {wrong:?}");
    }

    #[tokio::test]
    async fn a_read_over_the_inline_budget_completes_on_a_blocking_thread() {
        let (_dir, readers) = readers();
        // Millions of VM steps: far past the inline budget.
        let total: Vec<i64> = readers.read(LONG, params![2_000_000_i64]).await.unwrap();
        assert_eq!(total, [2_000_000]);
        // The connection went back with a fresh budget: a short read still runs inline.
        let short = readers.run(Place::Inline, |conn| query::<i64>(conn, "SELECT n FROM t", &[]));
        assert_eq!(short.unwrap().len(), 2);
        let over = readers.run(Place::Inline, |conn| query::<i64>(conn, LONG, params![2_000_000_i64]));
        assert!(matches!(over, Err(StoreError::Interrupted)));
        // Likewise inside a group: its transaction ends, and the whole group reruns.
        let (rows, totals): (Vec<i64>, Vec<i64>) =
            readers.read_pair(("SELECT n FROM t", &[]), (LONG, params![2_000_000_i64])).await.unwrap();
        assert_eq!((rows.len(), totals), (2, vec![2_000_000]));
        let reader = readers.checkout().unwrap();
        assert!(reader.conn.is_autocommit(), "the interrupted group's transaction was ended");
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
        let conn = &reader.conn;
        let (_, counted) = in_one_transaction(conn, || {
            Ok((query::<i64>(conn, long, &[])?, query::<i64>(conn, count, &[])?))
        })
        .unwrap();
        assert_eq!(counted, [2], "the snapshot from before the write");
        assert_eq!(query::<i64>(conn, count, &[]).unwrap(), [3], "the next read sees the write");
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
        for bound in [0_i64, 7, 1900, 5] {
            assert!(query::<i64>(&reader.conn, sql, params![bound]).unwrap()[0] > 0);
        }
        let statement = reader.conn.prepare_cached(sql).unwrap();
        assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[tokio::test]
    async fn a_read_that_finds_the_database_locked_does_not_wait_inline() {
        let (dir, readers) = readers();
        // An exclusive lock held by another connection: an inline read fails at once
        // (it never sleeps on the runtime); `read` then tries again off the runtime.
        let locker = Connection::open(dir.path().join("read.db")).unwrap();
        locker.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;").unwrap();
        let inline = readers.run(Place::Inline, |conn| query::<i64>(conn, "SELECT n FROM t", &[]));
        assert!(matches!(inline, Err(StoreError::Busy(_))), "{inline:?}");
        drop(locker);
        assert_eq!(readers.read::<i64>("SELECT n FROM t", &[]).await.unwrap(), [1, 2]);
    }
}
