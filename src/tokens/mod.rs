//! Long-lived API tokens (`/api/v1/tokens`): created by a signed-in user for
//! automation, optionally narrowed to scopes, revocable at once.

pub mod issue;
pub mod routes;
pub mod store;
