//! Cross-site request forgery: every form carries a `csrf_token` that only this
//! server can make for this session (an HMAC of the session id; before sign-in, of
//! a random nonce in a cookie), and every POST must come from a page of ours
//! (`Sec-Fetch-Site`, `Origin`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

use crate::clock::Timestamp;
use crate::store::secrets::shared_secret;
use crate::store::{Db, StoreError};

pub struct CsrfKey(Vec<u8>);

impl CsrfKey {
    pub async fn load(db: &Db, now: Timestamp) -> Result<Self, StoreError> {
        Ok(Self(shared_secret(db, "csrf", now, || rand::random::<[u8; 32]>().to_vec()).await?))
    }

    fn token(&self, purpose: &str, subject: &str) -> String {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("hallpass csrf v1\n{purpose}\n{subject}").as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The token of a signed-in session's forms.
    pub fn for_session(&self, session_id: &str) -> String {
        self.token("session", session_id)
    }

    /// The token of the sign-in form, bound to the nonce in the visitor's cookie.
    pub fn for_nonce(&self, nonce: &str) -> String {
        self.token("nonce", nonce)
    }
}

/// Whether `given` is `expected`, in constant time.
pub fn matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Whether a POST comes from one of our own pages: browsers say so in
/// `Sec-Fetch-Site`, and name the page's origin in `Origin`, which must be this
/// server as the browser reached it (its `Host`) or its public URL.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let header = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match header(ORIGIN.as_str()) {
        None => true,
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            origin == public_url.trim_end_matches('/')
                || (authority.is_some() && authority == header(HOST.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_subject() {
        let key = CsrfKey(vec![1; 32]);
        assert_eq!(key.for_session("a"), key.for_session("a"));
        assert_ne!(key.for_session("a"), key.for_session("b"));
        assert_ne!(key.for_session("a"), key.for_nonce("a"));
        assert!(matches(&key.for_session("a"), &key.for_session("a")) && !matches(&key.for_session("a"), ""));
    }

    #[test]
    fn only_our_own_pages_post() {
        let headers = |pairs: &[(&'static str, &str)]| -> HeaderMap {
            pairs.iter().map(|(k, v)| (axum::http::HeaderName::from_static(k), v.parse().unwrap())).collect()
        };
        let public = "https://app.example";
        assert!(same_origin(&headers(&[]), public));
        assert!(same_origin(
            &headers(&[("origin", "https://app.example"), ("sec-fetch-site", "same-origin")]),
            public
        ));
        assert!(same_origin(
            &headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]),
            public
        ));
        assert!(!same_origin(
            &headers(&[("origin", "https://evil.example"), ("host", "app.example")]),
            public
        ));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")]), public));
        assert!(!same_origin(&headers(&[("origin", "null")]), public));
    }
}
