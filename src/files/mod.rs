//! Files (seed 003's file drop): operators upload, everyone signed in lists and
//! downloads. Bytes live in an object store (`storage.rs`: local disk or S3) under
//! server-made keys; a row (`store.rs`) exists only for an object stored in full.
//! Uploads stream through `upload.rs`, downloads through `content.rs` (ranges,
//! validators), share links are signed in `links.rs`, and `sweep.rs` removes objects
//! no row refers to.

pub mod content;
mod digest;
pub mod links;
pub mod manage;
pub mod name;
pub mod receive;
pub mod routes;
pub mod settings;
pub mod storage;
pub mod store;
pub mod sweep;
pub mod upload;

use links::LinkSigner;
use settings::FileSettings;
use storage::Storage;

use crate::clock::Timestamp;
use crate::store::Db;

/// What the file routes share: where bytes go, the link key, the limits.
pub struct FileService {
    pub storage: Storage,
    pub links: LinkSigner,
    pub max_upload_bytes: u64,
    pub quota_bytes: u64,
}

impl FileService {
    pub async fn open(
        settings: &FileSettings,
        data_dir: &std::path::Path,
        db: &Db,
        now: Timestamp,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            storage: Storage::open(settings, data_dir)?,
            links: LinkSigner::load(db, now).await?,
            max_upload_bytes: settings.max_upload_bytes,
            quota_bytes: settings.user_quota_bytes,
        })
    }
}
