//! Hallpass: a self-hosted API server for apps that need accounts.
//!
//! Layers: `domain` (pure rules) · `store` (database) · `accounts` (the user record,
//! password hashing) · `auth` (tokens, sessions, the gate) · feature modules (`users`,
//! `tokens`, `audit`, `runs`) · `http` (router, middleware, errors) · `cli`.
//! See `docs/ARCHITECTURE.md`.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod files;
pub mod http;
pub mod metrics;
pub mod pages;
pub mod runs;
pub mod store;
pub mod tokens;
pub mod users;

pub use app::Application;
