//! Where the bytes live: one `object_store` over local disk (`<data dir>/files`) or an
//! S3-compatible bucket. Objects are named by the server (`objects/ab/ab…`), never
//! after anything a user sent.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::chunked::ChunkedStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig,
    WriteMultipart,
};

use super::settings::FileSettings;

/// Every object lives under this prefix (a bucket may hold other things).
pub const OBJECTS: &str = "objects";
/// S3 parts are at least 5 MiB (except the last).
const S3_PART: usize = 5 << 20;
/// Local writes go out a mebibyte at a time.
const LOCAL_PART: usize = 1 << 20;
/// Local reads come back in chunks this large (a thread hop each).
const LOCAL_READ_CHUNK: usize = 1 << 20;
/// Parts written at once while more of the body arrives.
pub const PARTS_IN_FLIGHT: usize = 2;

/// How long a readiness probe waits for the store.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest one S3 request of an upload (a part, the completion) may take.
const S3_WRITE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Reads may stream for as long as the client takes (S3: a client with no overall
    /// timeout; stalls are caught per chunk by the caller).
    reader: Arc<dyn ObjectStore>,
    /// Set when objects are files on this machine: they are fsynced, and uploads a
    /// crash interrupted are found there.
    local_root: Option<PathBuf>,
    part_size: usize,
}

impl Storage {
    pub fn open(settings: &FileSettings, data_dir: &Path) -> anyhow::Result<Self> {
        match &settings.s3_bucket {
            Some(bucket) => Ok(Self {
                store: s3(settings, bucket, Some(S3_WRITE_TIMEOUT))?,
                reader: s3(settings, bucket, None)?,
                local_root: None,
                part_size: S3_PART,
            }),
            None => {
                let root = data_dir.join("files");
                std::fs::create_dir_all(&root)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
                let root = root.canonicalize()?;
                let local = LocalFileSystem::new_with_prefix(&root)?;
                let store: Arc<dyn ObjectStore> =
                    Arc::new(ChunkedStore::new(Arc::new(local), LOCAL_READ_CHUNK));
                Ok(Self { reader: store.clone(), store, local_root: Some(root), part_size: LOCAL_PART })
            }
        }
    }

    /// A fresh object name: random, fanned out over 256 prefixes.
    pub fn new_key() -> Key {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Key::from(format!("{OBJECTS}/{}/{id}", &id[..2]))
    }

    /// Starts writing `key`. Nothing is visible under `key` until `finish()`; an
    /// `abort()` (or a drop, on local disk) leaves nothing behind.
    pub async fn writer(&self, key: &Key) -> object_store::Result<WriteMultipart> {
        Ok(WriteMultipart::new_with_chunk_size(self.store.put_multipart(key).await?, self.part_size))
    }

    /// Makes a finished object durable before its row is committed: on local disk the
    /// file and its directory are fsynced (S3 has it durably once complete).
    pub async fn sync(&self, key: &Key) -> std::io::Result<()> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let path = root.join(key.as_ref());
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path)?.sync_data()?;
            match path.parent() {
                Some(dir) => std::fs::File::open(dir)?.sync_all(),
                None => Ok(()),
            }
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The bytes of `key` (`range` of them when given), streamed.
    pub async fn read(
        &self,
        key: &Key,
        range: Option<Range<u64>>,
    ) -> object_store::Result<BoxStream<'static, object_store::Result<Bytes>>> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        Ok(self.reader.get_opts(key, options).await?.into_stream())
    }

    /// Removes `key`; one already gone is fine.
    pub async fn delete(&self, key: &Key) -> object_store::Result<()> {
        match self.store.delete(key).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// Every stored object.
    pub fn list(&self) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.store.list(Some(&Key::from(OBJECTS)))
    }

    /// Whether the store answers (readiness), within 2 s: a HEAD of a key that never
    /// exists.
    pub async fn ping(&self) -> object_store::Result<()> {
        let probe = Key::from("readyz-probe");
        match tokio::time::timeout(PING_TIMEOUT, self.store.head(&probe)).await {
            Ok(Ok(_) | Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(err)) => Err(err),
            Err(elapsed) => Err(object_store::Error::Generic { store: "S3", source: Box::new(elapsed) }),
        }
    }

    /// The directory of a local store.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }
}

/// An S3 client; `timeout` bounds each request from start to the end of its body.
fn s3(
    settings: &FileSettings,
    bucket: &str,
    timeout: Option<Duration>,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let client = ClientOptions::new().with_connect_timeout(Duration::from_secs(5));
    let client = match timeout {
        Some(timeout) => client.with_timeout(timeout),
        None => client.with_timeout_disabled(),
    };
    // The environment's AWS_* settings (credentials of an instance role…) apply
    // unless ours say otherwise.
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&settings.s3_region)
        .with_virtual_hosted_style_request(!settings.s3_path_style)
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        })
        .with_client_options(client);
    if let Some(endpoint) = &settings.s3_endpoint {
        // Virtual-hosted style wants the bucket in the endpoint's host.
        let endpoint = if settings.s3_path_style { endpoint.clone() } else { bucket_host(endpoint, bucket) };
        builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
    }
    if let Some(id) = &settings.s3_access_key_id {
        builder = builder.with_access_key_id(id);
    }
    if let Some(secret) = &settings.s3_secret_access_key {
        builder = builder.with_secret_access_key(secret.expose());
    }
    let store = builder.build()?;
    let prefix = settings.s3_prefix.trim_matches('/');
    Ok(if prefix.is_empty() { Arc::new(store) } else { Arc::new(PrefixStore::new(store, prefix)) })
}

/// `https://s3.example.com` → `https://bucket.s3.example.com` (unchanged when the
/// host already starts with the bucket).
fn bucket_host(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) if !rest.starts_with(&format!("{bucket}.")) => {
            format!("{scheme}://{bucket}.{rest}")
        }
        _ => endpoint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn virtual_hosted_endpoints_name_the_bucket() {
        assert_eq!(super::bucket_host("https://s3.example.com", "b"), "https://b.s3.example.com");
        assert_eq!(super::bucket_host("https://b.s3.example.com", "b"), "https://b.s3.example.com");
    }
}
