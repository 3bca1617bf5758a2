//! Untyped tree → typed tree: every field must exist on the endpoint, and every
//! literal must suit its field's type and the operator.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::{Expr, FilterError, Literal, Op};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Integer,
    Real,
    /// `'YYYY-MM-DD'`, stored as that text.
    Date,
    /// RFC 3339 or `'YYYY-MM-DD'` in filters, stored as Unix seconds.
    Timestamp,
    /// `true`/`false`, stored as 0/1.
    Bool,
}

impl FieldType {
    fn noun(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer | Self::Real => "a number",
            Self::Date => "a date ('YYYY-MM-DD')",
            Self::Timestamp => "a time (RFC 3339, or 'YYYY-MM-DD')",
            Self::Bool => "true or false",
        }
    }
}

/// A field a list can be filtered (and sorted) on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The name used in filters, e.g. `weather.summary`.
    pub name: &'static str,
    /// The SQL expression it stands for, e.g. `weather_summary`.
    pub column: &'static str,
    pub ty: FieldType,
    /// Whether the column can hold NULL (those sort last on every backend).
    pub nullable: bool,
}

/// The fields of one list endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub fields: &'static [Field],
}

impl Schema {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn names(&self) -> String {
        self.fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
    }
}

/// A value of a field's storage type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypedCmp {
    pub field: &'static Field,
    pub op: Op,
    pub value: Value,
}

/// A checked filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Or(Vec<Typed>),
    And(Vec<Typed>),
    Not(Box<Typed>),
    Cmp(TypedCmp),
    In { field: &'static Field, values: Vec<Value> },
}

fn written(literal: &Literal) -> String {
    match literal {
        Literal::Int(n) => n.to_string(),
        Literal::Float(f) => f.to_string(),
        Literal::Str(s) => format!("'{s}'"),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".into(),
    }
}

/// Converts `literal` to the storage value of `field`.
fn value_for(field: &Field, literal: &Literal, at: usize) -> Result<Value, FilterError> {
    let wrong = || {
        FilterError::at(
            at,
            format!("`{}` is {}, so {} does not fit", field.name, field.ty.noun(), written(literal)),
        )
    };
    Ok(match (field.ty, literal) {
        (_, Literal::Null) => Value::Null,
        (FieldType::Integer, Literal::Int(n)) => Value::Int(*n),
        (FieldType::Integer | FieldType::Real, Literal::Float(f)) => Value::Real(*f),
        (FieldType::Real, Literal::Int(n)) => Value::Real(*n as f64),
        (FieldType::Text, Literal::Str(s)) => Value::Text(s.clone()),
        (FieldType::Date, Literal::Str(s)) => {
            let format = format_description!("[year]-[month]-[day]");
            let date = Date::parse(s, &format).map_err(|_| wrong())?;
            Value::Text(date.format(&format).map_err(|_| wrong())?)
        }
        (FieldType::Timestamp, Literal::Str(s)) => {
            let format = format_description!("[year]-[month]-[day]");
            let at_time = OffsetDateTime::parse(s, &Rfc3339)
                .ok()
                .or_else(|| Date::parse(s, &format).ok().map(|d| d.midnight().assume_utc()))
                .ok_or_else(wrong)?;
            Value::Int(at_time.unix_timestamp())
        }
        (FieldType::Timestamp, Literal::Int(n)) => Value::Int(*n),
        (FieldType::Bool, Literal::Bool(b)) => Value::Int(i64::from(*b)),
        _ => return Err(wrong()),
    })
}

fn field_of(schema: &Schema, name: &str, at: usize) -> Result<&'static Field, FilterError> {
    schema.field(name).ok_or_else(|| {
        FilterError::at(
            at,
            format!("unknown field `{name}`; this list can be filtered on {}", schema.names()),
        )
    })
}

