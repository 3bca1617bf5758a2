//! Files: the round trip, ranges and validators, hostile names, who may delete —
//! on both databases and on both kinds of storage.

use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, Options, Storage, TestApp, Tokens, assert_problem, files_under};
use crate::on_every_store;
use crate::s3_stub::S3Stub;

on_every_store!(
    round_trip_ranges_and_validators,
    hostile_names_are_stored_and_served_safely,
    only_owners_and_admins_delete
);

/// A server with an operator (`ops`), a second operator (`ops2`), a plain user
/// (`cli`) and an admin (`root`), storing files locally or in the S3 stub.
pub struct FileWorld {
    pub app: TestApp,
    pub s3: Option<S3Stub>,
    pub ops: Tokens,
    pub ops2: Tokens,
    pub cli: Tokens,
    pub root: Tokens,
}

impl FileWorld {
    pub async fn new(backend: Backend, storage: Storage) -> Self {
        Self::with(backend, storage, Options::default()).await
    }

    pub async fn with(backend: Backend, storage: Storage, mut options: Options) -> Self {
        let s3 = match storage {
            Storage::Local => None,
            Storage::S3 => Some(S3Stub::start().await),
        };
        if let Some(s3) = &s3 {
            options.args.extend(s3.args());
        }
        let app = TestApp::spawn_with(backend, options).await;
        let mut users = Vec::new();
        for (name, role) in [("ops", "operator"), ("ops2", "operator"), ("cli", "user"), ("root", "admin")] {
            let tokens = app.register(name).await;
            app.grant_roles(tokens.user_id.as_deref().unwrap(), &[role]).await;
            users.push(tokens);
        }
        let [ops, ops2, cli, root] = <[Tokens; 4]>::try_from(users).ok().unwrap();
        Self { app, s3, ops, ops2, cli, root }
    }

    /// Regular files holding stored bytes or unfinished uploads.
    pub fn leftovers(&self) -> Vec<std::path::PathBuf> {
        match &self.s3 {
            Some(s3) => s3.leftovers(),
            None => files_under(&self.app.data_dir().join("files")),
        }
    }

    /// A multipart upload of `bytes` as `filename` in the form field `field`.
    pub async fn upload_form(&self, token: &str, field: &str, filename: &str, bytes: Vec<u8>) -> Response {
        let form = Form::new()
            .text("note", "ignored")
            .part(field.to_owned(), Part::bytes(bytes).file_name(filename.to_owned()));
        let url = self.app.url("/api/v1/files");
        self.app.client.post(url).bearer_auth(token).multipart(form).send().await.expect("upload")
    }

    /// A raw upload (`curl --data-binary`), the name in `?name=`.
    pub async fn upload_raw(&self, token: &str, name: &str, content_type: &str, bytes: Vec<u8>) -> Response {
        let url = self.app.url("/api/v1/files");
        let req = self.app.client.post(url).query(&[("name", name)]).bearer_auth(token);
        req.header("content-type", content_type).body(bytes).send().await.expect("upload")
    }

