//! Share links: they download without credentials, and stop working when they expire,
//! when the file goes, when they are tampered with, or when their creator's account
//! is expired.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::files::{FileWorld, pattern, sha256};
use crate::helpers::{Backend, Storage, assert_problem};
use crate::on_every_store;

on_every_store!(share_links_work_until_they_should_not);

async fn share_links_work_until_they_should_not(backend: Backend, storage: Storage) {
    let w = FileWorld::new(backend, storage).await;
    let bytes = pattern(4096);
    let file = w.uploaded(&w.ops.access, "shared.bin", bytes.clone()).await;
    let id = file["id"].as_str().unwrap();
    let links = format!("/api/v1/files/{id}/links");

    // Owner or files:admin only; the lifetime is bounded.
    let res = w.app.post_json(&links, &json!({}), Some(&w.cli.access)).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let bad_lifetimes = [
        json!({"expires_in": 0}),
        json!({"expires_in": 604801}),
        json!({"expires_in": 1.5}),
        json!({"expires_in": "soon"}),
    ];
    for bad in bad_lifetimes {
        let res = w.app.post_json(&links, &bad, Some(&w.ops.access)).await;
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "expires_in");
    }
    let res = w.app.post_json(&links, &json!({"expires_in": 60.0}), Some(&w.ops.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED, "60.0 is a whole number");
    let res = w
        .app
        .client
        .post(w.app.url(&links))
        .bearer_auth(&w.ops.access)
        .header("content-type", "application/json")
        .body("\r")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    // A POST without a body takes the default hour.
    let res = w.app.client.post(w.app.url(&links)).bearer_auth(&w.ops.access).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let link: Value = res.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    let expected = time::OffsetDateTime::from_unix_timestamp(w.app.clock_now() + 3600).unwrap();
    let expires = time::OffsetDateTime::parse(
        link["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires, expected);
    assert!(url.starts_with(&format!("http://hallpass.test/api/v1/files/{id}/content?link=")), "{url}");
    let local = url.replacen("http://hallpass.test", &w.app.base, 1);

    // No header needed.
    let res = w.app.client.get(&local).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(sha256(&res.bytes().await.unwrap()), sha256(&bytes));
    let res = w.app.client.get(&local).header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);

    // Tampered: another file's id, a changed expiry, a flipped signature.
    let other = w.uploaded(&w.ops.access, "other.bin", pattern(10)).await;
    let forged = local.replacen(id, other["id"].as_str().unwrap(), 1);
    assert_problem(w.app.client.get(&forged).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let (head, token) = local.split_once("link=").unwrap();
    let (expiry, rest) = token.split_once('.').unwrap();
    let later = format!("{head}link={}.{rest}", expiry.parse::<i64>().unwrap() + 86400);
    assert_problem(w.app.client.get(&later).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let flipped = format!("{}{}", &local[..local.len() - 1], if local.ends_with('A') { "B" } else { "A" });
    assert_problem(w.app.client.get(&flipped).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden")
        .await;

    // Expired.
    w.app.clock.advance(3601);
    assert_problem(w.app.client.get(&local).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;

    // A fresh link stops when its creator's account is expired (new sessions: the
    // clock moved past the old access tokens).
    let (ops, root) = (w.app.login_ok("ops").await, w.app.login_ok("root").await);
    let res = w.app.post_json(&links, &json!({"expires_in": 600}), Some(&ops.access)).await;
    let link: Value = res.json().await.unwrap();
    let local = link["url"].as_str().unwrap().replacen("http://hallpass.test", &w.app.base, 1);
    assert_eq!(w.app.client.get(&local).send().await.unwrap().status(), StatusCode::OK);
    let by_admin = w.app.post_json(&links, &json!({"expires_in": 600}), Some(&root.access)).await;
    let by_admin: Value = by_admin.json().await.unwrap();
    let by_admin = by_admin["url"].as_str().unwrap().replacen("http://hallpass.test", &w.app.base, 1);
    let ops_id = w.ops.user_id.clone().unwrap();
    let res = w.app.delete(&format!("/api/v1/users/{ops_id}"), &root.access).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(w.app.client.get(&local).send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;

    // The admin's link lasts until the file is deleted.
    assert_eq!(w.app.client.get(&by_admin).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        w.app.delete(&format!("/api/v1/files/{id}"), &root.access).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(w.app.client.get(&by_admin).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found")
        .await;
}
