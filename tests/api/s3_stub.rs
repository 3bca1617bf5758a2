//! A real S3-speaking server on loopback for the storage tests: `s3s-fs` in-process,
//! keeping objects as files under a temporary directory.

use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const BUCKET: &str = "hallpass-test";
const KEY_ID: &str = "AKIAHALLPASSTEST";
const SECRET: &str = "hallpass-test-secret-key";

pub struct S3Stub {
    pub root: tempfile::TempDir,
    pub endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl S3Stub {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket dir");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(KEY_ID, SECRET));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        // Connections live in a set owned by the accept loop: stopping the stub
        // closes them too, as a stopped server would.
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let service = service.clone();
                connections.spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self { root, endpoint, task }
    }

    /// The server settings that store files in this stub's bucket.
    pub fn args(&self) -> Vec<String> {
        [
            ("--s3-bucket", BUCKET),
            ("--s3-endpoint", self.endpoint.as_str()),
            ("--s3-access-key-id", KEY_ID),
            ("--s3-secret-access-key", SECRET),
            ("--s3-path-style", "true"),
            ("--s3-region", "us-east-1"),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_owned(), v.to_owned()])
        .collect()
    }

    /// Files that hold stored bytes or an unfinished multipart upload.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut found = crate::helpers::files_under(&self.root.path().join(BUCKET));
        let pending = std::fs::read_dir(self.root.path())
            .expect("s3 root")
            .flatten()
            .filter(|entry| entry.file_name().to_str().is_some_and(|name| name.starts_with(".upload")));
        found.extend(pending.map(|entry| entry.path()));
        found
    }
}

impl Drop for S3Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}