    /// Uploads and returns the new file's description.
    pub async fn uploaded(&self, token: &str, name: &str, bytes: Vec<u8>) -> Value {
        let res = self.upload_raw(token, name, "application/octet-stream", bytes).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    pub async fn content(&self, id: &str, token: &str, headers: &[(&str, &str)]) -> Response {
        let mut req =
            self.app.client.get(self.app.url(&format!("/api/v1/files/{id}/content"))).bearer_auth(token);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.expect("download")
    }

    /// `(total, used_bytes, files)` as the API reports them for `token`'s owner.
    pub async fn counts(&self, token: &str) -> (u64, u64, u64) {
        let list: Value = self.app.get("/api/v1/files", Some(token)).await.json().await.unwrap();
        let usage: Value = self.app.get("/api/v1/files/usage", Some(token)).await.json().await.unwrap();
        (
            list["total"].as_u64().unwrap(),
            usage["used_bytes"].as_u64().unwrap(),
            usage["files"].as_u64().unwrap(),
        )
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Bytes that are not all the same, so that a wrong range shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn header<'a>(res: &'a Response, name: &str) -> &'a str {
    res.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

async fn round_trip_ranges_and_validators(backend: Backend, storage: Storage) {
    let w = FileWorld::new(backend, storage).await;
    // Seed 003's field name, a multi-part-sized body (more than one S3 part).
    let bytes = pattern(6 * 1024 * 1024 + 123);
    let res = w.upload_form(&w.ops.access, "request_file", "report.pdf", bytes.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let file: Value = res.json().await.unwrap();
    assert_eq!(file["name"], "report.pdf");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["sha256"], sha256(&bytes));
    assert_eq!(file["owner"]["username"], "ops");
    assert_eq!(file["owner"]["id"], w.ops.user_id.clone().unwrap());
    let id = file["id"].as_str().unwrap();

    // Another user downloads it whole, with every header a download needs.
    let res = w.content(id, &w.cli.access, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "application/pdf");
    assert_eq!(header(&res, "content-length"), bytes.len().to_string());
    assert_eq!(
        header(&res, "content-disposition"),
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    );
    let etag = header(&res, "etag").to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256(&bytes)));
    assert!(!header(&res, "last-modified").is_empty());
    assert_eq!(header(&res, "accept-ranges"), "bytes");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    assert_eq!(header(&res, "cache-control"), "private");
    assert_eq!(sha256(&res.bytes().await.unwrap()), sha256(&bytes));

    // One range; an open-ended one; a suffix; one past the end.
    let res = w.content(id, &w.cli.access, &[("range", "bytes=100-199")]).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&res, "content-range"), format!("bytes 100-199/{}", bytes.len()));
    assert_eq!(res.bytes().await.unwrap(), bytes[100..200]);
    let res = w.content(id, &w.cli.access, &[("range", "bytes=0-10,5-15")]).await;
    assert_eq!(res.status(), StatusCode::OK, "overlapping ranges: the whole file");
    let res = w.content(id, &w.cli.access, &[("range", "bytes=-10")]).await;
    assert_eq!(res.bytes().await.unwrap(), bytes[bytes.len() - 10..]);
    let past = format!("bytes={}-", bytes.len());
    let res = w.content(id, &w.cli.access, &[("range", past.as_str())]).await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&res, "content-range"), format!("bytes */{}", bytes.len()));

    // Validators: a cached copy is not sent again; a stale If-Range gets it all.
    let res = w.content(id, &w.cli.access, &[("if-none-match", etag.as_str())]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&res, "etag"), etag);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = w.content(id, &w.cli.access, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), bytes.len());
    let res = w.content(id, &w.cli.access, &[("range", "bytes=0-9"), ("if-range", etag.as_str())]).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);

    // HEAD: the headers, no body.
    let url = w.app.url(&format!("/api/v1/files/{id}/content"));
    let res = w.app.client.head(url).bearer_auth(&w.cli.access).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-length"), bytes.len().to_string());
    assert!(res.bytes().await.unwrap().is_empty());

    // A raw upload, and seed 003's "files of operator X" as a filter.
    let raw = w.uploaded(&w.ops2.access, "notes.txt", b"hello".to_vec()).await;
    assert_eq!(raw["content_type"], "text/plain");
    let list: Value =
        w.app.get("/api/v1/files?filter=owner%20eq%20'ops'", Some(&w.cli.access)).await.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id);
    let list: Value =
        w.app.get("/api/v1/files?sort=size&count=1", Some(&w.cli.access)).await.json().await.unwrap();
    assert_eq!((list["total"].as_u64(), list["items"][0]["name"].as_str()), (Some(2), Some("notes.txt")));
    let next = format!("/api/v1/files?count=1&after={}", raw["id"].as_str().unwrap());
    let page: Value = w.app.get(&next, Some(&w.cli.access)).await.json().await.unwrap();
    assert_eq!(page["items"][0]["id"], id, "keyset paging continues with the older file");
    let meta: Value =
        w.app.get(&format!("/api/v1/files/{id}"), Some(&w.cli.access)).await.json().await.unwrap();
    assert_eq!(meta, file);
    assert_eq!(w.counts(&w.ops.access).await, (2, bytes.len() as u64, 1));
}

