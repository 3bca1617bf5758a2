//! A stand-in OpenID provider on a loopback port: it publishes a JWKS (RS256 and
//! ES256 keys, `Cache-Control: max-age`) and mints ID tokens, and can be taken down
//! or have its keys rotated. It counts how often the JWKS is fetched.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.hallpass.test";
pub const AUDIENCE: &str = "hallpass-test-app";

struct Shared {
    jwks: Mutex<Value>,
    fetches: AtomicUsize,
    down: AtomicBool,
}

pub struct Idp {
    pub jwks_url: String,
    shared: Arc<Shared>,
    rsa: EncodingKey,
    ec: EncodingKey,
}

fn public_jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("public jwk");
    jwk.common.key_id = Some(kid.into());
    serde_json::to_value(jwk).unwrap()
}

async fn serve_jwks(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    if shared.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let jwks = shared.jwks.lock().unwrap().clone();
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(jwks)).into_response()
}

impl Idp {
    pub async fn start() -> Self {
        let rsa = EncodingKey::from_rsa_pem(include_bytes!("../fixtures/idp_rsa.pem")).unwrap();
        let ec = EncodingKey::from_ec_pem(include_bytes!("../fixtures/idp_ec.pem")).unwrap();
        let jwks = json!({"keys": [public_jwk(&rsa, Algorithm::RS256, "rsa-1"), public_jwk(&ec, Algorithm::ES256, "ec-1")]});
        let shared = Arc::new(Shared {
            jwks: Mutex::new(jwks),
            fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        let router = axum::Router::new()
            .route("/jwks.json", axum::routing::get(serve_jwks))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { jwks_url, shared, rsa, ec }
    }

    /// Server options that trust this provider.
    pub fn options(&self) -> crate::helpers::Options {
        crate::helpers::Options::default()
            .arg("--oidc-issuer", ISSUER)
            .arg("--oidc-audience", AUDIENCE)
            .arg("--oidc-jwks-url", &self.jwks_url)
    }

    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Publishes the RSA key under another kid as well (a key rotation).
    pub fn publish_rsa_as(&self, kid: &str) {
        let jwk = public_jwk(&self.rsa, Algorithm::RS256, kid);
        self.shared.jwks.lock().unwrap()["keys"].as_array_mut().unwrap().push(jwk);
    }

    /// Standard claims for `subject`, valid now (per `now`).
    pub fn claims(subject: &str, now: i64) -> Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 3600,
               "email": format!("{subject}@idp.example"), "name": "Outside Person"})
    }

    pub fn sign(&self, alg: Algorithm, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        let key = if alg == Algorithm::ES256 { &self.ec } else { &self.rsa };
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    /// A valid RS256 ID token for `subject`.
    pub fn token(&self, subject: &str, now: i64) -> String {
        self.sign(Algorithm::RS256, "rsa-1", &Self::claims(subject, now))
    }
}
