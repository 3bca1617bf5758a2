//! The one integration-test binary: every test starts the real server on a loopback
//! port with its own database (SQLite always; PostgreSQL and Redis when
//! `HALLPASS_TEST_POSTGRES_URL` / `HALLPASS_TEST_REDIS_URL` are set).

mod browser;
mod browser_flows;
mod helpers;
mod idp;
mod s3_stub;
mod tcp_cut;

mod accounts;
mod atomicity;
mod cli;
mod cluster;
mod dashboard_page;
mod external;
mod faults;
mod file_limits;
mod file_links;
mod files;
mod filter_properties;
mod forged_tokens;
mod http_conventions;
mod management;
mod ops;
mod page_admin;
mod page_files;
mod page_runs;
mod pages;
mod pages_browser;
mod permissions;
mod runs;
mod sessions;
mod setup_page;
mod throttling;
mod weather_queue;
mod weather_stub;
