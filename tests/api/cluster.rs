//! Several nodes sharing one database and Redis (HALLPASS_TEST_REDIS_URL).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, Options, TestApp};
use crate::with_redis_on_both_backends;

with_redis_on_both_backends!(logout_on_one_node_is_felt_on_every_node, nodes_share_one_ip_budget);

async fn two_nodes(backend: Backend, options: Options) -> (TestApp, TestApp) {
    let a = TestApp::spawn_with(backend, options.with_redis()).await;
    let b = a.another_node().await;
    (a, b)
}

async fn logout_on_one_node_is_felt_on_every_node(backend: Backend) {
    {
        let (a, b) = two_nodes(backend, Options::default()).await;
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

async fn nodes_share_one_ip_budget(backend: Backend) {
    let options =
        Options { args: vec!["--auth-rate-per-minute".into(), "4".into()], redis: false, roles: Vec::new() };
    let (a, b) = two_nodes(backend, options).await;
    // Align to the start of a window so the four calls share one.
    let now = a.clock_now();
    a.clock.advance(60 - now.rem_euclid(60));
    for node in [&a, &b, &a, &b] {
        assert_eq!(node.login("vic", "whatever it is").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(a.login("vic", "whatever it is").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b.login("vic", "whatever it is").await.status(), StatusCode::TOO_MANY_REQUESTS);
}
