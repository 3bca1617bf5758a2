//! A direct evaluator of typed filters over in-memory rows, with SQL's three-valued
//! logic. The property tests hold the compiled SQL to it on both backends.

use super::Op;
use super::check::{Typed, Value};

/// Reads a column of a row by its SQL column expression.
pub trait Row {
    fn get(&self, column: &str) -> Value;
}

fn compare(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Real(b)) => (*a as f64).partial_cmp(b),
        (Value::Real(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Real(a), Value::Real(b)) => a.partial_cmp(b),
        (Value::Text(a), Value::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    }
}

/// SQL `LIKE` with `%`, `_` and `\` escapes, ASCII case-insensitive.
pub fn like(text: &str, pattern: &str) -> bool {
    fn go(text: &[char], pattern: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|skip| go(&text[skip..], rest)),
            Some(('_', rest)) => !text.is_empty() && go(&text[1..], rest),
            Some(('\\', rest)) if !rest.is_empty() => {
                text.first() == Some(&rest[0]) && go(&text[1..], &rest[1..])
            }
            Some((c, rest)) => text.first() == Some(c) && go(&text[1..], rest),
        }
    }
    let lower = |s: &str| s.to_ascii_lowercase().chars().collect::<Vec<_>>();
    go(&lower(text), &lower(pattern))
}

/// `Some(true/false)`, or `None` for SQL's unknown.
pub fn eval(typed: &Typed, row: &dyn Row) -> Option<bool> {
    match typed {
        Typed::Or(terms) => {
            let results: Vec<Option<bool>> = terms.iter().map(|t| eval(t, row)).collect();
            if results.contains(&Some(true)) {
                Some(true)
            } else if results.contains(&None) {
                None
            } else {
                Some(false)
            }
        }
        Typed::And(terms) => {
            let results: Vec<Option<bool>> = terms.iter().map(|t| eval(t, row)).collect();
            if results.contains(&Some(false)) {
                Some(false)
            } else if results.contains(&None) {
                None
            } else {
                Some(true)
            }
        }
        Typed::Not(inner) => eval(inner, row).map(|b| !b),
        Typed::Cmp(cmp) => {
            let actual = row.get(cmp.field.column);
            match (cmp.op, &cmp.value) {
                (Op::Eq, Value::Null) => Some(actual == Value::Null),
                (Op::Ne, Value::Null) => Some(actual != Value::Null),
                (Op::Like, Value::Text(pattern)) => match actual {
                    Value::Text(text) => Some(like(&text, pattern)),
                    _ => None,
                },
                (op, value) => {
                    let ordering = compare(&actual, value)?;
                    Some(match op {
                        Op::Eq => ordering.is_eq(),
                        Op::Ne => ordering.is_ne(),
                        Op::Gt => ordering.is_gt(),
                        Op::Ge => ordering.is_ge(),
                        Op::Lt => ordering.is_lt(),
                        Op::Le => ordering.is_le(),
                        Op::Like => return None,
                    })
                }
            }
        }
        Typed::In { field, values } => {
            let actual = row.get(field.column);
            if actual == Value::Null {
                return None;
            }
            Some(values.iter().any(|v| compare(&actual, v).is_some_and(|o| o.is_eq())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("Morning run", "morning%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("100%", "100\\%"));
        assert!(!like("1000", "100\\%"));
        assert!(like("", "%"));
    }
}
