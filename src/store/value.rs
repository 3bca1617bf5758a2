//! Values in and out of the database, the same on both backends: [`Param`]s bound to
//! `$1…`, and rows decoded into typed values ([`FromRow`]) with NULL as `Option`.

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::postgres::PgRow;
use sqlx::{ColumnIndex, Row as _};

use super::StoreError;
use crate::domain::ids::{FileId, RunId, SessionId, TokenId, UserId};

/// A value bound to a placeholder. NULLs keep their type, so PostgreSQL is told what
/// the parameter is even when it has no value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<Cow<'a, str>>),
    Blob(Option<Cow<'a, [u8]>>),
}

/// `params![a, b, c]`: the values of `$1, $2, $3`, each converted with `Param::from`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::Param::from($value)),*]
    };
}

macro_rules! param_from {
    ($($ty:ty => $variant:ident($convert:expr)),* $(,)?) => { $(
        impl<'a> From<$ty> for Param<'a> {
            fn from(value: $ty) -> Self {
                Param::$variant(Some($convert(value)))
            }
        }

        impl<'a> From<Option<$ty>> for Param<'a> {
            fn from(value: Option<$ty>) -> Self {
                Param::$variant(value.map($convert))
            }
        }
    )* };
}

param_from! {
    i64 => Int(|n| n),
    u32 => Int(i64::from),
    bool => Int(i64::from),
    f64 => Real(|x| x),
    &'a str => Text(Cow::Borrowed),
    &'a String => Text(|s: &'a String| Cow::Borrowed(s.as_str())),
    String => Text(Cow::Owned),
    &'a [u8] => Blob(Cow::Borrowed),
    Vec<u8> => Blob(Cow::Owned),
}

/// Typed ids are bound as their text.
macro_rules! id_params {
    ($($id:ty),*) => { $(
        impl<'a> From<&'a $id> for Param<'a> {
            fn from(id: &'a $id) -> Self {
                Param::from(id.as_str())
            }
        }

        impl<'a> From<Option<&'a $id>> for Param<'a> {
            fn from(id: Option<&'a $id>) -> Self {
                Param::from(id.map(|id| id.as_str()))
            }
        }
    )* };
}

id_params!(UserId, SessionId, TokenId, RunId, FileId);

impl<'a> From<&'a Param<'_>> for Param<'a> {
    fn from(param: &'a Param<'_>) -> Self {
        match param {
            Param::Int(n) => Param::Int(*n),
            Param::Real(x) => Param::Real(*x),
            Param::Text(text) => Param::Text(text.as_deref().map(Cow::Borrowed)),
            Param::Blob(bytes) => Param::Blob(bytes.as_deref().map(Cow::Borrowed)),
        }
    }
}

impl Param<'_> {
    /// The same value, owning its text (to send to another thread).
    pub fn into_owned(self) -> Param<'static> {
        match self {
            Param::Int(n) => Param::Int(n),
            Param::Real(x) => Param::Real(x),
            Param::Text(text) => Param::Text(text.map(|t| Cow::Owned(t.into_owned()))),
            Param::Blob(bytes) => Param::Blob(bytes.map(|b| Cow::Owned(b.into_owned()))),
        }
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Int(Some(n)) => ValueRef::Integer(*n),
            Param::Real(Some(x)) => ValueRef::Real(*x),
            Param::Text(Some(text)) => ValueRef::Text(text.as_bytes()),
            Param::Blob(Some(bytes)) => ValueRef::Blob(bytes),
            Param::Int(None) | Param::Real(None) | Param::Text(None) | Param::Blob(None) => ValueRef::Null,
        }))
    }
}

/// Binds `params` to a PostgreSQL query in order.
pub(super) fn bind_pg<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    params: &[Param<'_>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for param in params {
        query = match param {
            Param::Int(n) => query.bind(*n),
            Param::Real(x) => query.bind(*x),
            Param::Text(text) => query.bind(text.as_deref().map(str::to_owned)),
            Param::Blob(bytes) => query.bind(bytes.as_deref().map(<[u8]>::to_vec)),
        };
    }
    query
}

/// One row being read, from either backend.
pub enum Row<'r> {
    /// A SQLite row, and its statement's column names (looked up once per query:
    /// rusqlite's own lookup asks SQLite for every name on every call).
    Sqlite(&'r rusqlite::Row<'r>, &'r [String]),
    Postgres(&'r PgRow),
}

impl Row<'_> {
    /// The value of `column`, decoded as `T`.
    pub fn get<T: Decode>(&self, column: &str) -> Result<T, StoreError> {
        match self {
            Row::Sqlite(_, names) => {
                let index = names
                    .iter()
                    .position(|name| name == column)
                    .ok_or_else(|| StoreError::Decode(format!("no column {column}")))?;
                self.at(index)
            }
            Row::Postgres(row) => T::from_pg(row, column),
        }
    }

    /// The value of the column at `index` (0-based), decoded as `T`.
    pub fn at<T: Decode>(&self, index: usize) -> Result<T, StoreError> {
        match self {
            Row::Sqlite(row, names) => T::from_sqlite(row.get_ref(index)?)
                .map_err(|e| decode_error(names.get(index).map_or("?", String::as_str), e)),
            Row::Postgres(row) => T::from_pg(row, index),
        }
    }
}

