//! Accounts: the user record and its queries, creating an account, and password
//! hashing. The layer under `auth` (which signs accounts in) and `users` (the
//! `/api/v1/users…` endpoints); it depends on neither.

pub mod create;
pub mod model;
pub mod password;
pub mod store;
