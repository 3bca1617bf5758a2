//! What an upload must never leave behind: a limit passed, a quota raced for, a
//! connection cut mid-way, a malformed body — and the sweep for what a crash leaves.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::files::{FileWorld, pattern, sha256};
use crate::helpers::{Backend, Options, Storage, assert_problem};
use crate::on_every_store;

on_every_store!(
    limit_plus_one_byte_is_refused_and_leaves_nothing,
    quota_holds_under_concurrent_uploads,
    a_cut_connection_leaves_nothing,
    bad_uploads_are_refused_plainly,
    the_sweep_removes_only_orphans,
);

const LIMIT: usize = 1 << 20;

async fn limited(backend: Backend, storage: Storage, quota: usize) -> FileWorld {
    let options = Options::default()
        .arg("--max-upload-bytes", &LIMIT.to_string())
        .arg("--user-quota-bytes", &quota.to_string());
    FileWorld::with(backend, storage, options).await
}

/// Polls `done` for up to 10 s: the server finishes an aborted upload on its own time.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn limit_plus_one_byte_is_refused_and_leaves_nothing(backend: Backend, storage: Storage) {
    let w = limited(backend, storage, 10 * LIMIT).await;
    // Known length: refused before a byte is read.
    let res = w.upload_raw(&w.ops.access, "big.bin", "application/octet-stream", pattern(LIMIT + 1)).await;
    let problem = assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(problem["detail"].as_str().unwrap().contains(&LIMIT.to_string()));
    // Unknown length (chunked): refused once the stream passes the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        pattern(LIMIT + 1).chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let url = w.app.url("/api/v1/files?name=big.bin");
    let res = w.app.client.post(url).bearer_auth(&w.ops.access).body(body).send().await.unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Multipart, one byte over.
    let res = w.upload_form(&w.ops.access, "file", "big.bin", pattern(LIMIT + 1)).await;
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    eventually("no bytes are left", || w.leftovers().is_empty()).await;
    assert_eq!(w.counts(&w.ops.access).await, (0, 0, 0));
    // Exactly the limit fits.
    let file = w.uploaded(&w.ops.access, "max.bin", pattern(LIMIT)).await;
    assert_eq!(file["size"], LIMIT);
}

async fn quota_holds_under_concurrent_uploads(backend: Backend, storage: Storage) {
    let quota = LIMIT + LIMIT / 2;
    let w = limited(backend, storage, quota).await;
    // Two uploads race for the last free bytes: one lands.
    let (a, b) = tokio::join!(
        w.upload_raw(&w.ops.access, "a.bin", "application/octet-stream", pattern(LIMIT)),
        w.upload_raw(&w.ops.access, "b.bin", "application/octet-stream", pattern(LIMIT)),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::PAYLOAD_TOO_LARGE]);
    let refused = if a.status() == StatusCode::CREATED { b } else { a };
    let problem = assert_problem(refused, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    assert!(problem["detail"].as_str().unwrap().contains(&quota.to_string()), "{problem}");
    eventually("the loser's bytes are gone", || w.leftovers().len() == 1).await;
    assert_eq!(w.counts(&w.ops.access).await, (1, LIMIT as u64, 1));
    // What is left is usable, and no more.
    let usage: Value = w.app.get("/api/v1/files/usage", Some(&w.ops.access)).await.json().await.unwrap();
    assert_eq!(usage["quota_bytes"], quota);
    w.uploaded(&w.ops.access, "c.bin", pattern(LIMIT / 2)).await;
    let res = w.upload_raw(&w.ops.access, "d.bin", "application/octet-stream", vec![1]).await;
    let problem = assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    assert!(problem["detail"].as_str().unwrap().contains(&format!("{quota} of {quota}")), "{problem}");
    // Another owner has a quota of their own.
    w.uploaded(&w.ops2.access, "e.bin", pattern(LIMIT)).await;
}

async fn a_cut_connection_leaves_nothing(backend: Backend, storage: Storage) {
    let w = FileWorld::new(backend, storage).await;
    let addr = w.app.base.trim_start_matches("http://").to_owned();
    let boundary = "cutcutcut";
    for multipart in [false, true] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (content_type, path) = if multipart {
            (format!("multipart/form-data; boundary={boundary}"), "/api/v1/files")
        } else {
            ("application/octet-stream".to_owned(), "/api/v1/files?name=cut.bin")
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            w.ops.access,
            50 << 20
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        if multipart {
            let part = format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n"
            );
            stream.write_all(part.as_bytes()).await.unwrap();
        }
        // Enough to start the object (an S3 multipart upload, a local staging file).
        stream.write_all(&pattern(2 << 20)).await.unwrap();
        eventually("the upload has begun in storage", || !w.leftovers().is_empty()).await;
        drop(stream);
        eventually("the cut upload is gone from storage", || w.leftovers().is_empty()).await;
    }
    assert_eq!(w.counts(&w.ops.access).await, (0, 0, 0));
}

