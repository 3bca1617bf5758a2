//! Errors are problem+json everywhere; every response carries a request id.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    bad_input_gets_problem_json,
    every_invalid_field_is_named,
    hostile_text_never_causes_a_500,
    responses_are_not_cached
);

async fn bad_input_gets_problem_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app.url("/api/v1/auth/login");
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app.client.post(login.clone()).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    assert_problem(
        send("{\"username\": ", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert_problem(
        send("", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert_problem(
        send("{} trailing", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert_problem(
        send("[1,2]", Some("application/json")).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        send("username=x", Some("text/plain")).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        send("username=x", None).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let huge = json!({"username": "x", "password": "y".repeat(200 * 1024)});
    // The server answers 413 without reading the rest and closes the connection: use a
    // connection of its own, so the shared pool does not reuse a closing one.
    let oversized =
        reqwest::Client::new().post(app.url("/api/v1/auth/login")).json(&huge).send().await.unwrap();
    assert_problem(oversized, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    assert_problem(app.get("/api/v1/nothing-here", None).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(
        app.get("/api/v1/auth/login", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let res = app.client.put(app.url("/api/v1/auth/sessions/abc")).send().await.unwrap();
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    // Every response, good or bad, has a request id; a caller's own id is kept.
    for res in [app.get("/healthz", None).await, app.get("/nope", None).await] {
        assert!(res.headers().get("x-request-id").is_some_and(|v| !v.is_empty()));
    }
    let res =
        app.client.get(app.url("/healthz")).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
}

async fn every_invalid_field_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("vera").await;
    let fields = |problem: &serde_json::Value| {
        let mut named: Vec<String> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        named.sort();
        named
    };
    // Wrong types, a missing field and an unknown one, all in one body.
    let body = json!({"date": 20160501, "distance": "far", "location": "60 24", "colour": "red"});
    let res = app.post_json("/api/v1/runs", &body, Some(&tokens.access)).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&problem), ["colour", "date", "distance", "time"], "{problem}");
    // Each is named once, with what is wrong with it.
    assert!(problem["errors"].as_array().unwrap().iter().all(|e| !e["message"].as_str().unwrap().is_empty()));
    // Several missing fields are all named, even before any wrong one.
    let res = app.post_json("/api/v1/auth/register", &json!({"email": 5}), None).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&problem), ["email", "password", "username"], "{problem}");
    // Values that pass the types but not the rules are named together too.
    let body = json!({"date": "2016-13-01", "distance": -1, "time": 0, "location": "91 0"});
    let res = app.post_json("/api/v1/runs", &body, Some(&tokens.access)).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&problem), ["date", "distance", "location", "time"], "{problem}");
    // A path segment that is not UTF-8 is our problem document, not the framework's text.
    let res = app.get("/api/v1/runs/%FF", Some(&tokens.access)).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path").await;
}

async fn hostile_text_never_causes_a_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("nina").await;
    // NUL and friends: PostgreSQL cannot store them, SQLite can; neither may 500.
    let login = app
        .post_json("/api/v1/auth/login", &json!({"username": "ni\u{0}na", "password": "x y z w v"}), None)
        .await;
    assert_problem(login, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let form = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .body("username=a%00b&password=c")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNAUTHORIZED);
    let long = app.login(&"x".repeat(10_000), "whatever it is").await;
    assert_eq!(long.status(), StatusCode::UNAUTHORIZED);
    for path in
        ["/api/v1/auth/sessions/%00", "/api/v1/tokens/%00", "/api/v1/users/%00", "/api/v1/users/%F0%9F%A6%80"]
    {
        let res = app.client.delete(app.url(path)).bearer_auth(&tokens.access).send().await.unwrap();
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    for body in [json!({"name": "a\u{0}b"}), json!({"email": "a\u{0}@example.com"})] {
        let res = app.patch_json("/api/v1/users/me", &body, &tokens.access).await;
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"].as_array().unwrap().len(), 1, "{problem}");
    }
    // Inside JSON a NUL is only an escape: it is stored and comes back as it went in.
    let res = app.patch_json("/api/v1/users/me", &json!({"profile": {"k": "\u{0}"}}), &tokens.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: serde_json::Value = app.get("/api/v1/users/me", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!(me["profile"]["k"], "\u{0}");
    let res = app.post_json("/api/v1/tokens", &json!({"name": "t\u{0}"}), Some(&tokens.access)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .client
        .request(reqwest::Method::from_bytes(b"BREW").unwrap(), app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"method="OTHER""#) && !metrics.contains("BREW"),
        "odd methods share one label"
    );
}

async fn responses_are_not_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "otto", "password": crate::helpers::PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = app.login("otto", crate::helpers::PASSWORD).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = app.get("/.well-known/jwks.json", None).await;
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("max-age"));
}
