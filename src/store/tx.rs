//! The write transaction of one operation, on either backend.

use sqlx::postgres::PgRow;

use super::sqlite_read::{execute, query};
use super::sqlite_write::SqliteTx;
use super::value::{FromRow, Param, Row, bind_pg};
use super::{Sql, StoreError};

/// A write transaction. One operation writes through one of these, passed down to
/// every store function it calls, its audit row included: it all commits together or
/// not at all (dropping it uncommitted rolls back).
pub struct Tx(Inner);

enum Inner {
    Sqlite(SqliteTx),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub(super) fn sqlite(tx: SqliteTx) -> Self {
        Self(Inner::Sqlite(tx))
    }

    pub(super) fn postgres(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Self {
        Self(Inner::Postgres(tx))
    }

    /// Runs a statement; the number of rows it changed.
    pub async fn execute(&mut self, sql: Sql<'_>, params: &[Param<'_>]) -> Result<u64, StoreError> {
        match &mut self.0 {
            Inner::Sqlite(tx) => execute(tx.conn(), sql.text(), params),
            Inner::Postgres(tx) => {
                let query = bind_pg(sqlx::query(sqlx::AssertSqlSafe(sql.text())), params);
                Ok(query.execute(&mut **tx).await?.rows_affected())
            }
        }
    }

    /// Every row a statement returns (a `SELECT`, or a write with `RETURNING`), as
    /// this transaction sees the data.
    pub async fn fetch_all<T: FromRow>(
        &mut self,
        sql: Sql<'_>,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, StoreError> {
        match &mut self.0 {
            Inner::Sqlite(tx) => query(tx.conn(), sql.text(), params),
            Inner::Postgres(tx) => {
                let query = bind_pg(sqlx::query(sqlx::AssertSqlSafe(sql.text())), params);
                decode_pg(&query.fetch_all(&mut **tx).await?)
            }
        }
    }

    /// The first row, if any.
    pub async fn fetch_optional<T: FromRow>(
        &mut self,
        sql: Sql<'_>,
        params: &[Param<'_>],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// The first row; [`StoreError::NoRow`] when there is none.
    pub async fn fetch_one<T: FromRow>(
        &mut self,
        sql: Sql<'_>,
        params: &[Param<'_>],
    ) -> Result<T, StoreError> {
        self.fetch_optional(sql, params).await?.ok_or(StoreError::NoRow)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            Inner::Sqlite(tx) => tx.commit(),
            Inner::Postgres(tx) => Ok(tx.commit().await?),
        }
    }
}

pub(super) fn decode_pg<T: FromRow>(rows: &[PgRow]) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|row| T::from_row(&Row::Postgres(row))).collect()
}
