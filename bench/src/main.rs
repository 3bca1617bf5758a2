//! Hallpass load driver: starts a release `hallpass` on a fresh SQLite data dir (or
//! targets a running one), prepares accounts through the public API, then drives each
//! scenario with N keep-alive connections on loopback and prints req/s, p50/p99
//! latency and the server's peak RSS.
//!
//! Run: `cargo build --release && cargo run --release --manifest-path bench/Cargo.toml`

mod data;
mod files;
mod pages;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

const PASSWORD: &str = "bench passphrase that is long enough";

#[derive(Parser, Debug)]
struct Args {
    /// The hallpass binary to start.
    #[arg(long, default_value = "target/release/hallpass")]
    server: String,
    /// Port for the server it starts.
    #[arg(long, default_value_t = 18181)]
    port: u16,
    /// Scenarios to run: login, refresh, verify, me, token-me, runs-list, runs-create,
    /// runs-weekly (the runs-* ones generate the run data first), files-large (upload
    /// and download of one large file), files-small (many small uploads), page-runs and
    /// page-dashboard (the web pages of a runner, with a cookie session).
    #[arg(long, value_delimiter = ',', default_value = "verify,me,token-me,refresh,login")]
    scenarios: Vec<String>,
    /// Users generated for the runs scenarios.
    #[arg(long, default_value_t = 1000)]
    runs_users: usize,
    /// Runs per generated user.
    #[arg(long, default_value_t = 1000)]
    runs_per_user: usize,
    /// Query string of the runs-list scenario.
    #[arg(
        long,
        default_value = "filter=%28date%20ge%20%272018-01-01%27%29%20and%20%28distance%20gt%205000%29&count=20"
    )]
    runs_query: String,
    /// Runs of the one `heavy` user (the weekly report scenario).
    #[arg(long, default_value_t = 10_000)]
    heavy_runs: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Size of the files-large file, MiB.
    #[arg(long, default_value_t = 1024)]
    file_mib: u64,
    /// Keep the server's data here (default: a fresh temporary directory). Run data
    /// already in it is reused instead of generated again.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

struct Server {
    child: Child,
    data_dir: std::path::PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

impl Server {
    fn start(args: &Args, weather_url: &str) -> anyhow::Result<Self> {
        let (data_dir, temporary) = match &args.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temporary = tempfile::tempdir()?;
                (temporary.path().to_owned(), Some(temporary))
            }
        };
        let child = Command::new(&args.server)
            .env("HALLPASS_DATA_DIR", &data_dir)
            .env("HALLPASS_WEATHER_ARCHIVE_URL", weather_url)
            .env("HALLPASS_WEATHER_FORECAST_URL", weather_url)
            .env("HALLPASS_LISTEN", format!("127.0.0.1:{}", args.port))
            .env("HALLPASS_AUTH_RATE_PER_MINUTE", "100000000")
            .env("HALLPASS_LOG", "warn")
            .env("HALLPASS_MAX_UPLOAD_BYTES", (16u64 << 30).to_string())
            .env("HALLPASS_USER_QUOTA_BYTES", (1u64 << 40).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self { child, data_dir, _temporary: temporary })
    }

    /// Peak resident set size so far (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    /// Starts measuring the peak afresh (Linux: `clear_refs` 5); the RSS now, in MiB.
    fn reset_peak_rss(&self) -> f64 {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in for Open-Meteo: every lookup gets the same fine day.
async fn weather_stub() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/archive", listener.local_addr()?);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let day = req
                            .uri()
                            .query()
                            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("start_date=")))
                            .unwrap_or("2020-01-01")
                            .to_owned();
                        let body = json!({"daily": {"time": [day], "temperature_2m_max": [20.0], "temperature_2m_min": [10.0],
                        "precipitation_sum": [0.0], "wind_speed_10m_max": [10.0], "weather_code": [1]}});
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                            body.to_string(),
                        ))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(url)
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(port: u16) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { sender, host: format!("127.0.0.1:{port}") })
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut req = Request::builder().method(method).uri(path).header("host", &self.host);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                req = req.header("content-type", "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let (status, _, body) = self.request(req.body(Full::new(body))?).await?;
        Ok((status, body))
    }

    /// Sends `req`: the status, headers and body of the answer.
    async fn request(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<(u16, hyper::HeaderMap, Bytes)> {
        self.sender.ready().await?;
        let res = self.sender.send_request(req).await?;
        let (parts, body) = res.into_parts();
        Ok((parts.status.as_u16(), parts.headers, body.collect().await?.to_bytes()))
    }

    /// A raw (non-JSON) body.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: Bytes,
    ) -> anyhow::Result<(u16, Bytes)> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/octet-stream")
            .body(Full::new(body))?;
        self.sender.ready().await?;
        let res = self.sender.send_request(req).await?;
        let status = res.status().as_u16();
        Ok((status, res.into_body().collect().await?.to_bytes()))
    }
}

async fn wait_ready(port: u16) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(mut conn) = Conn::open(port).await {
            if conn.call("GET", "/readyz", None, None).await.is_ok_and(|(s, _)| s == 200) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("server did not become ready")
}

