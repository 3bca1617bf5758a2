//! Several nodes sharing one database and Redis (run when HALLPASS_TEST_REDIS_URL is set).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, Options, TestApp, redis_url};

async fn two_nodes(backend: Backend, options: Options) -> Option<(TestApp, TestApp)> {
    redis_url()?;
    if backend == Backend::Postgres && crate::helpers::postgres_url().is_none() {
        return None;
    }
    let a = TestApp::spawn_with(backend, options.with_redis()).await;
    let b = a.another_node().await;
    Some((a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_node_is_felt_on_every_node() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some((a, b)) = two_nodes(backend, Options::default()).await else {
            continue;
        };
        let tokens = a.register("uma").await;
        // Warm node B's caches, then log out on node A.
        assert_eq!(b.get("/api/v1/users/me", Some(&tokens.access)).await.status(), StatusCode::OK);
        assert_eq!(b.get("/api/v1/users/me", Some(&tokens.access)).await.status(), StatusCode::OK);
        let res = a.post_json("/api/v1/auth/logout", &json!({}), Some(&tokens.access)).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        // The invalidation travels through Redis; allow it a moment to arrive.
        let mut status = StatusCode::OK;
        for _ in 0..200 {
            status = b.get("/api/v1/users/me", Some(&tokens.access)).await.status();
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_one_ip_budget() {
    let options =
        Options { args: vec!["--auth-rate-per-minute".into(), "4".into()], redis: false, roles: Vec::new() };
    let Some((a, b)) = two_nodes(Backend::Sqlite, options).await else {
        return;
    };
    // Align to the start of a window so the four calls share one.
    let now = a.clock_now();
    a.clock.advance(60 - now.rem_euclid(60));
    for node in [&a, &b, &a, &b] {
        assert_eq!(node.login("vic", "whatever it is").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(a.login("vic", "whatever it is").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b.login("vic", "whatever it is").await.status(), StatusCode::TOO_MANY_REQUESTS);
}
