//! Rows as read by [`Db::read`](super::Db::read), the same whichever backend and driver
//! produced them: a row's values by column name, decoded with `try_get` like a sqlx row.

use std::sync::Arc;

use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{Column, Row};

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One row: its values, and the column names it shares with the other rows of its query.
#[derive(Debug, Clone)]
pub struct Record {
    names: Arc<[String]>,
    cells: Vec<Cell>,
}

impl Record {
    pub fn new(names: Arc<[String]>, cells: Vec<Cell>) -> Self {
        debug_assert_eq!(names.len(), cells.len());
        Self { names, cells }
    }

    fn index_of(&self, column: &str) -> Result<usize, sqlx::Error> {
        self.names
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| sqlx::Error::ColumnNotFound(column.to_owned()))
    }

    /// The value of `column`, decoded as `T`.
    pub fn try_get<T: FromCell>(&self, column: &str) -> Result<T, sqlx::Error> {
        let index = self.index_of(column)?;
        self.try_get_at(index)
    }

    /// Moves the value of `column` out (leaving NULL), decoded as `T`: no copy of text.
    pub fn take<T: FromCell>(&mut self, column: &str) -> Result<T, sqlx::Error> {
        let index = self.index_of(column)?;
        let cell = std::mem::replace(&mut self.cells[index], Cell::Null);
        T::from_owned_cell(cell).map_err(|expected| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: format!("expected {expected}").into(),
        })
    }

    /// The value of the column at `index` (0-based), decoded as `T`.
    pub fn try_get_at<T: FromCell>(&self, index: usize) -> Result<T, sqlx::Error> {
        let cell = self
            .cells
            .get(index)
            .ok_or(sqlx::Error::ColumnIndexOutOfBounds { index, len: self.cells.len() })?;
        T::from_cell(cell).map_err(|expected| sqlx::Error::ColumnDecode {
            index: self.names[index].clone(),
            source: format!("expected {expected}, found {cell:?}").into(),
        })
    }

    /// Converts rows read through sqlx's `Any` driver.
    pub fn from_any_rows(rows: &[AnyRow]) -> Result<Vec<Self>, sqlx::Error> {
        let Some(first) = rows.first() else { return Ok(Vec::new()) };
        let names: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
        rows.iter()
            .map(|row| {
                let cells = row
                    .columns()
                    .iter()
                    .enumerate()
                    .map(|(i, column)| any_cell(row, i, column.type_info().kind()))
                    .collect::<Result<_, _>>()?;
                Ok(Self::new(names.clone(), cells))
            })
            .collect()
    }
}

fn any_cell(row: &AnyRow, i: usize, kind: AnyTypeInfoKind) -> Result<Cell, sqlx::Error> {
    Ok(match kind {
        AnyTypeInfoKind::Null => Cell::Null,
        AnyTypeInfoKind::Bool => {
            row.try_get::<Option<bool>, _>(i)?.map_or(Cell::Null, |b| Cell::Int(b.into()))
        }
        AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
            row.try_get::<Option<i64>, _>(i)?.map_or(Cell::Null, Cell::Int)
        }
        AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => {
            row.try_get::<Option<f64>, _>(i)?.map_or(Cell::Null, Cell::Real)
        }
        AnyTypeInfoKind::Text => row.try_get::<Option<String>, _>(i)?.map_or(Cell::Null, Cell::Text),
        AnyTypeInfoKind::Blob => row.try_get::<Option<Vec<u8>>, _>(i)?.map_or(Cell::Null, Cell::Blob),
    })
}

/// A Rust type a [`Cell`] decodes to; the error names what was expected.
pub trait FromCell: Sized {
    fn from_cell(cell: &Cell) -> Result<Self, &'static str>;

    /// Decodes a cell that is no longer needed; text moves instead of being copied.
    fn from_owned_cell(cell: Cell) -> Result<Self, &'static str> {
        Self::from_cell(&cell)
    }
}

impl FromCell for String {
    fn from_cell(cell: &Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Text(text) => Ok(text.clone()),
            _ => Err("text"),
        }
    }

    fn from_owned_cell(cell: Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Text(text) => Ok(text),
            _ => Err("text"),
        }
    }
}

impl FromCell for Vec<u8> {
    fn from_cell(cell: &Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Blob(bytes) => Ok(bytes.clone()),
            _ => Err("bytes"),
        }
    }
}

impl FromCell for i64 {
    fn from_cell(cell: &Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Int(n) => Ok(*n),
            _ => Err("an integer"),
        }
    }
}

/// Integers widen: SQLite hands back an aggregate of whole numbers as one.
impl FromCell for f64 {
    fn from_cell(cell: &Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Real(x) => Ok(*x),
            Cell::Int(n) => Ok(*n as f64),
            _ => Err("a number"),
        }
    }
}

impl FromCell for bool {
    fn from_cell(cell: &Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Int(n) => Ok(*n != 0),
            _ => Err("a boolean"),
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: &Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }

    fn from_owned_cell(cell: Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_owned_cell(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let names: Arc<[String]> = ["n", "x", "t", "missing"].map(String::from).into();
        Record::new(names, vec![Cell::Int(3), Cell::Real(2.5), Cell::Text("hi".into()), Cell::Null])
    }

    #[test]
    fn decodes_by_name_with_nulls_as_none() {
        let r = record();
        assert_eq!(r.try_get::<i64>("n").unwrap(), 3);
        assert_eq!(r.try_get::<f64>("n").unwrap(), 3.0);
        assert_eq!(r.try_get::<f64>("x").unwrap(), 2.5);
        assert_eq!(r.try_get::<String>("t").unwrap(), "hi");
        assert!(r.try_get::<bool>("n").unwrap());
        assert_eq!(r.try_get::<Option<String>>("missing").unwrap(), None);
        assert_eq!(r.try_get::<Option<i64>>("n").unwrap(), Some(3));
        assert_eq!(r.try_get_at::<f64>(1).unwrap(), 2.5);
        let mut r = r;
        assert_eq!(r.take::<Option<String>>("t").unwrap().as_deref(), Some("hi"));
        assert_eq!(r.take::<Option<String>>("t").unwrap(), None, "taken");
    }

    #[test]
    fn wrong_types_and_unknown_columns_are_errors() {
        let r = record();
        assert!(matches!(r.try_get::<i64>("x"), Err(sqlx::Error::ColumnDecode { .. })));
        assert!(matches!(r.try_get::<String>("missing"), Err(sqlx::Error::ColumnDecode { .. })));
        assert!(matches!(r.try_get::<i64>("nope"), Err(sqlx::Error::ColumnNotFound(_))));
        assert!(matches!(r.try_get_at::<i64>(4), Err(sqlx::Error::ColumnIndexOutOfBounds { .. })));
    }
}
