//! Accounts: the user record, its queries, and the `/api/v1/users/me` endpoints.

pub mod accounts;
pub mod lifecycle;
pub mod manage;
pub mod me;
pub mod model;
pub mod store;
