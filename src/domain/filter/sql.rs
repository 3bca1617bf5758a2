//! Typed tree → SQL. Only column expressions from the endpoint's own field list and
//! numbered placeholders are ever written into the text; every value is bound.
//!
//! Portability: `like` is case-insensitive on both backends (`LOWER(..) LIKE
//! LOWER(..)`, with `\` escaping `%` and `_`); text order is bytewise on both
//! (PostgreSQL is told `COLLATE "C"`, SQLite's default is binary).

use std::fmt::Write;

use super::check::{Schema, Typed, Value};
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
    fn placeholder(&mut self, value: &Value) -> String {
        let param = match value {
            Value::Int(n) => SqlValue::Int(*n),
            Value::Real(f) => SqlValue::Real(*f),
            Value::Text(s) => SqlValue::Text(s.clone()),
            Value::Null => unreachable!("null is compiled to IS NULL"),
        };
        self.params.push(param);
        format!("${}", self.first + self.params.len() - 1)
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

/// `sort=-date,distance` → `date DESC, distance ASC` over the schema's fields; the
/// error's position points into the sort text.
pub fn order_by(sort: &str, schema: &Schema) -> Result<Vec<(&'static str, bool)>, FilterError> {
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
        order.push((field.column, desc));
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
        Field { name: "date", column: "r.date", ty: FieldType::Date },
        Field { name: "distance", column: "r.distance", ty: FieldType::Integer },
        Field { name: "notes", column: "r.notes", ty: FieldType::Text },
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
    }

    #[test]
    fn sort_fields_are_allow_listed() {
        assert_eq!(
            order_by("-date, distance", &SCHEMA).unwrap(),
            vec![("r.date", true), ("r.distance", false)]
        );
        let err = order_by("date,password", &SCHEMA).unwrap_err();
        assert_eq!(err.position, 5);
        assert!(err.message.contains("cannot sort by `password`"));
    }
}
