//! The `/api/v1/users…` endpoints, and what happens to an account's sessions when
//! it is expired or its password changes.

pub mod lifecycle;
pub mod manage;
pub mod me;
