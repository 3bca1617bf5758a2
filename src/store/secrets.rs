//! Secrets every node must share (the share-link signing key, later the VAPID key):
//! made by whichever node needs one first, kept in `server_secrets`.

use super::{Db, StoreError};
use crate::clock::Timestamp;
use crate::params;

crate::statements! {
    INSERT_SECRET = "INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING";
    FIND_SECRET = "SELECT secret FROM server_secrets WHERE name = $1";
}

/// The secret called `name`; when there is none yet, `make()` becomes it. Nodes
/// racing to create it all end up with the one that was stored first.
pub async fn shared_secret(
    db: &Db,
    name: &str,
    now: Timestamp,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    if let Some(secret) = db.read_optional::<Vec<u8>>(FIND_SECRET, params![name]).await? {
        return Ok(secret);
    }
    db.execute(INSERT_SECRET, params![name, make(), now]).await?;
    db.read_optional::<Vec<u8>>(FIND_SECRET, params![name]).await?.ok_or(StoreError::NoRow)
}
