//! Pure types and validation rules: no I/O, no framework.

pub mod account;
pub mod filter;
pub mod password_policy;
