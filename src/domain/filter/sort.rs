//! Sorting a list: `sort=-date,distance` checked against the list's fields.

use super::FilterError;
use super::check::{FieldType, Schema};

/// One key of an ORDER BY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub column: &'static str,
    pub descending: bool,
    pub text: bool,
    pub nullable: bool,
}

impl SortKey {
    pub const fn asc(column: &'static str) -> Self {
        Self { column, descending: false, text: false, nullable: false }
    }

    pub const fn desc(column: &'static str) -> Self {
        Self { column, descending: true, text: false, nullable: false }
    }
}

/// `sort=-date,distance` → `date DESC, distance ASC` over the schema's fields; the
/// error's position points into the sort text.
pub fn order_by(sort: &str, schema: &Schema) -> Result<Vec<SortKey>, FilterError> {
    let mut order = Vec::new();
    let mut at = 0;
    for part in sort.split(',') {
        let trimmed = part.trim();
        let (name, desc) = match trimmed.strip_prefix('-') {
            Some(name) => (name, true),
            None => (trimmed.strip_prefix('+').unwrap_or(trimmed), false),
        };
        let field = schema.field(name).ok_or_else(|| {
            FilterError::at(at, format!("cannot sort by `{name}`; this list sorts by {}", schema.names()))
        })?;
        order.push(SortKey {
            column: field.column,
            descending: desc,
            text: field.ty == FieldType::Text,
            nullable: field.nullable,
        });
        at += part.chars().count() + 1;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::super::check::Field;
    use super::*;

    const SCHEMA: Schema = Schema {
        fields: &[
            Field { name: "date", column: "r.date", ty: FieldType::Date, nullable: true },
            Field { name: "notes", column: "r.notes", ty: FieldType::Text, nullable: true },
        ],
    };

    #[test]
    fn sort_fields_are_allow_listed() {
        let order = order_by("-date, notes", &SCHEMA).unwrap();
        assert_eq!((order[0].column, order[0].descending, order[0].text), ("r.date", true, false));
        assert_eq!((order[1].column, order[1].descending, order[1].text), ("r.notes", false, true));
        let err = order_by("date,password", &SCHEMA).unwrap_err();
        assert_eq!(err.position, 5);
        assert!(err.message.contains("cannot sort by `password`"));
    }
}
