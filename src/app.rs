//! Building and running the server: `Application::build` wires the parts together
//! and binds the port; `run_until_stopped` serves until SIGTERM or Ctrl-C.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::accounts::password::PasswordHasherPool;
use crate::auth::access_token::AccessTokens;
use crate::auth::external::ExternalIssuer;
use crate::auth::gate::SessionGate;
use crate::auth::keys::{KeyRing, RELOAD_EVERY};
use crate::auth::permissions::RoleBook;
use crate::auth::throttle::IpLimiter;
use crate::clock::{SharedClock, SystemClock};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::files::FileService;
use crate::metrics::Metrics;
use crate::runs::weather::OpenMeteo;
use crate::store::{Backend, Db};

/// Everything a request handler may need; one per server.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub clock: SharedClock,
    pub hasher: PasswordHasherPool,
    pub keys: Arc<KeyRing>,
    pub tokens: AccessTokens,
    pub gate: Arc<SessionGate>,
    pub roles: Arc<RoleBook>,
    /// The outside identity provider, when configured.
    pub external: Option<ExternalIssuer>,
    pub cluster: Cluster,
    pub limiter: IpLimiter,
    pub metrics: Metrics,
    pub weather: OpenMeteo,
    pub files: FileService,
    /// The key of the web pages' CSRF tokens.
    pub csrf: crate::pages::csrf::CsrfKey,
    /// Background work that lives as long as the server.
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Cheap to clone; handlers take it with `State(state)`.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    pub async fn new(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let roles = Arc::new(RoleBook::new(&config.roles)?);
        let external =
            config.oidc()?.map(|settings| ExternalIssuer::new(settings, clock.clone())).transpose()?;
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        let cluster = Cluster::connect(
            config.redis_url.as_deref(),
            &config.redis_prefix,
            db.backend == Backend::Sqlite,
        )
        .await?;
        let keys = Arc::new(KeyRing::load(db.clone(), clock.clone()).await?);
        let tokens = AccessTokens::new(keys.clone(), clock.clone(), config.issuer(), config.access_token_ttl);
        let gate = Arc::new(SessionGate::new(db.clone(), clock.clone(), cluster.clone(), roles.clone()));
        let limiter = IpLimiter::new(config.auth_rate_per_minute, clock.clone(), &cluster);
        let weather = OpenMeteo::new(
            config.weather_archive_url.clone(),
            config.weather_forecast_url.clone(),
            Duration::from_millis(config.weather_timeout_ms),
        )?;
        let files = FileService::open(&config.files, &config.data_dir, &db, clock.now()).await?;
        let csrf = crate::pages::csrf::CsrfKey::load(&db, clock.now()).await?;
        let mut tasks = Vec::new();
        let listener_gate = gate.clone();
        tasks.extend(cluster.spawn_listener(Arc::new(move |event| listener_gate.apply(&event))));
        let ring = keys.clone();
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(RELOAD_EVERY as u64));
            loop {
                every.tick().await;
                if let Err(err) = ring.reload_if_older_than(RELOAD_EVERY).await {
                    tracing::warn!(error = format!("{err:#}"), "reloading signing keys failed");
                }
            }
        }));
        Ok(Self(Arc::new(App {
            hasher: PasswordHasherPool::new()?,
            config,
            db,
            clock,
            keys,
            tokens,
            gate,
            roles,
            external,
            cluster,
            limiter,
            metrics: Metrics::default(),
            weather,
            files,
            csrf,
            tasks,
        })))
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let state = AppState::new(config, clock).await?;
        Ok(Self { listener, state })
    }

    /// The bound port (useful when configured with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let router = crate::http::router::build(self.state.clone())?;
        let weather = tokio::spawn(weather_worker(self.state.clone()));
        let sweeper = tokio::spawn(file_sweeper(self.state.clone()));
        crate::http::server::serve(self.listener, router, shutdown).await;
        weather.abort();
        sweeper.abort();
        Ok(())
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, backend = ?self.state.db.backend, "hallpass is listening");
        if self.state.config.redis_url.is_some() && self.state.config.files.s3_bucket.is_none() {
            tracing::warn!(
                "files are kept on this node's disk: with several nodes, set HALLPASS_S3_BUCKET \
                 so that every node serves every file"
            );
        }
        if let Some(link) = crate::pages::setup::setup_link(&self.state).await? {
            // Printed plainly for whoever starts the server. It also reaches wherever
            // stderr goes (journald, docker logs): hence one use and one hour.
            eprintln!(
                "\nNo administrator exists yet. Create the first one within the hour at\n\n    {link}\n\n\
                 (or from the shell: HALLPASS_PASSWORD=… hallpass user create --username admin --role admin)\n"
            );
        }
        self.run_until(shutdown_signal()).await
    }
}

/// Works the weather queue while the server runs (every node does; jobs are leased),
/// starting one period after start-up.
async fn weather_worker(state: AppState) {
    let period = Duration::from_secs(15);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        every.tick().await;
        if let Err(err) = crate::runs::weather_jobs::process_due(&state).await {
            tracing::warn!(error = %err, "weather queue pass failed");
        }
    }
}

/// Removes stored bytes no file refers to, at start and then hourly.
async fn file_sweeper(state: AppState) {
    let mut every = tokio::time::interval(crate::files::sweep::EVERY);
    loop {
        every.tick().await;
        match crate::files::sweep::sweep(
            &state.db,
            &state.files.storage,
            state.clock.now(),
            crate::files::sweep::GRACE,
        )
        .await
        {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed stored bytes no file refers to"),
            Err(err) => tracing::warn!(error = format!("{err:#}"), "file sweep failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
