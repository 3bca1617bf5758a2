//! Spawning the real server on a loopback port, with a fresh database per test.

use std::sync::Arc;

use hallpass::app::AppState;
use hallpass::clock::ManualClock;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases in; a test that needs it and
/// runs without it fails, naming the variable.
pub fn postgres_url() -> String {
    service_url("HALLPASS_TEST_POSTGRES_URL")
}

pub fn redis_url() -> String {
    service_url("HALLPASS_TEST_REDIS_URL")
}

fn service_url(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("this test needs {variable}; set it (CI does) or run without CI to skip it"),
    }
}

/// Runs each named `async fn(Backend)` on SQLite and on PostgreSQL. Without
/// `HALLPASS_TEST_POSTGRES_URL` the PostgreSQL half is compiled as ignored (and listed
/// so); under `CI` it always runs, and fails if PostgreSQL is missing (see build.rs).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(test_postgres), ignore = "needs PostgreSQL: set HALLPASS_TEST_POSTGRES_URL")]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )* };
}

/// Where a test's server keeps file bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Local,
    /// The in-process S3 server (`s3_stub`).
    S3,
}

/// Runs each named `async fn(Backend, Storage)` on SQLite and PostgreSQL, each with
/// local and S3 storage.
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            use $crate::helpers::{Backend, Storage};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_local() {
                super::$name(Backend::Sqlite, Storage::Local).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_s3() {
                super::$name(Backend::Sqlite, Storage::S3).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(test_postgres), ignore = "needs PostgreSQL: set HALLPASS_TEST_POSTGRES_URL")]
            async fn postgres_local() {
                super::$name(Backend::Postgres, Storage::Local).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(test_postgres), ignore = "needs PostgreSQL: set HALLPASS_TEST_POSTGRES_URL")]
            async fn postgres_s3() {
                super::$name(Backend::Postgres, Storage::S3).await
            }
        }
    )* };
}

/// Every regular file under `dir` (none when it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Like `on_both_backends!`, for tests that also need Redis (several nodes).
#[macro_export]
macro_rules! with_redis_on_both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(test_redis), ignore = "needs Redis: set HALLPASS_TEST_REDIS_URL")]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(
                not(all(test_postgres, test_redis)),
                ignore = "needs PostgreSQL and Redis: set HALLPASS_TEST_POSTGRES_URL and HALLPASS_TEST_REDIS_URL"
            )]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )* };
}

/// The `hallpass` binary, run in `dir` with its data there and JSON logs. Whatever the
/// shell exported, the binary sees only the `HALLPASS_*` settings each test gives it.
pub fn hallpass_binary(dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hallpass"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HALLPASS_") {
            command.env_remove(name);
        }
    }
    command.current_dir(dir).env("HALLPASS_DATA_DIR", dir.join("data")).env("HALLPASS_LOG_FORMAT", "json");
    command
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("hallpass.db").display());
                Self { url, postgres: None, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let admin = postgres_url();
                let name = format!("hallpass_test_{}", uuid::Uuid::new_v4().simple());
                run_admin_sql(&admin, &format!("CREATE DATABASE {name}")).await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
                Self { url: format!("{base}/{name}"), postgres: Some((admin, name)), _dir: None }
            }
        }
    }
}

impl TestDb {
    /// `host:port` of the database server.
    pub fn server(&self) -> String {
        let after_scheme = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        let after_user = after_scheme.rsplit_once('@').map_or(after_scheme, |(_, rest)| rest);
        after_user.split('/').next().unwrap_or(after_user).to_owned()
    }

    /// The same database, reached through `addr` (a proxy in front of its server).
    pub fn reached_through(mut self, addr: std::net::SocketAddr) -> Self {
        self.url = self.url.replacen(&self.server(), &addr.to_string(), 1);
        self
    }
}

async fn run_admin_sql(admin_url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.expect(sql);
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.postgres.take() {
            // Drop runs outside any runtime guarantee: use a private one on a thread.
            let _ = std::thread::spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime
                    .block_on(run_admin_sql(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
            })
            .join();
        }
    }
}

/// Settings a test may change before the server starts.
pub struct Options {
    pub args: Vec<String>,
    pub redis: bool,
    /// Extra roles, as `hallpass.toml`'s `[roles]` would give them.
    pub roles: Vec<(String, Vec<String>)>,
}

impl Default for Options {
    fn default() -> Self {
        // Tests log in often from one address; the throttle tests lower this.
        Self { args: vec!["--auth-rate-per-minute".into(), "100000".into()], redis: false, roles: Vec::new() }
    }
}

