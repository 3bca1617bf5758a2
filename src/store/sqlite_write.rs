//! SQLite writes: one connection, taken in turn, its statements run inline.
//!
//! SQLite runs one write transaction at a time. A transaction here holds the writer
//! for as long as it is open and runs each statement directly on the request's task:
//! a short indexed write takes microseconds, where a hop to a worker thread and back
//! (sqlx's way) costs more than the write, and under load the task then waits its turn
//! on the runtime between statements while holding the write lock. Waiting happens
//! only for the writer itself, asynchronously, in arrival order.
//!
//! The connection does not sleep in SQLite's busy handler: when another process (the
//! CLI) holds the write lock, `BEGIN IMMEDIATE` fails at once and the transaction is
//! retried after an asynchronous pause, for up to [`BUSY_PATIENCE`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::StoreError;

/// How long a transaction waits for another process's write to finish.
const BUSY_PATIENCE: Duration = Duration::from_secs(5);
/// Prepared statements kept (every static statement, and recent list queries).
const STATEMENT_CACHE: usize = 256;

pub struct SqliteWriter {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteWriter {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::ZERO)?;
        // WAL: readers beside the writer; NORMAL: a commit is durable once the
        // process has written it (it survives the process being killed; the last
        // commits before a power cut may not).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;",
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Takes the writer and begins a write transaction.
    pub async fn begin(&self) -> Result<SqliteTx, StoreError> {
        let deadline = tokio::time::Instant::now() + BUSY_PATIENCE;
        let mut pause = Duration::from_millis(1);
        loop {
            let conn = self.conn.clone().lock_owned().await;
            if !conn.is_autocommit() {
                // A transaction whose rollback failed earlier: end it first.
                conn.execute_batch("ROLLBACK")?;
            }
            match conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut begin| begin.execute([])) {
                Ok(_) => return Ok(SqliteTx { conn }),
                Err(err) => {
                    let err = StoreError::from(err);
                    if !matches!(err, StoreError::Busy(_)) || tokio::time::Instant::now() >= deadline {
                        return Err(err);
                    }
                }
            }
            drop(conn);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// An open write transaction; dropped uncommitted, it rolls back.
pub struct SqliteTx {
    conn: OwnedMutexGuard<Connection>,
}

impl SqliteTx {
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if !self.conn.is_autocommit() {
            // A failed COMMIT, an error part-way or a dropped request: undo it all.
            // Should even the rollback fail, the next `begin` tries again.
            if let Err(err) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %err, "sqlite rollback failed");
            }
        }
    }
}