pub fn check(expr: &Expr, schema: &Schema) -> Result<Typed, FilterError> {
    Ok(match expr {
        Expr::Or(terms) => Typed::Or(terms.iter().map(|t| check(t, schema)).collect::<Result<_, _>>()?),
        Expr::And(terms) => Typed::And(terms.iter().map(|t| check(t, schema)).collect::<Result<_, _>>()?),
        Expr::Not(inner) => Typed::Not(Box::new(check(inner, schema)?)),
        Expr::Cmp { field, field_at, op, value, value_at } => {
            let field = field_of(schema, field, *field_at)?;
            if *op == Op::Like && field.ty != FieldType::Text {
                return Err(FilterError::at(
                    *value_at,
                    format!("like works on text; `{}` is {}", field.name, field.ty.noun()),
                ));
            }
            let checked = value_for(field, value, *value_at)?;
            if let (Op::Like, Value::Text(pattern)) = (op, &checked) {
                let trailing = pattern.chars().rev().take_while(|c| *c == '\\').count();
                if trailing % 2 == 1 {
                    return Err(FilterError::at(
                        *value_at,
                        "a like pattern cannot end with a lone \\ (write \\\\ for a backslash)",
                    ));
                }
            }
            if checked == Value::Null && !matches!(op, Op::Eq | Op::Ne) {
                return Err(FilterError::at(*value_at, "null can only be compared with eq or ne"));
            }
            if field.ty == FieldType::Bool && !matches!(op, Op::Eq | Op::Ne) {
                return Err(FilterError::at(
                    *value_at,
                    format!("`{}` is true or false: use eq or ne", field.name),
                ));
            }
            Typed::Cmp(TypedCmp { field, op: *op, value: checked })
        }
        Expr::In { field, field_at, values } => {
            let field = field_of(schema, field, *field_at)?;
            let mut checked = Vec::with_capacity(values.len());
            for (literal, at) in values {
                let value = value_for(field, literal, *at)?;
                if value == Value::Null {
                    return Err(FilterError::at(*at, "null cannot be in an 'in' list; use eq null"));
                }
                checked.push(value);
            }
            Typed::In { field, values: checked }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::{parse, prepare};
    use super::*;

    const FIELDS: &[Field] = &[
        Field { name: "date", column: "date", ty: FieldType::Date, nullable: true },
        Field { name: "distance", column: "distance", ty: FieldType::Integer, nullable: true },
        Field { name: "speed", column: "speed", ty: FieldType::Real, nullable: true },
        Field { name: "notes", column: "notes", ty: FieldType::Text, nullable: true },
        Field { name: "created_at", column: "created_at", ty: FieldType::Timestamp, nullable: true },
        Field { name: "done", column: "done", ty: FieldType::Bool, nullable: true },
    ];
    const SCHEMA: Schema = Schema { fields: FIELDS };

    #[test]
    fn literals_take_their_field_type() {
        let typed =
            prepare("date eq '2016-05-01' and speed gt 3 and created_at ge '2020-01-01'", &SCHEMA).unwrap();
        let Typed::And(terms) = typed else { panic!() };
        assert!(matches!(&terms[0], Typed::Cmp(c) if c.value == Value::Text("2016-05-01".into())));
        assert!(matches!(&terms[1], Typed::Cmp(c) if c.value == Value::Real(3.0)));
        assert!(matches!(&terms[2], Typed::Cmp(c) if c.value == Value::Int(1_577_836_800)));
        assert!(check(&parse("done eq true").unwrap(), &SCHEMA).is_ok());
    }

    #[test]
    fn type_errors_name_the_field_and_point_at_the_value() {
        let err = |text: &str| prepare(text, &SCHEMA).unwrap_err();
        let e = err("distance gt 'far'");
        assert_eq!(e.position, 12);
        assert!(e.message.contains("`distance` is a number"), "{}", e.message);
        assert!(err("date eq '2016-13-01'").message.contains("date"));
        assert_eq!(err("weight gt 3").position, 0);
        assert!(err("weight gt 3").message.contains("unknown field `weight`"));
        assert!(err("distance gt null").message.contains("null"));
        assert!(err("distance like '2%'").message.contains("like works on text"));
        assert!(err("done gt true").message.contains("eq or ne"));
        assert!(err("notes in ('a', null)").message.contains("null"));
        assert!(err("notes eq 5").message.contains("text"));
        assert!(err("notes like 'abc\\'").message.contains("lone"));
        assert!(prepare("notes like 'abc\\\\'", &SCHEMA).is_ok());
    }
}
