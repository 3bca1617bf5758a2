//! The page scenarios: a web session made through the sign-in form (its nonce cookie
//! and `csrf_token`, as a browser does), then pages fetched with the session cookie.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};

use crate::{Conn, PASSWORD};

/// The `name=value` pairs `headers` set as cookies.
fn cookies(headers: &hyper::HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| line.split(';').next().map(str::to_owned))
        .collect()
}

/// Signs `username` in through `/login`: the `Cookie` header of the session.
pub async fn web_session(conn: &mut Conn, username: &str) -> anyhow::Result<String> {
    let form_page = Request::get("/login").header("host", &conn.host).body(Full::new(Bytes::new()))?;
    let (status, headers, body) = conn.request(form_page).await?;
    anyhow::ensure!(status == 200, "GET /login: {status}");
    let nonce = cookies(&headers).join("; ");
    let html = String::from_utf8_lossy(&body);
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow::anyhow!("no csrf_token on /login"))?;
    let form =
        serde_urlencoded::to_string([("csrf_token", token), ("username", username), ("password", PASSWORD)])?;
    let sign_in = Request::post("/login")
        .header("host", &conn.host)
        .header(COOKIE, nonce)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))?;
    let (status, headers, _) = conn.request(sign_in).await?;
    anyhow::ensure!(status == 303, "POST /login for {username}: {status}");
    cookies(&headers)
        .into_iter()
        .find(|c| c.starts_with("hallpass=") && c.len() > "hallpass=".len())
        .ok_or_else(|| anyhow::anyhow!("no session cookie for {username}"))
}

/// A page, as the signed-in browser of `cookie` asks for it.
pub async fn get(conn: &mut Conn, path: &str, cookie: &str) -> anyhow::Result<(u16, Bytes)> {
    let req = Request::get(path)
        .header("host", &conn.host)
        .header(COOKIE, cookie)
        .header("accept", "text/html")
        .body(Full::new(Bytes::new()))?;
    let (status, _, body) = conn.request(req).await?;
    Ok((status, body))
}
