//! Signing in: tokens, sessions, the per-request gate, and `/api/v1/auth/*`.

pub mod access_token;
pub mod external;
pub mod gate;
pub mod keys;
pub mod login;
pub mod opaque;
pub mod permissions;
pub mod principal;
pub mod routes;
pub mod sessions;
pub mod successor;
pub mod throttle;
