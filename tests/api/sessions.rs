//! Refresh rotation, reuse detection, logout and the session list.

use hallpass::params;
use hallpass::store::Sql;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, Tokens, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    refresh_rotates_and_keeps_one_successor_in_grace,
    reuse_after_grace_revokes_the_session,
    concurrent_refreshes_yield_one_successor,
    logout_kills_the_access_token_at_once,
    logout_scopes,
    sessions_can_be_listed_and_deleted,
    tokens_and_sessions_expire,
);

async fn refresh_rotates_and_keeps_one_successor_in_grace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("ivy").await;
    let res = app.refresh(&first.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = Tokens::from(res.json::<Value>().await.unwrap());
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(app.get("/api/v1/users/me", Some(&second.access)).await.status(), StatusCode::OK);

    // A retry of the old token inside the grace window gets the same successor.
    app.clock.advance(5);
    let retry = Tokens::from(app.refresh(&first.refresh).await.json::<Value>().await.unwrap());
    assert_eq!(retry.refresh, second.refresh);
    // And the successor keeps rotating normally.
    let third = Tokens::from(app.refresh(&second.refresh).await.json::<Value>().await.unwrap());
    assert_ne!(third.refresh, second.refresh);
}

async fn reuse_after_grace_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("jack").await;
    let second = Tokens::from(app.refresh(&first.refresh).await.json::<Value>().await.unwrap());
    app.clock.advance(11);
    assert_problem(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The whole family is dead, including the live successor and its access token.
    assert_eq!(app.refresh(&second.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/users/me", Some(&second.access)).await.status(), StatusCode::UNAUTHORIZED);
    // Other sessions of the user are untouched.
    let other = app.login_ok("jack").await;
    assert_eq!(app.get("/api/v1/users/me", Some(&other.access)).await.status(), StatusCode::OK);
    // Garbage and unknown tokens are plain 401s.
    for token in ["", "hpr_nope", "hpr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &first.access] {
        assert_eq!(app.refresh(token).await.status(), StatusCode::UNAUTHORIZED, "{token}");
    }
}

async fn concurrent_refreshes_yield_one_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("kate").await;
    let calls = (0..20).map(|_| {
        let (client, url, token) =
            (app.client.clone(), app.url("/api/v1/auth/refresh"), tokens.refresh.clone());
        tokio::spawn(
            async move { client.post(url).json(&json!({"refresh_token": token})).send().await.unwrap() },
        )
    });
    let mut successors = std::collections::HashSet::new();
    for call in calls.collect::<Vec<_>>() {
        let res = call.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        successors.insert(res.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(successors.len(), 1, "{successors:?}");
    let count = Sql::dynamic("SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1");
    let live = app.state.db.count(count, params![&tokens.session_id]).await.unwrap();
    assert_eq!(live, 2, "the first token and exactly one successor");
    let successor = successors.into_iter().next().unwrap();
    assert_eq!(app.refresh(&successor).await.status(), StatusCode::OK);
}

async fn logout_kills_the_access_token_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("liam").await;
    assert_eq!(app.get("/api/v1/auth/verify", Some(&tokens.access)).await.status(), StatusCode::OK);
    let res = app.post_json("/api/v1/auth/logout", &json!({}), Some(&tokens.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("/api/v1/auth/verify", Some(&tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::UNAUTHORIZED);
    // A body is optional.
    let again = app.login_ok("liam").await;
    let res =
        app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&again.access).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/users/me", Some(&again.access)).await.status(), StatusCode::UNAUTHORIZED);
}

async fn logout_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.register("mia").await;
    let b = app.login_ok("mia").await;
    let c = app.login_ok("mia").await;
    let bad = app.post_json("/api/v1/auth/logout", &json!({"scope": "everything"}), Some(&a.access)).await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let res = app.post_json("/api/v1/auth/logout", &json!({"scope": "others"}), Some(&a.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/users/me", Some(&a.access)).await.status(), StatusCode::OK);
    for gone in [&b, &c] {
        assert_eq!(app.get("/api/v1/users/me", Some(&gone.access)).await.status(), StatusCode::UNAUTHORIZED);
    }
    let d = app.login_ok("mia").await;
    let res = app.post_json("/api/v1/auth/logout", &json!({"scope": "all"}), Some(&d.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for gone in [&a, &d] {
        assert_eq!(app.get("/api/v1/users/me", Some(&gone.access)).await.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn sessions_can_be_listed_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.register("noah").await;
    let b = app.login_ok("noah").await;
    let stranger = app.register("olga").await;

    let list: Value = app.get("/api/v1/auth/sessions", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!((list["page"].as_u64(), list["count"].as_u64()), (Some(0), Some(10)));
    let items = list["items"].as_array().unwrap();
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], a.session_id.as_str());
    assert_eq!(items[0]["ip"], "127.0.0.1");

    let page: Value = app
        .get("/api/v1/auth/sessions?count=1&page=1&total=false", Some(&a.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page.get("total").is_none());
    for bad in ["count=0", "count=abc", "page=-1", "count=1001"] {
        let res = app.get(&format!("/api/v1/auth/sessions?{bad}"), Some(&a.access)).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }

    // Someone else's session is not found, and stays alive.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{}", b.session_id)))
        .bearer_auth(&stranger.access)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.get("/api/v1/users/me", Some(&b.access)).await.status(), StatusCode::OK);

    let res = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{}", b.session_id)))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/users/me", Some(&b.access)).await.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/auth/sessions/{}", b.session_id)))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let list: Value = app.get("/api/v1/auth/sessions", Some(&a.access)).await.json().await.unwrap();
    assert_eq!(list["total"], 1);
}

async fn tokens_and_sessions_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("pia").await;
    app.clock.advance(899);
    assert_eq!(app.get("/api/v1/users/me", Some(&tokens.access)).await.status(), StatusCode::OK);
    app.clock.advance(10);
    assert_eq!(app.get("/api/v1/users/me", Some(&tokens.access)).await.status(), StatusCode::UNAUTHORIZED);
    // The refresh token still works until the session idles out (7 days).
    let next = Tokens::from(app.refresh(&tokens.refresh).await.json::<Value>().await.unwrap());
    app.clock.advance(7 * 24 * 3600 + 1);
    assert_eq!(app.refresh(&next.refresh).await.status(), StatusCode::UNAUTHORIZED);
}
