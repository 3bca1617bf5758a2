//! Pure types and validation rules: no I/O, no framework.

pub mod account;
pub mod filter;
pub mod ids;
pub mod invalid;
pub mod password_policy;

pub use invalid::Invalid;
