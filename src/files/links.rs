//! Share links: `…/files/{id}/content?link=<expires>.<creator>.<mac>`, an HMAC-SHA256
//! over the file, the user who made the link and when it expires, under a key every
//! node shares. A link carries no authority of its own beyond that: it is checked
//! against the file and its creator on every use (see `routes::download`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::domain::ids::{FileId, UserId};
use crate::store::secrets::shared_secret;
use crate::store::{Db, StoreError};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Seconds a link lives unless asked otherwise, and at most.
pub const DEFAULT_LIFETIME: u64 = 3600;
pub const MAX_LIFETIME: u64 = 7 * 24 * 3600;

/// What a valid link says.
#[derive(Debug, PartialEq, Eq)]
pub struct Link {
    pub creator: UserId,
    pub expires_at: Timestamp,
}

pub struct LinkSigner {
    key: Vec<u8>,
}

impl LinkSigner {
    pub async fn load(db: &Db, now: Timestamp) -> Result<Self, StoreError> {
        let key = shared_secret(db, "file-links", now, || rand::random::<[u8; 32]>().to_vec()).await?;
        Ok(Self { key })
    }

    fn mac(&self, file: &FileId, creator: &str, expires_at: Timestamp) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("hallpass file link v1\n{file}\n{creator}\n{expires_at}").as_bytes());
        mac
    }

    /// The `link` parameter for `file`, made by `creator`, valid until `expires_at`.
    pub fn sign(&self, file: &FileId, creator: &UserId, expires_at: Timestamp) -> String {
        let tag = self.mac(file, creator.as_str(), expires_at).finalize().into_bytes();
        format!("{expires_at}.{creator}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// What `token` says about `file`, if this server signed it for that file (its
    /// expiry is for the caller to check).
    pub fn verify(&self, file: &FileId, token: &str) -> Option<Link> {
        let mut parts = token.splitn(3, '.');
        let (expires, creator, tag) = (parts.next()?, parts.next()?, parts.next()?);
        let expires_at: Timestamp = expires.parse().ok()?;
        let creator = UserId::parse(creator)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(file, creator.as_str(), expires_at).verify_slice(&tag).ok()?;
        Some(Link { creator, expires_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_only_as_signed() {
        let signer = LinkSigner { key: vec![7; 32] };
        let (file, other) = (FileId::generate(), FileId::generate());
        let creator = UserId::generate();
        let token = signer.sign(&file, &creator, 1_900_000_000);
        assert_eq!(
            signer.verify(&file, &token),
            Some(Link { creator: creator.clone(), expires_at: 1_900_000_000 })
        );
        assert_eq!(signer.verify(&other, &token), None, "bound to its file");
        let later = token.replacen("1900000000", "1900000001", 1);
        assert_eq!(signer.verify(&file, &later), None, "expiry is signed");
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(signer.verify(&file, &String::from_utf8(flipped).unwrap()), None);
        assert_eq!(LinkSigner { key: vec![8; 32] }.verify(&file, &token), None, "another key");
        assert_eq!(signer.verify(&file, "garbage"), None);
    }
}
