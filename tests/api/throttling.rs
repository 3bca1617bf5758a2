//! Account lockout and the per-IP budget on the credential endpoints.

use hallpass::params;
use hallpass::store::Sql;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, Options, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    accounts_lock_after_repeated_failures,
    concurrent_guesses_cannot_outrun_the_lock,
    many_right_passwords_at_once_all_get_in,
    ip_budget_answers_429,
    forwarded_for_needs_a_trusted_proxy
);

async fn accounts_lock_after_repeated_failures(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default().arg("--login-max-failures", "3")).await;
    app.register("sam").await;
    let unknown = app.login("nobody-here", "whatever it is").await;
    let unknown_body = assert_problem(unknown, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    for attempt in 0..3 {
        let wrong = app.login(if attempt % 2 == 0 { "SAM" } else { "sam" }, "wrong wrong wrong").await;
        let body = assert_problem(wrong, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        assert_eq!(body, unknown_body, "one generic answer");
    }
    // Locked: even the right password gets the same generic 401.
    let locked =
        assert_problem(app.login("sam", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(locked, unknown_body);
    app.clock.advance(61);
    assert_eq!(app.login("sam", PASSWORD).await.status(), StatusCode::OK);

    // The counter was reset by the success; the next lock is again after 3, and
    // grows (two minutes after a fourth failure).
    for _ in 0..4 {
        app.login("sam", "wrong wrong wrong").await;
        app.clock.advance(61);
    }
    assert_eq!(app.login("sam", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    app.clock.advance(60);
    assert_eq!(app.login("sam", PASSWORD).await.status(), StatusCode::OK);
}

async fn ip_budget_answers_429(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options { args: vec!["--auth-rate-per-minute".into(), "5".into()], redis: false, roles: Vec::new() },
    )
    .await;
    for _ in 0..5 {
        assert_eq!(app.login("tina", "whatever it is").await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login("tina", "whatever it is").await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let res = app
        .post_json("/api/v1/auth/register", &json!({"username": "tina", "password": PASSWORD}), None)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The next window opens the budget again.
    app.clock.advance(60);
    assert_eq!(app.login("tina", "whatever it is").await.status(), StatusCode::UNAUTHORIZED);
}

async fn forwarded_for_needs_a_trusted_proxy(backend: Backend) {
    let untrusted = TestApp::spawn_with(
        backend,
        Options { args: vec!["--auth-rate-per-minute".into(), "2".into()], redis: false, roles: Vec::new() },
    )
    .await;
    // Spoofed X-Forwarded-For from an untrusted peer does not buy a new budget.
    for i in 0..3 {
        let res = untrusted
            .client
            .post(untrusted.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"username": "u", "password": "p"}))
            .send()
            .await
            .unwrap();
        let expected = if i < 2 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(res.status(), expected);
    }
    // Behind a trusted proxy, each forwarded client has its own budget.
    let options = Options {
        args: vec![
            "--auth-rate-per-minute".into(),
            "2".into(),
            "--trusted-proxies".into(),
            "127.0.0.1".into(),
        ],
        redis: false,
        roles: Vec::new(),
    };
    let proxied = TestApp::spawn_with(backend, options).await;
    for i in 0..3 {
        let res = proxied
            .client
            .post(proxied.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"username": "u", "password": "p"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn concurrent_guesses_cannot_outrun_the_lock(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default().arg("--login-max-failures", "3")).await;
    let user_id = app.register("walt").await.user_id.unwrap();
    let guesses = (0..20).map(|i| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        tokio::spawn(async move {
            let body = json!({"username": "walt", "password": format!("wrong guess number {i}")});
            client.post(url).json(&body).send().await.unwrap().status()
        })
    });
    for guess in guesses.collect::<Vec<_>>() {
        assert_eq!(guess.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    // Only the three allowed attempts were ever checked; the rest met a locked door.
    let read = Sql::dynamic("SELECT failed_logins FROM users WHERE id = $1");
    let counted: i64 = app.state.db.read_optional(read, params![&user_id]).await.unwrap().unwrap();
    assert_eq!(counted, 3);
    assert_eq!(app.login("walt", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
}

async fn many_right_passwords_at_once_all_get_in(backend: Backend) {
    let app = TestApp::spawn_with(backend, Options::default().arg("--login-max-failures", "3")).await;
    app.register("rita").await;
    let logins = (0..32).map(|_| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        tokio::spawn(async move {
            let body = json!({"username": "rita", "password": PASSWORD});
            client.post(url).json(&body).send().await.unwrap().status()
        })
    });
    for login in logins.collect::<Vec<_>>() {
        assert_eq!(login.await.unwrap(), StatusCode::OK);
    }
    // Nothing was counted against the account, and nothing is left in flight.
    let read =
        Sql::dynamic("SELECT failed_logins, locked_until, login_inflight FROM users WHERE username = 'rita'");
    let row: (i64, Option<i64>, i64) = app.state.db.read_optional(read, &[]).await.unwrap().unwrap();
    assert_eq!(row, (0, None, 0));
    // Wrong guesses afterwards still lock after three.
    for _ in 0..3 {
        assert_eq!(app.login("rita", "a wrong passphrase").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login("rita", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "locked");
}
