//! Hallpass: a self-hosted API server for apps that need accounts.
//!
//! Layers: `domain` (pure rules) · `store` (database) · `auth` (passwords, tokens,
//! sessions) · feature modules (`users`) · `http` (router, middleware, errors) · `cli`.
//! See `docs/ARCHITECTURE.md`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod runs;
pub mod store;
pub mod tokens;
pub mod users;

pub use app::Application;