async fn hostile_names_are_stored_and_served_safely(backend: Backend, storage: Storage) {
    let w = FileWorld::new(backend, storage).await;
    let long = "ж".repeat(200); // 400 bytes of UTF-8
    let cases: [(&str, &str); 7] = [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("evil\0name.txt", "evilname.txt"),
        ("a\r\nSet-Cookie: x=1.txt", "aSet-Cookie: x=1.txt"),
        ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
        ("..", "file"),
        (&long, &long[..254]),
    ];
    let mut ids = Vec::new();
    for (sent, stored) in cases {
        let file = w.uploaded(&w.ops.access, sent, b"x".to_vec()).await;
        assert_eq!(file["name"], stored, "{sent:?}");
        ids.push(file["id"].as_str().unwrap().to_owned());
        let res = w.content(file["id"].as_str().unwrap(), &w.cli.access, &[]).await;
        let disposition = header(&res, "content-disposition");
        assert!(disposition.is_ascii() && !disposition.contains(['\r', '\n', '/', '\\']), "{disposition}");
    }
    // Multipart filenames are cleaned the same way.
    let res = w.upload_form(&w.ops.access, "file", "../../../tmp/x.png", b"png".to_vec()).await;
    let file: Value = res.json().await.unwrap();
    assert_eq!((file["name"].as_str(), file["content_type"].as_str()), (Some("x.png"), Some("image/png")));
    // Active content is offered as bytes, never as a page to render.
    for (name, declared) in
        [("page.html", "text/html"), ("logo.svg", "image/svg+xml"), ("a.js", "text/javascript")]
    {
        let file: Value = w
            .upload_raw(&w.ops.access, name, declared, b"<script>alert(1)</script>".to_vec())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(file["content_type"], declared);
        let res = w.content(file["id"].as_str().unwrap(), &w.cli.access, &[]).await;
        assert_eq!(header(&res, "content-type"), "application/octet-stream", "{name}");
        assert!(header(&res, "content-security-policy").contains("sandbox"));
    }
    // Storage holds server-made names only.
    for path in w.leftovers() {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()), "{}", path.display());
    }
}

async fn only_owners_and_admins_delete(backend: Backend, storage: Storage) {
    let w = FileWorld::new(backend, storage).await;
    let file = w.uploaded(&w.ops.access, "a.bin", pattern(1000)).await;
    let path = format!("/api/v1/files/{}", file["id"].as_str().unwrap());
    assert_problem(w.app.delete(&path, &w.cli.access).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(w.app.delete(&path, &w.ops2.access).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(w.leftovers().len(), 1);
    assert_eq!(w.app.delete(&path, &w.ops.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.app.get(&path, Some(&w.cli.access)).await.status(), StatusCode::NOT_FOUND);
    let res = w.content(file["id"].as_str().unwrap(), &w.cli.access, &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(w.leftovers().is_empty(), "bytes removed: {:?}", w.leftovers());
    assert_eq!(w.counts(&w.ops.access).await, (0, 0, 0));
    // An owner who is no longer an operator still deletes their own.
    let file = w.uploaded(&w.ops2.access, "mine.bin", pattern(10)).await;
    w.app.grant_roles(w.ops2.user_id.as_deref().unwrap(), &["user"]).await;
    let path = format!("/api/v1/files/{}", file["id"].as_str().unwrap());
    let res = w.app.delete(&path, &w.ops2.access).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{}", res.text().await.unwrap());
    w.app.grant_roles(w.ops2.user_id.as_deref().unwrap(), &["operator"]).await;
    // An admin deletes anyone's; a second delete finds nothing.
    let file = w.uploaded(&w.ops2.access, "b.bin", pattern(10)).await;
    let path = format!("/api/v1/files/{}", file["id"].as_str().unwrap());
    assert_eq!(w.app.delete(&path, &w.root.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.app.delete(&path, &w.root.access).await.status(), StatusCode::NOT_FOUND);
    // Both deletions are in the audit log, with the upload.
    let audit: Value = w
        .app
        .get("/api/v1/audit?filter=action%20like%20'file.%25'", Some(&w.root.access))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["file.deleted", "file.uploaded", "file.deleted", "file.uploaded", "file.deleted", "file.uploaded"]
    );
}