impl Options {
    pub fn arg(mut self, name: &str, value: &str) -> Self {
        self.args.push(name.into());
        self.args.push(value.into());
        self
    }

    pub fn role(mut self, name: &str, permissions: &[&str]) -> Self {
        self.roles.push((name.into(), permissions.iter().map(|p| p.to_string()).collect()));
        self
    }

    pub fn with_redis(mut self) -> Self {
        self.redis = true;
        self
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub db: Arc<TestDb>,
    redis_prefix: String,
    options_args: Vec<String>,
    /// Removed with the app.
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> Self {
        Self::spawn_on(TestDb::new(backend).await, options).await
    }

    /// A server on a database the test prepared.
    pub async fn spawn_on(db: TestDb, options: Options) -> Self {
        let db = Arc::new(db);
        let prefix = format!("hallpass-test-{}", uuid::Uuid::new_v4().simple());
        let mut args = options.args;
        if options.redis {
            args.extend(["--redis-url".into(), redis_url()]);
        }
        Self::start(db, prefix, args, options.roles, ManualClock::starting_now()).await
    }

    /// Another node of the same deployment: same database, Redis and clock.
    pub async fn another_node(&self) -> Self {
        let roles = self.state.config.roles.clone();
        Self::start(
            self.db.clone(),
            self.redis_prefix.clone(),
            self.options_args.clone(),
            roles,
            self.clock.clone(),
        )
        .await
    }

    async fn start(
        db: Arc<TestDb>,
        redis_prefix: String,
        args: Vec<String>,
        roles: Vec<(String, Vec<String>)>,
        clock: Arc<ManualClock>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut argv: Vec<String> = vec![
            "hallpass".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--database-url".into(),
            db.url.clone(),
            "--data-dir".into(),
            data_dir.path().display().to_string(),
            "--redis-prefix".into(),
            redis_prefix.clone(),
        ];
        if !args.iter().any(|a| a == "--public-url") {
            argv.extend(["--public-url".into(), "http://hallpass.test".into()]);
        }
        argv.extend(args.iter().cloned());
        let mut cli = hallpass::cli::parse_args_only(&argv).expect("test arguments");
        cli.config.roles = roles;
        let app =
            hallpass::Application::build_with_clock(cli.config, clock.clone()).await.expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        tokio::spawn(app.run_until(std::future::pending()));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let app =
            Self { base, client, clock, state, db, redis_prefix, options_args: args, _data_dir: data_dir };
        if app.state.cluster.redis.is_some() {
            app.wait_for_cluster().await;
        }
        app
    }

    /// The invalidation channel is subscribed in the background; wait until it is.
    async fn wait_for_cluster(&self) {
        for _ in 0..500 {
            if self.state.cluster.caches_trusted() {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("redis subscription did not come up");
    }

    /// The server's data directory (local file storage lives in `files/` there).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    pub fn clock_now(&self) -> i64 {
        use hallpass::clock::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request")
    }

    pub async fn put_json(&self, path: &str, body: &Value, token: &str) -> Response {
        self.client.put(self.url(path)).json(body).bearer_auth(token).send().await.expect("request")
    }

    pub async fn patch_json(&self, path: &str, body: &Value, token: &str) -> Response {
        self.client.patch(self.url(path)).json(body).bearer_auth(token).send().await.expect("request")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request")
    }

    pub async fn register(&self, username: &str) -> Tokens {
        let res = self
            .post_json("/api/v1/auth/register", &json!({"username": username, "password": PASSWORD}), None)
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        Tokens::from(res.json::<Value>().await.unwrap())
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/login", &json!({"username": username, "password": password}), None).await
    }

    pub async fn login_ok(&self, username: &str) -> Tokens {
        let res = self.login(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "login {username}");
        Tokens::from(res.json::<Value>().await.unwrap())
    }

    /// Gives `user_id` these roles directly in the database (how the first
    /// administrator of a test comes to be).
    pub async fn grant_roles(&self, user_id: &str, roles: &[&str]) {
        let user_id = hallpass::domain::ids::UserId::parse(user_id).expect("a user id");
        let mut tx = self.state.db.begin().await.unwrap();
        hallpass::accounts::store::set_roles(&mut tx, &user_id, roles, self.clock_now(), &user_id)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/api/v1/auth/refresh", &json!({"refresh_token": refresh_token}), None).await
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
    pub user_id: Option<String>,
}

impl From<Value> for Tokens {
    fn from(body: Value) -> Self {
        Self {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
            session_id: body["session_id"].as_str().unwrap_or_default().to_owned(),
            user_id: body["user"]["id"].as_str().map(str::to_owned),
        }
    }
}

/// Asserts a problem+json response with `status` and `code`; returns the body.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}
