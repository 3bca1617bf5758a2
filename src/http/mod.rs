//! HTTP plumbing: router, middleware, extractors, errors, and the server loop.

pub mod client_ip;
pub mod error;
pub mod extract;
pub mod listing;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod router;
pub mod server;
