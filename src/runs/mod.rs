//! Runs: seed 002's jogging tracker — runs with their weather, weekly reports,
//! CSV import, and the filter language over all of it.

pub mod edit;
pub mod import;
pub mod model;
pub mod report;
pub mod routes;
pub mod store;
pub mod weather;
pub mod weather_batch;
pub mod weather_jobs;
pub mod weather_queue;
