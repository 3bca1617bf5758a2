//! SHA-256 of an upload as it streams. Hashing a gibibyte takes most of a second of
//! one core, as long as receiving it: past the first mebibyte, the hashing moves to a
//! thread of its own and runs beside the receiving.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes hashed inline before the rest goes to a thread (small files stay cheap).
const INLINE: u64 = 1 << 20;
/// Chunks queued for the hashing thread before the upload waits for it.
const QUEUED: usize = 64;

pub enum Hasher {
    Inline { sha: Sha256, hashed: u64 },
    Thread { chunks: mpsc::Sender<Bytes>, done: JoinHandle<Sha256> },
}

impl Default for Hasher {
    fn default() -> Self {
        Self::Inline { sha: Sha256::new(), hashed: 0 }
    }
}

impl Hasher {
    pub async fn update(&mut self, chunk: Bytes) {
        match self {
            Self::Inline { sha, hashed } if *hashed < INLINE => {
                sha.update(&chunk);
                *hashed += chunk.len() as u64;
            }
            Self::Inline { sha, .. } => {
                let (chunks, mut queue) = mpsc::channel::<Bytes>(QUEUED);
                let mut sha = std::mem::take(sha);
                let done = tokio::task::spawn_blocking(move || {
                    while let Some(chunk) = queue.blocking_recv() {
                        sha.update(&chunk);
                    }
                    sha
                });
                // The thread only ends once `chunks` is dropped.
                let _ = chunks.send(chunk).await;
                *self = Self::Thread { chunks, done };
            }
            Self::Thread { chunks, .. } => {
                let _ = chunks.send(chunk).await;
            }
        }
    }

    /// The digest, lower-case hex.
    pub async fn finish(self) -> std::io::Result<String> {
        let sha = match self {
            Self::Inline { sha, .. } => sha,
            Self::Thread { chunks, done } => {
                drop(chunks);
                done.await.map_err(std::io::Error::other)?
            }
        };
        Ok(hex::encode(sha.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_digest_inline_and_threaded() {
        let data: Vec<u8> = (0..3 * INLINE as usize + 17).map(|i| (i % 251) as u8).collect();
        let mut hasher = Hasher::default();
        for chunk in data.chunks(64 * 1024 + 3) {
            hasher.update(Bytes::copy_from_slice(chunk)).await;
        }
        assert!(matches!(hasher, Hasher::Thread { .. }));
        assert_eq!(hasher.finish().await.unwrap(), hex::encode(Sha256::digest(&data)));
        assert_eq!(Hasher::default().finish().await.unwrap(), hex::encode(Sha256::digest(b"")));
    }
}
