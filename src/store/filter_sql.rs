//! Typed tree → SQL. Only column expressions from the endpoint's own field list and
//! numbered placeholders are ever written into the text; every value is bound.
//!
//! Portability: `like` is case-insensitive on both backends (`LOWER(..) LIKE
//! LOWER(..)`, with `\` escaping `%` and `_`); text order is bytewise on both
//! (PostgreSQL is told `COLLATE "C"`, SQLite's default is binary).

use std::fmt::Write;

use super::{Backend, Param};
use crate::domain::filter::{Op, SortKey, Typed, Value};

/// A compiled condition: `sql` uses placeholders `$first..` for `params` in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<Param<'static>>,
}

struct Compiler {
    backend: Backend,
    sql: String,
    params: Vec<Param<'static>>,
    first: usize,
}

impl Compiler {
    /// The placeholder for `value`. A real number is cast in the text itself: drivers
    /// reuse a prepared statement for the same text, so the text must change when a
    /// parameter's type does (`weather.code gt 5` then `gt 5.5`).
    fn placeholder(&mut self, value: &Value) -> String {
        let (param, real) = match value {
            Value::Int(n) => (Param::from(*n), false),
            Value::Real(f) => (Param::from(*f), true),
            Value::Text(s) => (Param::from(s.clone()), false),
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

/// The same order on both backends: empty values last, text bytewise. (Columns that
/// cannot be NULL skip the NULL key, so an index can still give the order.)
pub fn order_sql(key: &SortKey, backend: Backend) -> String {
    let collate = if key.text && backend == Backend::Postgres { " COLLATE \"C\"" } else { "" };
    let direction = if key.descending { "DESC" } else { "ASC" };
    let nulls_last = if key.nullable { format!("({} IS NULL), ", key.column) } else { String::new() };
    format!("{nulls_last}{}{collate} {direction}", key.column)
}

/// Compiles `typed` with placeholders numbered from `first` (the caller's own
/// parameters come before).
pub fn compile(typed: &Typed, backend: Backend, first: usize) -> SqlFilter {
    let mut compiler = Compiler { backend, sql: String::new(), params: Vec::new(), first };
    compiler.emit(typed);
    SqlFilter { sql: compiler.sql, params: compiler.params }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::{Field, FieldType, Schema, order_by, prepare};

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
            vec![Param::from(10_i64), Param::from("';drop table users;--")]
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
    fn sort_keys_order_the_same_on_both_backends() {
        let order = order_by("-date, distance,notes", &SCHEMA).unwrap();
        assert_eq!(order_sql(&order[0], Backend::Sqlite), "(r.date IS NULL), r.date DESC");
        assert_eq!(order_sql(&order[1], Backend::Sqlite), "(r.distance IS NULL), r.distance ASC");
        assert_eq!(order_sql(&order[2], Backend::Postgres), "(r.notes IS NULL), r.notes COLLATE \"C\" ASC");
        assert_eq!(
            order_sql(&SortKey::desc("id"), Backend::Postgres),
            "id DESC",
            "NOT NULL keys keep index order"
        );
    }
}
