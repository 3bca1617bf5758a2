//! Errors are problem+json everywhere; every response carries a request id.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(bad_input_gets_problem_json);

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
    assert_problem(
        app.post_json("/api/v1/auth/login", &huge, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

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
