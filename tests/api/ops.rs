//! Health, readiness, metrics, the OpenAPI document and JWKS.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(operational_endpoints_answer, openapi_covers_every_route, database_down_is_503);

async fn operational_endpoints_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/healthz", None).await.json::<Value>().await.unwrap()["status"], "ok");
    assert_eq!(app.get("/readyz", None).await.json::<Value>().await.unwrap()["status"], "ready");

    app.register("rita").await;
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"hallpass_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("hallpass_http_request_duration_seconds_bucket"));

    let res = app.get("/.well-known/jwks.json", None).await;
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("max-age"));
    let jwks: Value = res.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert_eq!(key["kid"], app.state.keys.active().kid.as_str());
    assert!(key.get("d").is_none(), "no private part");
}

async fn openapi_covers_every_route(backend: Backend) {
    // Outside identities configured, so that their route is live too.
    let options = crate::helpers::Options::default()
        .arg("--oidc-issuer", "https://idp.test")
        .arg("--oidc-audience", "hallpass")
        .arg("--oidc-jwks-url", "http://127.0.0.1:9/jwks.json");
    let app = TestApp::spawn_with(backend, options).await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/auth/verify"),
        ("get", "/api/v1/auth/sessions"),
        ("delete", "/api/v1/auth/sessions/{id}"),
        ("get", "/api/v1/users/me"),
        ("patch", "/api/v1/users/me"),
        ("delete", "/api/v1/users/me"),
        ("post", "/api/v1/users/me/password"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/.well-known/jwks.json"),
    ];
    for (method, path) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing");
    }
    // And nothing is served that the document does not describe: every documented
    // operation exists (answers something other than 404/405 for its method).
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let url = app.url(&path.replace("{id}", "x"));
            let res = app.client.request(method.to_uppercase().parse().unwrap(), url).send().await.unwrap();
            assert_ne!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if !path.contains("{id}") {
                assert_ne!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
            }
        }
    }
}

async fn database_down_is_503(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("sue").await;
    app.state.db.close().await;
    for res in [app.get("/readyz", None).await, app.login("sue", crate::helpers::PASSWORD).await] {
        assert!(res.headers().contains_key("retry-after"));
        crate::helpers::assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    }
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK, "alive, just not ready");
}
