//! Typed tree → SQL. Only column expressions from the endpoint's own field list and
//! numbered placeholders are ever written into the text; every value is bound.
//!
//! Portability: `like` is case-insensitive on both backends (`LOWER(..) LIKE
//! LOWER(..)`, with `\` escaping `%` and `_`); text order is bytewise on both
//! (PostgreSQL is told `COLLATE "C"`, SQLite's default is binary).

use std::fmt::Write;

use super::check::{FieldType, Schema, Typed, Value};
use super::{FilterError, Op};
use crate::store::Backend;

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Real(f64),
    Text(String),
}

/// A compiled condition: `sql` uses placeholders `$first..` for `params` in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

struct Compiler {
    backend: Backend,
    sql: String,
    params: Vec<SqlValue>,
    first: usize,
}

impl Compiler {
    /// The placeholder for `value`. A real number is cast in the text itself: drivers
    /// reuse a prepared statement for the same text, so the text must change when a
    /// parameter's type does (`weather.code gt 5` then `gt 5.5`).
    fn placeholder(&mut self, value: &Value) -> String {
        let (param, real) = match value {
            Value::Int(n) => (SqlValue::Int(*n), false),
            Value::Real(f) => (SqlValue::Real(*f), true),
            Value::Text(s) => (SqlValue::Text(s.clone()), false),
            Value::Null => unreachable!("null is compiled to IS NULL"),
        };
        self.params.push(param);
        let n = self.first + self.params.len() - 1;
        if real { format!("CAST(${n} AS DOUBLE PRECISION)") } else { format!("${n}") }
    }

    fn text_order(&self, value: &Value) -> &'static str {
        match (self.backend, value) {
            (Backend::Postgres, Value::Text(_)) => " COLLATE \"C\"",
            _ => "",
        }
    }

    fn emit(&mut self, typed: &Typed) {
        match typed {
            Typed::Or(terms) | Typed::And(terms) => {
                let joiner = if matches!(typed, Typed::Or(_)) { " OR " } else { " AND " };
                self.sql.push('(');
                for (i, term) in terms.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(joiner);
                    }
                    self.emit(term);
                }
                self.sql.push(')');
            }
            Typed::Not(inner) => {
                self.sql.push_str("(NOT ");
                self.emit(inner);
                self.sql.push(')');
            }
            Typed::Cmp(cmp) => {
                let column = cmp.field.column;
                let text = match (cmp.op, &cmp.value) {
                    (Op::Eq, Value::Null) => format!("({column} IS NULL)"),
                    (Op::Ne, Value::Null) => format!("({column} IS NOT NULL)"),
                    (Op::Like, value) => {
                        let p = self.placeholder(value);
                        format!("(LOWER({column}) LIKE LOWER({p}) ESCAPE '\\')")
                    }
                    (op, value) => {
                        let sign = match op {
                            Op::Eq => "=",
                            Op::Ne => "<>",
                            Op::Gt => ">",
                            Op::Ge => ">=",
                            Op::Lt => "<",
                            Op::Le => "<=",
                            Op::Like => unreachable!("handled above"),
                        };
                        let collate = if matches!(op, Op::Eq | Op::Ne) { "" } else { self.text_order(value) };
                        let p = self.placeholder(value);
                        format!("({column}{collate} {sign} {p}{collate})")
                    }
                };
                self.sql.push_str(&text);
            }
            Typed::In { field, values } => {
                let placeholders: Vec<String> = values.iter().map(|v| self.placeholder(v)).collect();
                let _ = write!(self.sql, "({} IN ({}))", field.column, placeholders.join(", "));
            }
        }
    }
}

/// Compiles `typed` with placeholders numbered from `first` (the caller's own
/// parameters come before).
pub fn compile(typed: &Typed, backend: Backend, first: usize) -> SqlFilter {
    let mut compiler = Compiler { backend, sql: String::new(), params: Vec::new(), first };
    compiler.emit(typed);
    SqlFilter { sql: compiler.sql, params: compiler.params }
}

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

    /// The same order on both backends: empty values last, text bytewise. (Columns
    /// that cannot be NULL skip the NULL key, so an index can still give the order.)
    pub fn sql(&self, backend: Backend) -> String {
        let collate = if self.text && backend == Backend::Postgres { " COLLATE \"C\"" } else { "" };
        let direction = if self.descending { "DESC" } else { "ASC" };
        let nulls_last = if self.nullable { format!("({} IS NULL), ", self.column) } else { String::new() };
        format!("{nulls_last}{}{collate} {direction}", self.column)
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
    use super::super::check::{Field, FieldType};
    use super::super::prepare;
    use super::*;

    const FIELDS: &[Field] = &[
        Field { name: "date", column: "r.date", ty: FieldType::Date, nullable: true },
        Field { name: "distance", column: "r.distance", ty: FieldType::Integer, nullable: true },
        Field { name: "notes", column: "r.notes", ty: FieldType::Text, nullable: true },
    ];
    const SCHEMA: Schema = Schema { fields: FIELDS };

    #[test]
    fn values_are_bound_never_pasted() {
        let typed = prepare(
            "(date eq '2016-05-01') AND ((distance gt 20) OR (distance lt 10)) and notes eq ''';drop table users;--'",
            &SCHEMA,
        )
        .unwrap();
        let compiled = compile(&typed, Backend::Sqlite, 2);
        assert_eq!(
            compiled.sql,
            "((r.date = $2) AND ((r.distance > $3) OR (r.distance < $4)) AND (r.notes = $5))"
        );
        assert_eq!(
            compiled.params[4 - 2..].to_vec(),
            vec![SqlValue::Int(10), SqlValue::Text("';drop table users;--".into())]
        );
        assert!(!compiled.sql.contains("drop"));
    }

    #[test]
    fn nulls_like_in_and_text_order() {
        let typed = prepare(
            "not (notes eq null) and notes like 'a\\%%' and distance in (1, 2) or notes gt 'm'",
            &SCHEMA,
        )
        .unwrap();
        let pg = compile(&typed, Backend::Postgres, 1);
        assert_eq!(
            pg.sql,
            "(((NOT (r.notes IS NULL)) AND (LOWER(r.notes) LIKE LOWER($1) ESCAPE '\\') AND (r.distance IN ($2, $3))) OR (r.notes COLLATE \"C\" > $4 COLLATE \"C\"))"
        );
        assert_eq!(pg.params.len(), 4);
        let real = compile(&prepare("distance gt 2.5", &SCHEMA).unwrap(), Backend::Sqlite, 1);
        assert_eq!(real.sql, "(r.distance > CAST($1 AS DOUBLE PRECISION))");
    }

    #[test]
    fn sort_fields_are_allow_listed() {
        let order = order_by("-date, distance,notes", &SCHEMA).unwrap();
        assert_eq!(order[0].sql(Backend::Sqlite), "(r.date IS NULL), r.date DESC");
        assert_eq!(order[1].sql(Backend::Sqlite), "(r.distance IS NULL), r.distance ASC");
        assert_eq!(order[2].sql(Backend::Postgres), "(r.notes IS NULL), r.notes COLLATE \"C\" ASC");
        assert_eq!(SortKey::desc("id").sql(Backend::Postgres), "id DESC", "NOT NULL keys keep index order");
        let err = order_by("date,password", &SCHEMA).unwrap_err();
        assert_eq!(err.position, 5);
        assert!(err.message.contains("cannot sort by `password`"));
    }
}