fn decode_error(column: &str, expected: &str) -> StoreError {
    StoreError::Decode(format!("column {column}: expected {expected}"))
}

/// A Rust value a column decodes to.
pub trait Decode: Sized {
    /// Decodes SQLite's value; the error names what was expected.
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str>;
    fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(
        row: &PgRow,
        index: I,
    ) -> Result<Self, StoreError>;
}

impl Decode for String {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str> {
        match value {
            ValueRef::Text(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
            _ => Err("text"),
        }
    }

    fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(
        row: &PgRow,
        index: I,
    ) -> Result<Self, StoreError> {
        Ok(row.try_get(index)?)
    }
}

impl Decode for Vec<u8> {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str> {
        match value {
            ValueRef::Blob(bytes) => Ok(bytes.to_vec()),
            _ => Err("bytes"),
        }
    }

    fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(
        row: &PgRow,
        index: I,
    ) -> Result<Self, StoreError> {
        Ok(row.try_get(index)?)
    }
}

impl Decode for i64 {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str> {
        match value {
            ValueRef::Integer(n) => Ok(n),
            _ => Err("an integer"),
        }
    }

    /// PostgreSQL types a literal or a `CASE` of literals as INTEGER: it widens.
    fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(
        row: &PgRow,
        index: I,
    ) -> Result<Self, StoreError> {
        match row.try_get::<i64, I>(index) {
            Ok(n) => Ok(n),
            Err(sqlx::Error::ColumnDecode { .. }) => Ok(i64::from(row.try_get::<i32, I>(index)?)),
            Err(err) => Err(err.into()),
        }
    }
}

/// Integers widen: an aggregate of whole numbers comes back as one.
impl Decode for f64 {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str> {
        match value {
            ValueRef::Real(x) => Ok(x),
            ValueRef::Integer(n) => Ok(n as f64),
            _ => Err("a number"),
        }
    }

    fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(
        row: &PgRow,
        index: I,
    ) -> Result<Self, StoreError> {
        match row.try_get::<f64, I>(index) {
            Ok(x) => Ok(x),
            Err(sqlx::Error::ColumnDecode { .. }) => Ok(i64::from_pg(row, index)? as f64),
            Err(err) => Err(err.into()),
        }
    }
}

impl Decode for bool {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str> {
        i64::from_sqlite(value).map(|n| n != 0).map_err(|_| "a boolean")
    }

    fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(
        row: &PgRow,
        index: I,
    ) -> Result<Self, StoreError> {
        match row.try_get::<bool, I>(index) {
            Ok(b) => Ok(b),
            Err(sqlx::Error::ColumnDecode { .. }) => Ok(i64::from_pg(row, index)? != 0),
            Err(err) => Err(err.into()),
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str> {
        match value {
            ValueRef::Null => Ok(None),
            value => T::from_sqlite(value).map(Some),
        }
    }

    fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(
        row: &PgRow,
        index: I,
    ) -> Result<Self, StoreError> {
        use sqlx::ValueRef as _;
        if row.try_get_raw(index)?.is_null() {
            return Ok(None);
        }
        T::from_pg(row, index).map(Some)
    }
}

/// Typed ids decode from their stored text (only valid ids are ever written).
macro_rules! id_decode {
    ($($id:ty),*) => { $(
        impl Decode for $id {
            fn from_sqlite(value: ValueRef<'_>) -> Result<Self, &'static str> {
                String::from_sqlite(value).map(<$id>::stored)
            }

            fn from_pg<I: ColumnIndex<PgRow> + Copy + std::fmt::Display>(row: &PgRow, index: I) -> Result<Self, StoreError> {
                String::from_pg(row, index).map(<$id>::stored)
            }
        }
    )* };
}

id_decode!(UserId, SessionId, TokenId, RunId, FileId);

/// A type a row decodes to: a struct reading its columns by name, or a tuple (or a
/// single value) reading them in order.
pub trait FromRow: Sized + Send + 'static {
    fn from_row(row: &Row<'_>) -> Result<Self, StoreError>;
}

macro_rules! scalar_rows {
    ($($ty:ty),*) => { $(
        impl FromRow for $ty {
            fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
                row.at(0)
            }
        }
    )* };
}

scalar_rows!(
    String,
    i64,
    f64,
    bool,
    Vec<u8>,
    Option<String>,
    Option<i64>,
    Option<f64>,
    UserId,
    Option<UserId>
);

macro_rules! tuple_rows {
    ($(($($name:ident: $index:tt),*)),* $(,)?) => { $(
        impl<$($name: Decode + Send + 'static),*> FromRow for ($($name,)*) {
            fn from_row(row: &Row<'_>) -> Result<Self, StoreError> {
                Ok(($(row.at::<$name>($index)?,)*))
            }
        }
    )* };
}

tuple_rows! {
    (A: 0, B: 1),
    (A: 0, B: 1, C: 2),
    (A: 0, B: 1, C: 2, D: 3),
    (A: 0, B: 1, C: 2, D: 3, E: 4),
    (A: 0, B: 1, C: 2, D: 3, E: 4, F: 5),
}
