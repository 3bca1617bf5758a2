//! The forged-token corpus: none of these may be accepted, none may cause a 500.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(forged_tokens_are_refused);

fn b64(value: &Value) -> String {
    B64.encode(value.to_string())
}

/// Replaces one part (0 header, 1 payload, 2 signature) of a JWT.
fn with_part(token: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[index] = part.to_owned();
    parts.join(".")
}

async fn forged_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let real = app.register("quinn").await;
    let claims: Value =
        serde_json::from_slice(&B64.decode(real.access.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let header: Value =
        serde_json::from_slice(&B64.decode(real.access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["sid"], real.session_id.as_str());
    for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "roles"] {
        assert!(claims.get(claim).is_some(), "claim {claim}");
    }

    let key = app.state.keys.active();
    let sign = |header: Header, claims: &Value| jsonwebtoken::encode(&header, claims, &key.encoding).unwrap();
    let ours = |typ: Option<&str>| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.typ = typ.map(str::to_owned);
        h.kid = Some(key.kid.clone());
        h
    };
    let edit = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        c
    };
    let now = app.clock_now();

    // An attacker's own key, offered by reference or inline.
    let attacker = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let attacker_key = EncodingKey::from_ed_der(attacker.to_pkcs8_der().unwrap().as_bytes());
    let attacker_x = B64.encode(attacker.verifying_key().to_bytes());
    let attacker_token = |mutate: &dyn Fn(&mut Header)| {
        let mut h = ours(Some("at+jwt"));
        mutate(&mut h);
        jsonwebtoken::encode(&h, &claims, &attacker_key).unwrap()
    };
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": attacker_x, "kid": key.kid}))
            .unwrap();

    // HS256 "signed" with our public key, the classic key confusion.
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.typ = Some("at+jwt".into());
    hs_header.kid = Some(key.kid.clone());
    let confused_x =
        jsonwebtoken::encode(&hs_header, &claims, &EncodingKey::from_secret(public_x.as_bytes())).unwrap();
    let confused_raw =
        jsonwebtoken::encode(&hs_header, &claims, &EncodingKey::from_secret(&B64.decode(&public_x).unwrap()))
            .unwrap();

    let payload = b64(&claims);
    let mut corpus: Vec<(&str, String)> = vec![
        ("stripped signature", with_part(&real.access, 2, "")),
        ("edited signature", with_part(&real.access, 2, &B64.encode([7u8; 64]))),
        ("edited payload", with_part(&real.access, 1, &b64(&edit("sub", json!("someone-else"))))),
        ("two parts", real.access.rsplit_once('.').unwrap().0.to_owned()),
        ("four parts", format!("{}.x", real.access)),
        ("HS256 with public key (base64)", confused_x),
        ("HS256 with public key (raw)", confused_raw),
        ("unknown kid", attacker_token(&|h| h.kid = Some("not-a-key".into()))),
        ("path traversal kid", attacker_token(&|h| h.kid = Some("../../../../dev/null".into()))),
        ("sql kid", attacker_token(&|h| h.kid = Some("x' OR '1'='1".into()))),
        ("our kid, attacker key", attacker_token(&|_| {})),
        ("jku", attacker_token(&|h| h.jku = Some("http://127.0.0.1:1/jwks.json".into()))),
        ("x5u", attacker_token(&|h| h.x5u = Some("http://127.0.0.1:1/cert.pem".into()))),
        ("embedded jwk", attacker_token(&|h| h.jwk = Some(jwk.clone()))),
        ("typ JWT", sign(ours(Some("JWT")), &claims)),
        ("no typ", sign(ours(None), &claims)),
        ("no kid", sign(Header { kid: None, ..ours(Some("at+jwt")) }, &claims)),
        ("expired", sign(ours(Some("at+jwt")), &edit("exp", json!(now - 60)))),
        ("not yet valid", sign(ours(Some("at+jwt")), &edit("nbf", json!(now + 600)))),
        ("issued in the future", sign(ours(Some("at+jwt")), &edit("iat", json!(now + 600)))),
        ("wrong aud", sign(ours(Some("at+jwt")), &edit("aud", json!("https://other.example")))),
        ("wrong iss", sign(ours(Some("at+jwt")), &edit("iss", json!("https://evil.example")))),
        (
            "unknown session",
            sign(ours(Some("at+jwt")), &edit("sid", json!("0190b2c4-0000-7000-8000-000000000000"))),
        ),
        ("session of someone else", sign(ours(Some("at+jwt")), &edit("sub", json!("another-user")))),
        ("missing sid", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("sid");
            sign(ours(Some("at+jwt")), &c)
        }),
        ("refresh token as access token", real.refresh.clone()),
        ("garbage", "not.a.jwt".into()),
        ("non-base64", "%%%.%%%.%%%".into()),
        ("empty parts", "..".into()),
        ("huge", "a".repeat(64 * 1024)),
    ];
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&json!({"alg": alg, "typ": "at+jwt", "kid": key.kid}));
        corpus.push(("alg none", format!("{header}.{payload}.")));
        corpus.push((
            "alg none with signature",
            format!("{header}.{payload}.{}", real.access.split('.').nth(2).unwrap()),
        ));
    }
    for alg in ["EDDSA", "eddsa", "ES256", "RS256", "HS512"] {
        let header = b64(&json!({"alg": alg, "typ": "at+jwt", "kid": key.kid}));
        corpus
            .push(("alg variant", format!("{header}.{payload}.{}", real.access.split('.').nth(2).unwrap())));
    }

    for (name, token) in &corpus {
        for scheme in ["Bearer", "bearer"] {
            // A fresh connection each: a rejected oversized header closes its connection.
            let res = reqwest::Client::new()
                .get(app.url("/api/v1/auth/verify"))
                .header("authorization", format!("{scheme} {token}"))
                .send()
                .await
                .unwrap();
            let status = res.status();
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "{name}: {status}"
            );
        }
    }
    // Other schemes and malformed headers are refused too.
    for header in ["Basic cXVpbm46eA==", "Bearer", "Bearer ", "Token abc", &real.access] {
        let res = app
            .client
            .get(app.url("/api/v1/auth/verify"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    // A 64 KiB header of any name is answered with 431, not a dropped connection.
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/auth/verify"))
        .header("x-padding", "p".repeat(64 * 1024))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // The genuine token still works after all that.
    assert_eq!(app.get("/api/v1/auth/verify", Some(&real.access)).await.status(), StatusCode::OK);
}
