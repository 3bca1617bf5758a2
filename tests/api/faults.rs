//! Faults at the store: the database going away under load, and coming back.

use hallpass::store::Sql;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, PASSWORD, TestApp, TestDb, hallpass_binary};
use crate::on_both_backends;
use crate::tcp_cut::TcpCut;

on_both_backends!(every_run_answered_201_is_there_after_a_kill_9);

/// The most a request may take to answer while the database is down.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

fn run() -> serde_json::Value {
    json!({"date": "2016-05-01", "distance": 5000, "time": 1800, "location": "60.17 24.94"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(test_postgres), ignore = "needs PostgreSQL: set HALLPASS_TEST_POSTGRES_URL")]
async fn a_postgres_outage_answers_503_at_once_and_the_same_process_serves_again() {
    let db = TestDb::new(Backend::Postgres).await;
    let proxy = TcpCut::start(db.server()).await;
    let app = TestApp::spawn_on(db.reached_through(proxy.addr), Options::default()).await;
    let ada = app.register("ada").await;
    assert_eq!(app.post_json("/api/v1/runs", &run(), Some(&ada.access)).await.status(), StatusCode::CREATED);

    proxy.cut();
    // Under load: more requests of each kind than the pool has connections.
    let calls = (0..8).flat_map(|_| {
        [
            app.client.get(app.url("/api/v1/users/me")).bearer_auth(&ada.access),
            app.client.post(app.url("/api/v1/runs")).bearer_auth(&ada.access).json(&run()),
            app.client.get(app.url("/api/v1/runs")).bearer_auth(&ada.access),
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"username": "ada", "password": PASSWORD})),
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"username": "ada", "password": "wrong"})),
            app.client.post(app.url("/api/v1/auth/refresh")).json(&json!({"refresh_token": ada.refresh})),
            app.client.get(app.url("/readyz")),
        ]
    });
    let answers = join_all(calls.map(|call| async move {
        let started = Instant::now();
        let res = call.send().await.expect("an answer, not a dropped connection");
        (started.elapsed(), res)
    }))
    .await;
    for (took, res) in answers {
        let what = res.url().path().to_owned();
        assert!(took <= ANSWER_WITHIN, "{what} took {took:?}");
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        let retry_after = res.headers().get("retry-after").expect("Retry-After").to_str().unwrap();
        assert!(retry_after.parse::<u64>().unwrap() >= 1, "{what}: {retry_after}");
        let problem: serde_json::Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "service_unavailable", "{what}: {problem}");
    }

    proxy.restore();
    // The same process, no restart: the pool reconnects on the next request.
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/users/me", Some(&ada.access)).await.status(), StatusCode::OK);
    assert_eq!(app.post_json("/api/v1/runs", &run(), Some(&ada.access)).await.status(), StatusCode::CREATED);
    let listed: serde_json::Value = app.get("/api/v1/runs", Some(&ada.access)).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "the run from before and the one from after");
    // The outage was not taken for wrong passwords: nothing counted, nothing audited.
    app.login_ok("ada").await;
    let read = Sql::dynamic(
        "SELECT (SELECT failed_logins FROM users WHERE username = 'ada'),
                (SELECT COUNT(*) FROM audit_log WHERE action = 'login.failed')",
    );
    let failures: (i64, i64) = app.state.db.read_optional(read, &[]).await.unwrap().unwrap();
    assert_eq!(failures, (0, 0));
}

/// A `hallpass serve` process; its logs are read (and dropped) as they come.
struct Served {
    child: Child,
    base: String,
}

fn serve(dir: &std::path::Path, database_url: &str) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = hallpass_binary(dir)
        .env("HALLPASS_DATABASE_URL", database_url)
        .env("HALLPASS_LISTEN", format!("127.0.0.1:{port}"))
        .env("HALLPASS_AUTH_RATE_PER_MINUTE", "100000")
        // Nothing listens there: every run is saved with its weather pending.
        .env("HALLPASS_WEATHER_ARCHIVE_URL", "http://127.0.0.1:9/")
        .env("HALLPASS_WEATHER_FORECAST_URL", "http://127.0.0.1:9/")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = logs.by_ref().map_while(Result::ok).any(|line| line.contains("hallpass is listening"));
    assert!(listening, "the server started");
    std::thread::spawn(move || logs.for_each(drop));
    Served { child, base: format!("http://127.0.0.1:{port}") }
}

async fn every_run_answered_201_is_there_after_a_kill_9(backend: Backend) {
    const CLIENTS: usize = 200;
    const ANSWERED_BEFORE_KILL: usize = 600;
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let created = hallpass_binary(dir.path())
        .env("HALLPASS_DATABASE_URL", &db.url)
        .env("HALLPASS_PASSWORD", PASSWORD)
        .args(["user", "create", "--username", "runner"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let mut server = serve(dir.path(), &db.url);
    let client = reqwest::Client::new();
    let login = json!({"username": "runner", "password": PASSWORD});
    let res = client.post(format!("{}/api/v1/auth/login", server.base)).json(&login).send().await.unwrap();
    let token: String = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().into();

    let answered = Arc::new(Mutex::new(Vec::new()));
    let (counted, mut count) = tokio::sync::watch::channel(0_usize);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url, token) =
                (client.clone(), format!("{}/api/v1/runs", server.base), token.clone());
            let (answered, counted) = (answered.clone(), counted.clone());
            tokio::spawn(async move {
                // Until the server is gone: a request that gets no answer ends the client.
                while let Ok(res) = client.post(&url).bearer_auth(&token).json(&run()).send().await {
                    if res.status() != StatusCode::CREATED {
                        continue;
                    }
                    let Ok(body) = res.json::<Value>().await else { break };
                    answered.lock().unwrap().push(body["id"].as_str().unwrap().to_owned());
                    counted.send_modify(|n| *n += 1);
                }
            })
        })
        .collect();
    let enough =
        tokio::time::timeout(Duration::from_secs(120), count.wait_for(|n| *n >= ANSWERED_BEFORE_KILL));
    assert!(enough.await.is_ok(), "{ANSWERED_BEFORE_KILL} runs created before the kill");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    join_all(clients).await;
    let answered: HashSet<String> = answered.lock().unwrap().drain(..).collect();
    assert!(answered.len() >= ANSWERED_BEFORE_KILL);

    let mut server = serve(dir.path(), &db.url);
    let store = hallpass::store::Db::connect(&db.url).await.unwrap();
    let stored: HashSet<String> =
        store.read::<String>(Sql::dynamic("SELECT id FROM runs"), &[]).await.unwrap().into_iter().collect();
    let missing = answered.difference(&stored).count();
    assert_eq!(missing, 0, "of {} runs answered 201, {missing} are gone", answered.len());
    // Nothing half-written: every run whose weather is pending still has its lookup queued.
    let orphans = store
        .count(
            Sql::dynamic(
                "SELECT COUNT(*) FROM runs r WHERE weather_status = 'pending'
                 AND NOT EXISTS (SELECT 1 FROM weather_jobs j WHERE j.run_id = r.id)",
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(orphans, 0, "pending runs without their weather job");
    // The restarted server serves them all, counted as they are stored.
    let res = client.post(format!("{}/api/v1/auth/login", server.base)).json(&login).send().await.unwrap();
    let token: String = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().into();
    let listed: Value = client
        .get(format!("{}/api/v1/runs?limit=1", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], stored.len(), "{listed}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