async fn bad_uploads_are_refused_plainly(backend: Backend, storage: Storage) {
    let w = FileWorld::new(backend, storage).await;
    let url = w.app.url("/api/v1/files");
    let send = |content_type: &'static str, body: &'static str| {
        w.app
            .client
            .post(&url)
            .bearer_auth(&w.ops.access)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let res = send("multipart/form-data; boundary=xyz", "--xyz\r\nthis is not a part header\r\n\r\n")
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "malformed_multipart").await;
    let res = send("multipart/form-data", "--x--").await.unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "malformed_multipart").await;
    let no_file = "--xyz\r\ncontent-disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--xyz--\r\n";
    let res = send("multipart/form-data; boundary=xyz", no_file).await.unwrap();
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "file");
    // The parser holds what comes before the file in memory: that is bounded.
    let padding =
        format!("--xyz\r\ncontent-disposition: form-data; name=\"pad\"\r\n\r\n{}\r\n", "p".repeat(100_000));
    let form = format!(
        "{padding}--xyz\r\ncontent-disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nA\r\n--xyz--\r\n"
    );
    let req = w
        .app
        .client
        .post(&url)
        .bearer_auth(&w.ops.access)
        .header("content-type", "multipart/form-data; boundary=xyz");
    let problem = assert_problem(
        req.body(form).send().await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("before its file"), "{problem}");
    let res = send("text/plain", "no name").await.unwrap();
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "name");
    // Only operators and admins upload.
    let res = w.upload_raw(&w.cli.access, "x.txt", "text/plain", b"x".to_vec()).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = w.app.client.post(w.app.url("/api/v1/files?name=x")).body("x").send().await.unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // An empty file is a file.
    let empty = w.uploaded(&w.ops.access, "empty", Vec::new()).await;
    assert_eq!(empty["size"], 0);
    let res = w.content(empty["id"].as_str().unwrap(), &w.cli.access, &[]).await;
    assert_eq!((res.status(), res.bytes().await.unwrap().len()), (StatusCode::OK, 0));
    assert_eq!(w.leftovers().len(), 1);
    assert_eq!(w.counts(&w.ops.access).await, (1, 0, 1));
}

async fn the_sweep_removes_only_orphans(backend: Backend, storage: Storage) {
    let w = FileWorld::new(backend, storage).await;
    let kept = w.uploaded(&w.ops.access, "kept.bin", pattern(5000)).await;
    // Bytes stored with no row, as a crash between storing and recording leaves them.
    let files = &w.app.state.files;
    let orphan = hallpass::files::storage::Storage::new_key();
    let mut writer = files.storage.writer(&orphan).await.unwrap();
    writer.write(b"orphan bytes");
    writer.finish().await.unwrap();
    if let Some(root) = files.storage.local_root() {
        // A local upload a crash cut off: the store's own staging file.
        std::fs::create_dir_all(root.join("objects/zz")).unwrap();
        std::fs::write(root.join("objects/zz/0123456789abcdef0123456789abcdef#7"), b"partial").unwrap();
    }
    let before = w.leftovers().len();
    assert!(before >= 2);
    // Young leftovers may be uploads in progress: left alone.
    let removed =
        hallpass::files::sweep::sweep(&w.app.state.db, &files.storage, w.app.clock_now(), Duration::ZERO)
            .await
            .unwrap();
    assert_eq!((removed, w.leftovers().len()), (0, before));
    w.app.clock.advance(2 * 3600);
    let removed =
        hallpass::files::sweep::sweep(&w.app.state.db, &files.storage, w.app.clock_now(), Duration::ZERO)
            .await
            .unwrap();
    assert_eq!(removed as usize, before - 1);
    assert_eq!(w.leftovers().len(), 1);
    let cli = w.app.login_ok("cli").await;
    let res = w.content(kept["id"].as_str().unwrap(), &cli.access, &[]).await;
    assert_eq!(sha256(&res.bytes().await.unwrap()), sha256(&pattern(5000)));
}

crate::on_both_backends!(an_unreachable_bucket_is_a_503_and_records_nothing);

async fn an_unreachable_bucket_is_a_503_and_records_nothing(backend: Backend) {
    let mut w = FileWorld::new(backend, Storage::S3).await;
    let kept = w.uploaded(&w.ops.access, "kept.bin", pattern(100)).await;
    assert_eq!(w.app.get("/readyz", None).await.status(), StatusCode::OK);
    drop(w.s3.take());
    let res = w.app.get("/readyz", None).await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let res = w.upload_raw(&w.ops.access, "lost.bin", "application/octet-stream", pattern(100)).await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let res = w.content(kept["id"].as_str().unwrap(), &w.cli.access, &[]).await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    assert_eq!(w.counts(&w.ops.access).await, (1, 100, 1), "the failed upload left no row");
}