/// Registers a user (or logs in when it exists) and returns its token response.
async fn session(port: u16, username: &str) -> anyhow::Result<Value> {
    let mut conn = Conn::open(port).await?;
    let body = json!({"username": username, "password": PASSWORD});
    let (status, bytes) = conn.call("POST", "/api/v1/auth/register", None, Some(&body)).await?;
    let (status, bytes) = if status == 201 {
        (status, bytes)
    } else {
        conn.call("POST", "/api/v1/auth/login", None, Some(&body)).await?
    };
    anyhow::ensure!(
        status == 200 || status == 201,
        "setup for {username}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(serde_json::from_slice(&bytes)?)
}

struct Outcome {
    latencies: Histogram<u64>,
    errors: u64,
}

/// Runs one connection's closed loop until `deadline`.
/// The account a connection works as.
fn username(scenario: &str, index: usize) -> String {
    match scenario {
        "runs-list" | "runs-create" | "page-runs" | "page-dashboard" => format!("runner{index}"),
        "runs-weekly" => "heavy".to_owned(),
        _ => format!("bench{index}"),
    }
}

async fn drive(
    args: Arc<Args>,
    scenario: String,
    index: usize,
    tokens: Value,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let port = args.port;
    let username = username(&scenario, index);
    let access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
    let mut refresh = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
    let mut conn = Conn::open(port).await?;
    let api_token = if scenario == "token-me" {
        let (status, body) =
            conn.call("POST", "/api/v1/tokens", Some(&access), Some(&json!({"name": "bench"}))).await?;
        anyhow::ensure!(status == 201, "token: {status}");
        serde_json::from_slice::<Value>(&body)?["token"].as_str().unwrap_or_default().to_owned()
    } else {
        String::new()
    };
    let cookie = if scenario.starts_with("page-") {
        pages::web_session(&mut conn, &username).await?
    } else {
        String::new()
    };
    let mut outcome = Outcome { latencies: Histogram::new(3)?, errors: 0 };
    while Instant::now() < deadline {
        let started = Instant::now();
        let (status, body) = match scenario.as_str() {
            "verify" => conn.call("GET", "/api/v1/auth/verify", Some(&access), None).await?,
            "me" => conn.call("GET", "/api/v1/users/me", Some(&access), None).await?,
            "token-me" => conn.call("GET", "/api/v1/users/me", Some(&api_token), None).await?,
            "runs-list" => {
                let path = format!("/api/v1/runs?{}", args.runs_query);
                conn.call("GET", &path, Some(&access), None).await?
            }
            "runs-weekly" => conn.call("GET", "/api/v1/runs/reports/weekly", Some(&access), None).await?,
            "runs-create" => {
                let body =
                    json!({"date": "2019-06-01", "distance": 5000, "time": 1500, "location": "60.17 24.94"});
                let (status, body) = conn.call("POST", "/api/v1/runs", Some(&access), Some(&body)).await?;
                (if status == 201 { 200 } else { status }, body)
            }
            "login" => {
                conn.call(
                    "POST",
                    "/api/v1/auth/login",
                    None,
                    Some(&json!({"username": username, "password": PASSWORD})),
                )
                .await?
            }
            "refresh" => {
                conn.call("POST", "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": refresh})))
                    .await?
            }
            "page-runs" => pages::get(&mut conn, "/runs", &cookie).await?,
            "page-dashboard" => pages::get(&mut conn, "/dashboard", &cookie).await?,
            other => anyhow::bail!("unknown scenario {other}"),
        };
        outcome.latencies.record(started.elapsed().as_micros() as u64)?;
        if status != 200 {
            outcome.errors += 1;
        } else if scenario == "refresh" {
            let value: Value = serde_json::from_slice(&body)?;
            refresh = value["refresh_token"].as_str().unwrap_or_default().to_owned();
        }
    }
    Ok(outcome)
}

async fn run_scenario(args: &Arc<Args>, server: &Server, scenario: &str) -> anyhow::Result<()> {
    // Sessions are opened one by one before the clock starts (password hashing is
    // slow by design, and a burst of logins to one account would trip its lock).
    let mut sessions = Vec::new();
    for i in 0..args.connections {
        sessions.push(session(args.port, &username(scenario, i)).await?);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, tokens)| tokio::spawn(drive(args.clone(), scenario.to_owned(), i, tokens, deadline)))
        .collect();
    let mut total = Histogram::<u64>::new(3)?;
    let mut errors = 0;
    for task in tasks {
        let outcome = task.await??;
        total.add(&outcome.latencies)?;
        errors += outcome.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{scenario:<8} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  requests {:>8}  errors {errors}  peak RSS {:.0} MiB",
        total.len() as f64 / elapsed,
        total.value_at_quantile(0.5) as f64 / 1000.0,
        total.value_at_quantile(0.99) as f64 / 1000.0,
        total.len(),
        server.peak_rss_mib(),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let weather = weather_stub().await?;
    let server = Server::start(&args, &weather)?;
    wait_ready(args.port).await?;
    println!("hallpass bench: {} connections, {} s per scenario, SQLite", args.connections, args.seconds);
    if args.scenarios.iter().any(|s| s.starts_with("runs-") || s.starts_with("page-")) {
        session(args.port, "template").await?;
        let started = Instant::now();
        let db = server.data_dir.join("hallpass.db");
        if data::has_runs(&db).await? {
            println!("reusing the run data in {}", server.data_dir.display());
        } else {
            data::generate(&db, "template", args.runs_users, args.runs_per_user, args.heavy_runs).await?;
            let rows = args.runs_users * args.runs_per_user + args.heavy_runs;
            println!(
                "generated {} users and {rows} runs in {:.1} s",
                args.runs_users + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    if args.scenarios.iter().any(|s| s.starts_with("files-")) {
        files::create_operator(&args.server, &server.data_dir)?;
    }
    for scenario in &args.scenarios {
        match scenario.as_str() {
            "files-large" => files::large(&server, args.port, args.file_mib).await?,
            "files-small" => files::small(&server, args.port, 1000, 64 * 1024, 32).await?,
            _ => run_scenario(&args, &server, scenario).await?,
        }
    }
    Ok(())
}
