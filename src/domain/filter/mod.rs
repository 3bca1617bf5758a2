//! The filter language of every list endpoint (SPEC §5):
//!
//! ```text
//! filter     := or_expr
//! or_expr    := and_expr ("or" and_expr)*
//! and_expr   := not_expr ("and" not_expr)*
//! not_expr   := "not" not_expr | primary
//! primary    := "(" or_expr ")" | comparison
//! comparison := field op literal | field "in" "(" literal ("," literal)* ")"
//! op         := "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "like"
//! literal    := number | 'string' ('' escapes a quote) | true | false | null
//! field      := name ("." name)*
//! ```
//!
//! Text is parsed to an untyped AST (`parse`), checked against the endpoint's fields
//! and their types into a typed AST (`check`), and compiled to SQL (by `store::filter_sql`) whose every value
//! is a bound parameter. Errors carry the 0-based character position.

mod check;
mod parse;
pub mod reference;
mod sort;

pub use check::{Field, FieldType, Schema, Typed, TypedCmp, Value};
pub use parse::parse;
pub use sort::{SortKey, order_by};

pub const MAX_LENGTH: usize = 2048;
pub const MAX_DEPTH: usize = 32;
pub const MAX_COMPARISONS: usize = 64;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
}

impl Op {
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::Like => "like",
        }
    }
}

/// A literal as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
}

/// The untyped syntax tree; positions are 0-based character offsets.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp { field: String, field_at: usize, op: Op, value: Literal, value_at: usize },
    In { field: String, field_at: usize, values: Vec<(Literal, usize)> },
}

/// Why a filter was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub fn at(position: usize, message: impl Into<String>) -> Self {
        Self { position, message: message.into() }
    }
}

/// Parses and checks `text` against `schema`: the typed filter, ready to compile.
pub fn prepare(text: &str, schema: &Schema) -> Result<Typed, FilterError> {
    check::check(&parse(text)?, schema)
}
