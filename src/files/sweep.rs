//! Removes bytes no row refers to: objects left by a crash between storing and
//! recording, deletes whose removal failed, and (on local disk) uploads a crash cut
//! off. Only what is older than an hour is touched, so uploads in progress are safe;
//! and an object found without a row is looked up again after a grace period before
//! it goes, because S3 dates a multipart object from when its upload *began*: a long
//! upload may complete, old by its date, a moment before its row commits. Runs at
//! start and hourly on every node; removing twice is harmless.

use futures_util::StreamExt;

use super::storage::Storage;
use super::store;
use crate::clock::Timestamp;
use crate::store::Db;

/// An object this old with no row is a leftover.
pub const ORPHAN_AGE: i64 = 3600;
/// How often each node sweeps.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// How long the sweep waits before looking up its suspects again.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(60);
/// Keys checked against the table per query.
const BATCH: usize = 500;

/// Removes leftovers older than an hour before `now` that still have no row after
/// `grace`; how many were removed.
pub async fn sweep(
    db: &Db,
    storage: &Storage,
    now: Timestamp,
    grace: std::time::Duration,
) -> anyhow::Result<u64> {
    let cutoff = now - ORPHAN_AGE;
    let mut suspects = Vec::new();
    let mut objects = storage.list();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(meta) = objects.next().await {
        let meta = meta?;
        if meta.last_modified.timestamp() < cutoff {
            batch.push(meta.location.to_string());
        }
        if batch.len() == BATCH {
            suspects.extend(unknown(db, std::mem::take(&mut batch)).await?);
        }
    }
    suspects.extend(unknown(db, batch).await?);
    let mut removed = 0;
    if !suspects.is_empty() {
        tokio::time::sleep(grace).await;
        for chunk in suspects.chunks(BATCH) {
            for key in unknown(db, chunk.to_vec()).await? {
                storage.delete(&key.as_str().into()).await?;
                removed += 1;
            }
        }
    }
    if let Some(root) = storage.local_root() {
        let root = root.to_owned();
        removed += tokio::task::spawn_blocking(move || remove_interrupted(&root, cutoff)).await?;
    }
    Ok(removed)
}

/// Those of `keys` no row names.
async fn unknown(db: &Db, mut keys: Vec<String>) -> anyhow::Result<Vec<String>> {
    let known = store::known_keys(db, &keys).await?;
    keys.retain(|key| !known.contains(key));
    Ok(keys)
}

/// Local uploads a crash cut off: the store's staging files (`<key>#<n>`), which it
/// does not list. Files that vanish meanwhile (an upload finishing) are skipped.
fn remove_interrupted(root: &std::path::Path, cutoff: Timestamp) -> u64 {
    let mut removed = 0;
    let fanout = std::fs::read_dir(root.join(super::storage::OBJECTS)).into_iter().flatten().flatten();
    for dir in fanout {
        for entry in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let staged = name
                .to_str()
                .and_then(|n| n.rsplit_once('#'))
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            let changed_at = modified
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(i64::MAX, |d| d.as_secs() as i64);
            if staged && changed_at < cutoff && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}
