//! Outside identities (Firebase-style OIDC ID tokens) against a stand-in provider.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::idp::{AUDIENCE, ISSUER, Idp};
use crate::on_both_backends;

on_both_backends!(
    outside_identity_links_and_acts_with_local_roles,
    forged_outside_tokens_are_refused,
    unknown_kids_refetch_at_most_once_a_minute,
    jwks_outage_keeps_warm_cache_and_fails_cold_with_503,
);

async fn outside_identity_links_and_acts_with_local_roles(backend: Backend) {
    let idp = Idp::start().await;
    let app = TestApp::spawn_with(backend, idp.options()).await;
    let token = idp.token("firebase-uid-1", app.clock_now());
    // Not linked yet: no access anywhere.
    assert_problem(
        app.get("/api/v1/users/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    let res = app.post_json("/api/v1/auth/external", &json!({"username": "outsider"}), Some(&token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["email"], "firebase-uid-1@idp.example", "taken from the ID token");

    let again = app.post_json("/api/v1/auth/external", &json!({"username": "outsider2"}), Some(&token)).await;
    assert_problem(again, StatusCode::CONFLICT, "already_linked").await;
    let other = idp.token("firebase-uid-2", app.clock_now());
    let taken = app.post_json("/api/v1/auth/external", &json!({"username": "OUTSIDER"}), Some(&other)).await;
    assert_problem(taken, StatusCode::CONFLICT, "username_taken").await;

    let me: Value = app.get("/api/v1/users/me", Some(&token)).await.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    let verify: Value = app.get("/api/v1/auth/verify", Some(&token)).await.json().await.unwrap();
    assert_eq!(verify["session_id"], Value::Null);
    // No password, so no password login; and no session to manage.
    assert_eq!(app.login("outsider", "anything at all here").await.status(), StatusCode::UNAUTHORIZED);
    let res = app.post_json("/api/v1/auth/logout", &json!({}), Some(&token)).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // ES256 tokens from the same provider work too.
    let es = idp.sign(Algorithm::ES256, "ec-1", &Idp::claims("firebase-uid-1", app.clock_now()));
    assert_eq!(app.get("/api/v1/users/me", Some(&es)).await.status(), StatusCode::OK);
    // Without a configured provider, the route does not exist.
    let plain = TestApp::spawn(backend).await;
    let res = plain.post_json("/api/v1/auth/external", &json!({"username": "x"}), Some(&token)).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn forged_outside_tokens_are_refused(backend: Backend) {
    let idp = Idp::start().await;
    let app = TestApp::spawn_with(backend, idp.options()).await;
    let now = app.clock_now();
    let good = idp.token("subject-9", now);
    assert_eq!(
        app.post_json("/api/v1/auth/external", &json!({"username": "nine"}), Some(&good)).await.status(),
        StatusCode::CREATED
    );

    let with = |field: &str, value: Value| {
        let mut claims = Idp::claims("subject-9", now);
        claims[field] = value;
        idp.sign(Algorithm::RS256, "rsa-1", &claims)
    };
    let jwks: Value = reqwest::get(&idp.jwks_url).await.unwrap().json().await.unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let confused =
        jsonwebtoken::encode(&hs, &Idp::claims("subject-9", now), &EncodingKey::from_secret(n.as_bytes()))
            .unwrap();
    let none_header = B64.encode(json!({"alg": "none", "kid": "rsa-1"}).to_string());
    let payload = good.split('.').nth(1).unwrap();
    let cases = [
        ("wrong aud", with("aud", json!("someone-else"))),
        ("wrong aud list", with("aud", json!(["a", "b"]))),
        ("wrong iss", with("iss", json!("https://evil.example"))),
        ("expired", with("exp", json!(now - 60))),
        ("issued in the future", with("iat", json!(now + 600))),
        ("not yet valid", with("nbf", json!(now + 600))),
        ("empty sub", with("sub", json!(""))),
        ("unknown kid", idp.sign(Algorithm::RS256, "rsa-unknown", &Idp::claims("subject-9", now))),
        ("ES256 kid with RS256 alg", idp.sign(Algorithm::RS256, "ec-1", &Idp::claims("subject-9", now))),
        ("alg none", format!("{none_header}.{payload}.")),
        ("HS256 with the public key", confused),
        ("stripped signature", format!("{}.{}.", good.split('.').next().unwrap(), payload)),
    ];
    for (name, token) in cases {
        let res = app.get("/api/v1/users/me", Some(&token)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    assert_eq!(app.get("/api/v1/users/me", Some(&good)).await.status(), StatusCode::OK);
    let _ = (ISSUER, AUDIENCE);
}

async fn unknown_kids_refetch_at_most_once_a_minute(backend: Backend) {
    let idp = Idp::start().await;
    let app = TestApp::spawn_with(backend, idp.options()).await;
    let now = app.clock_now();
    assert_eq!(
        app.post_json("/api/v1/auth/external", &json!({"username": "kidtest"}), Some(&idp.token("s1", now)))
            .await
            .status(),
        StatusCode::CREATED
    );
    let before = idp.fetches();
    assert!(before >= 1);
    let flood = (0..30).map(|i| {
        let token = idp.sign(Algorithm::RS256, &format!("attacker-{i}"), &Idp::claims("s1", now));
        let (client, url) = (app.client.clone(), app.url("/api/v1/users/me"));
        tokio::spawn(async move { client.get(url).bearer_auth(token).send().await.unwrap().status() })
    });
    for call in flood.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert!(idp.fetches() - before <= 1, "{} fetches for a flood of unknown kids", idp.fetches() - before);

    // A genuine rotation is picked up once the minute has passed.
    idp.publish_rsa_as("rsa-2");
    let rotated = idp.sign(Algorithm::RS256, "rsa-2", &Idp::claims("s1", now));
    app.clock.advance(61);
    let rotated_now = idp.sign(Algorithm::RS256, "rsa-2", &Idp::claims("s1", app.clock_now()));
    assert_eq!(app.get("/api/v1/users/me", Some(&rotated_now)).await.status(), StatusCode::OK);
    drop(rotated);
}

async fn jwks_outage_keeps_warm_cache_and_fails_cold_with_503(backend: Backend) {
    let idp = Idp::start().await;
    let warm = TestApp::spawn_with(backend, idp.options()).await;
    let token = idp.token("s2", warm.clock_now());
    assert_eq!(
        warm.post_json("/api/v1/auth/external", &json!({"username": "warm"}), Some(&token)).await.status(),
        StatusCode::CREATED
    );
    idp.set_down(true);
    // Past max-age: the refetch fails, the keys in hand keep working.
    warm.clock.advance(400);
    let later = idp.token("s2", warm.clock_now());
    assert_eq!(warm.get("/api/v1/users/me", Some(&later)).await.status(), StatusCode::OK);

    let cold = TestApp::spawn_with(backend, idp.options()).await;
    let res = cold.get("/api/v1/users/me", Some(&idp.token("s2", cold.clock_now()))).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    // And it recovers without a restart once the provider is back.
    idp.set_down(false);
    cold.clock.advance(6);
    let res = cold
        .post_json(
            "/api/v1/auth/external",
            &json!({"username": "cold"}),
            Some(&idp.token("s3", cold.clock_now())),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
