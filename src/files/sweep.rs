//! Removes bytes no row refers to: objects left by a crash between storing and
//! recording, deletes whose removal failed, and (on local disk) uploads a crash cut
//! off. Only what is older than an hour is touched, so uploads in progress are safe.
//! Runs at start and hourly on every node; removing twice is harmless.

use futures_util::StreamExt;

use super::storage::Storage;
use super::store;
use crate::clock::Timestamp;
use crate::store::Db;

/// An object this old with no row is a leftover.
pub const ORPHAN_AGE: i64 = 3600;
/// How often each node sweeps.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// Keys checked against the table per query.
const BATCH: usize = 500;

/// Removes leftovers older than an hour before `now`; how many were removed.
pub async fn sweep(db: &Db, storage: &Storage, now: Timestamp) -> anyhow::Result<u64> {
    let cutoff = now - ORPHAN_AGE;
    let mut removed = 0;
    let mut objects = storage.list();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(meta) = objects.next().await {
        let meta = meta?;
        if meta.last_modified.timestamp() < cutoff {
            batch.push(meta.location.to_string());
        }
        if batch.len() == BATCH {
            removed += remove_unknown(db, storage, std::mem::take(&mut batch)).await?;
        }
    }
    removed += remove_unknown(db, storage, batch).await?;
    if let Some(root) = storage.local_root() {
        let root = root.to_owned();
        removed += tokio::task::spawn_blocking(move || remove_interrupted(&root, cutoff)).await??;
    }
    Ok(removed)
}

async fn remove_unknown(db: &Db, storage: &Storage, keys: Vec<String>) -> anyhow::Result<u64> {
    let known = store::known_keys(db, &keys).await?;
    let mut removed = 0;
    for key in keys.iter().filter(|key| !known.contains(key)) {
        storage.delete(&key.as_str().into()).await?;
        removed += 1;
    }
    Ok(removed)
}

/// Local uploads a crash cut off: the store's staging files (`<key>#<n>`), which it
/// does not list.
fn remove_interrupted(root: &std::path::Path, cutoff: Timestamp) -> std::io::Result<u64> {
    let mut removed = 0;
    let objects = root.join(super::storage::OBJECTS);
    let Ok(fanout) = std::fs::read_dir(&objects) else {
        return Ok(0);
    };
    for dir in fanout.flatten() {
        for entry in std::fs::read_dir(dir.path())?.flatten() {
            let name = entry.file_name();
            let staged = name
                .to_str()
                .and_then(|n| n.rsplit_once('#'))
                .is_some_and(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()));
            let modified = entry.metadata()?.modified()?;
            let age = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            if staged && age < cutoff {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
