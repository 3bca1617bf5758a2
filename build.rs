//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the
//! migrations folder at compile time, and cargo would not notice a new file there.
//!
//! Also tells the tests which outside services they may use: tests that need
//! PostgreSQL or Redis are compiled as `#[ignore]`d (listed as such, with the reason)
//! unless the service's URL is set — or unless `CI` is set, where they run and fail
//! loudly if the service is missing. Browser tests likewise need ChromeDriver.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
    for (variable, cfg) in
        [("HALLPASS_TEST_POSTGRES_URL", "test_postgres"), ("HALLPASS_TEST_REDIS_URL", "test_redis")]
    {
        println!("cargo::rerun-if-env-changed={variable}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if is_set(variable) || is_set("CI") {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    println!("cargo::rerun-if-env-changed=CI");
    // Browser tests need Chromium and ChromeDriver (`.ci/run` installs them).
    println!("cargo::rustc-check-cfg=cfg(test_browser)");
    println!("cargo::rerun-if-changed=/usr/bin/chromedriver");
    if std::path::Path::new("/usr/bin/chromedriver").exists() || is_set("CI") {
        println!("cargo::rustc-cfg=test_browser");
    }
}

fn is_set(variable: &str) -> bool {
    std::env::var_os(variable).is_some_and(|value| !value.is_empty())
}
