//! The `hallpass` binary itself: help, migrations, the admin CLI, a real `serve`
//! configured from `hallpass.toml`, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, hallpass_binary as hallpass};

#[test]
fn help_lists_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = hallpass(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for name in [
        "HALLPASS_LISTEN",
        "HALLPASS_DATA_DIR",
        "HALLPASS_DATABASE_URL",
        "HALLPASS_REDIS_URL",
        "HALLPASS_ACCESS_TOKEN_TTL",
        "HALLPASS_REFRESH_GRACE",
        "HALLPASS_LOGIN_MAX_FAILURES",
        "HALLPASS_AUTH_RATE_PER_MINUTE",
        "HALLPASS_TRUSTED_PROXIES",
        "HALLPASS_PUBLIC_URL",
        "HALLPASS_OIDC_ISSUER",
        "HALLPASS_FIREBASE_PROJECT_ID",
        "HALLPASS_WEATHER_ARCHIVE_URL",
        "HALLPASS_WEATHER_FORECAST_URL",
        "HALLPASS_WEATHER_REQUIRED",
    ] {
        assert!(help.contains(name), "--help lacks {name}");
    }
    let bad = hallpass(dir.path()).args(["--access-token-ttl", "86400"]).output().unwrap();
    assert!(!bad.status.success(), "a day-long access token is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_then_serve_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hallpass(dir.path()).arg("migrate").status().unwrap().success());

    let create = hallpass(dir.path())
        .args([
            "user",
            "create",
            "--username",
            "root-admin",
            "--role",
            "admin",
            "--email",
            "admin@example.com",
        ])
        .env("HALLPASS_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(create.status.success(), "{}", String::from_utf8_lossy(&create.stderr));
    assert!(String::from_utf8_lossy(&create.stdout).contains("root-admin"));

    // Password from standard input when the variable is unset.
    let mut child = hallpass(dir.path())
        .args(["user", "create", "--username", "helper"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"another fine passphrase\n").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());

    for (args, why) in [
        (vec!["--username", "x1y", "--role", "wizard"], "unknown role"),
        (vec!["--username", "weakling"], "weak password"),
        (vec!["--username", "ROOT-ADMIN"], "taken name"),
    ] {
        let out = hallpass(dir.path())
            .args(["user", "create"])
            .args(args)
            .env("HALLPASS_PASSWORD", if why == "weak password" { "password" } else { PASSWORD })
            .output()
            .unwrap();
        assert!(!out.status.success(), "{why}");
        assert!(!out.stderr.is_empty(), "{why} is explained");
    }

    // Import runs from seed 002's dataset (weather comes later from the server's queue).
    let dataset = dir.path().join("runs.csv");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jogging_dataset.csv"), &dataset)
        .unwrap();
    let out =
        hallpass(dir.path()).args(["import", "runs", "--user", "helper"]).arg(&dataset).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 18 runs"));
    std::fs::write(&dataset, "2015-01-01,32 34,2000,405\n2015-13-01,32 34,2000,405\n").unwrap();
    let out =
        hallpass(dir.path()).args(["import", "runs", "--user", "helper"]).arg(&dataset).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hallpass(dir.path())
        .args(["import", "runs", "--user", "nobody-here"])
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(!out.status.success());

    // Serve, with the listen address from hallpass.toml.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("hallpass.toml"),
        format!("listen = \"127.0.0.1:{port}\"\nrefresh_grace = 5\n"),
    )
    .unwrap();
    let mut server = hallpass(dir.path()).stderr(Stdio::piped()).spawn().unwrap();
    let mut logs = BufReader::new(server.stderr.take().unwrap()).lines();
    let listening = logs.by_ref().map_while(Result::ok).find(|line| line.contains("hallpass is listening"));
    assert!(listening.as_ref().is_some_and(|l| l.contains(&port.to_string())));

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "Root-Admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(&token).send();
    let me: Value = get("/api/v1/users/me").await.unwrap().json().await.unwrap();
    assert_eq!(me["roles"], json!(["admin"]));
    let runs: Value = get("/api/v1/runs").await.unwrap().json().await.unwrap();
    assert_eq!(runs["total"], 18, "an admin sees the imported runs");

    let killed = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
    let rest: Vec<String> = logs.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
    assert!(!rest.iter().chain(listening.iter()).any(|l| l.contains(PASSWORD)), "no secrets in logs");
}
