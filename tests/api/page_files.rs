//! `/files` over HTTP: an operator uploads through the form (its token checked before
//! a byte is stored), another user downloads through the page, owners delete and
//! share.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::files::FileWorld;
use crate::helpers::{Backend, Storage};
use crate::on_both_backends;
use crate::pages::{page, page_token, post_form, signed_in};

on_both_backends!(operators_upload_through_the_page_and_others_download);

async fn upload(w: &FileWorld, cookie: &str, token: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = Form::new()
        .text("csrf_token", token.to_owned())
        .part("file", Part::bytes(bytes).file_name(name.to_owned()));
    w.app.client.post(w.app.url("/files")).header("cookie", cookie).multipart(form).send().await.unwrap()
}

async fn operators_upload_through_the_page_and_others_download(backend: Backend) {
    let w = FileWorld::new(backend, Storage::Local).await;
    let ops = signed_in(&w.app, "ops").await;
    let token = page_token(&w.app, &ops).await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();

    // A forged form stores nothing, not even bytes awaiting a row.
    let res = upload(&w, &ops, "forged", "report.bin", bytes.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(w.leftovers().is_empty(), "{:?}", w.leftovers());

    let res = upload(&w, &ops, &token, "report.bin", bytes.clone()).await;
    let status = res.status();
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(page(&w.app, &location, &ops).await.text().await.unwrap().contains("Uploaded report.bin."));
    let listed: Value = w.app.get("/api/v1/files", Some(&w.cli.access)).await.json().await.unwrap();
    let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["items"][0]["size"], 200_000);

    // A plain user sees it, downloads it through the page, and has no upload form.
    let cli = signed_in(&w.app, "cli").await;
    let html = page(&w.app, "/files", &cli).await.text().await.unwrap();
    assert!(html.contains(&format!("href=\"/files/{id}/download\"")) && !html.contains("id=\"upload-file\""));
    assert!(!html.contains(&format!("/files/{id}/delete")), "not theirs to delete");
    let res = page(&w.app, &format!("/files/{id}/download"), &cli).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
    let cli_token = page_token(&w.app, &cli).await;
    assert_eq!(upload(&w, &cli, &cli_token, "mine.bin", vec![1]).await.status(), StatusCode::FORBIDDEN);
    let res = post_form(&w.app, &format!("/files/{id}/delete"), &cli, &[("csrf_token", &cli_token)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(page(&w.app, "/files/nope/download", &cli).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(page(&w.app, &format!("/files/{id}/download"), "").await.status(), StatusCode::SEE_OTHER);

    // The owner shares it: the link works without credentials.
    let res =
        post_form(&w.app, &format!("/files/{id}/share"), &ops, &[("csrf_token", &token), ("hours", "24")])
            .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let url =
        html.split("id=\"share-link\">").nth(1).unwrap().split('<').next().unwrap().replace("&amp;", "&");
    let (_, path) = url.split_once("/api/").expect("a link into the API");
    let shared = w.app.client.get(w.app.url(&format!("/api/{path}"))).send().await.unwrap();
    assert_eq!(shared.status(), StatusCode::OK);
    assert_eq!(shared.bytes().await.unwrap().len(), 200_000);

    // The owner deletes it: the row and the bytes go.
    let res = post_form(&w.app, &format!("/files/{id}/delete"), &ops, &[("csrf_token", &token)]).await;
    assert_eq!(res.headers()["location"], "/files?deleted=1");
    assert_eq!(
        w.app.get(&format!("/api/v1/files/{id}"), Some(&w.cli.access)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(w.leftovers().is_empty(), "{:?}", w.leftovers());
}
