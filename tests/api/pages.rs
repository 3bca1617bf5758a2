//! Web pages over HTTP: sign-in with a cookie on the API's session table, cookie
//! flags, CSRF, the headers every page carries, and sessions ended elsewhere.

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(
    sign_in_and_out_with_a_cookie,
    forms_refuse_forged_posts_and_change_nothing,
    a_session_ended_through_the_api_signs_the_browser_out,
    cookies_are_host_only_and_secure_over_https,
    sign_up_names_every_bad_field_then_signs_in,
    signing_in_again_replaces_the_browsers_session,
);

/// The `name=value` of cookie `name` set by `res`, and its attributes.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| (value.to_owned(), attributes.to_owned()))
    })
}

/// The sign-in form's token and nonce cookie.
async fn login_form(app: &TestApp, nonce_name: &str) -> (String, String) {
    form_at(app, "/login", nonce_name).await
}

/// A signed-out form's token and nonce cookie.
async fn form_at(app: &TestApp, path: &str, nonce_name: &str) -> (String, String) {
    let res = app.get(path, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (nonce, _) = set_cookie(res.headers(), nonce_name).expect("nonce cookie");
    let html = res.text().await.unwrap();
    let token =
        html.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    (token, format!("{nonce_name}={nonce}"))
}

pub async fn post_form(app: &TestApp, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Response {
    let req = app.client.post(app.url(path)).header("cookie", cookie).form(fields);
    req.send().await.unwrap()
}

/// Signs in through the form; the session cookie (`name=value`) and its attributes.
async fn web_login(app: &TestApp, username: &str, cookie_name: &str, nonce_name: &str) -> (String, String) {
    let (token, nonce) = login_form(app, nonce_name).await;
    let fields = [("username", username), ("password", PASSWORD), ("csrf_token", token.as_str())];
    let res = post_form(app, "/login", &nonce, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/dashboard");
    let (value, attributes) = set_cookie(res.headers(), cookie_name).expect("session cookie");
    (format!("{cookie_name}={value}"), attributes)
}

/// Signs `username` in through the form; the `Cookie` header value.
pub async fn signed_in(app: &TestApp, username: &str) -> String {
    web_login(app, username, "hallpass", "hallpass-nonce").await.0
}

pub async fn page(app: &TestApp, path: &str, cookie: &str) -> Response {
    app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap()
}

/// The token of the forms on a signed-in page.
pub async fn page_token(app: &TestApp, cookie: &str) -> String {
    let html = page(app, "/dashboard", cookie).await.text().await.unwrap();
    html.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

async fn sign_in_and_out_with_a_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("walker").await;
    let res = page(&app, "/dashboard", "").await;
    assert_eq!(
        (res.status(), res.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );

    // A wrong password: the form again, with one message for every failure.
    let (token, nonce) = login_form(&app, "hallpass-nonce").await;
    let fields = [("username", "walker"), ("password", "wrong"), ("csrf_token", token.as_str())];
    let res = post_form(&app, "/login", &nonce, &fields).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("Wrong username or password."));

    let (cookie, attributes) = web_login(&app, "walker", "hallpass", "hallpass-nonce").await;
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(flag), "{attributes}");
    }
    assert!(!attributes.contains("Secure"), "plain http: {attributes}");
    assert!(cookie.starts_with("hallpass=hpw_"), "an opaque secret, never a JWT: {cookie}");
    let res = page(&app, "/dashboard", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Signed in as <strong>walker</strong>"));

    // The page session is an API session (beside registration's and this login's): it
    // is listed, and signing out ends it.
    let tokens = app.login_ok("walker").await;
    let sessions: Value = app.get("/api/v1/auth/sessions", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!(sessions["total"], 3);
    let token = page_token(&app, &cookie).await;
    let res = post_form(&app, "/logout", &cookie, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (value, attributes) = set_cookie(res.headers(), "hallpass").expect("cleared cookie");
    assert!(value.is_empty() && attributes.contains("Max-Age=0"), "{value} {attributes}");
    assert_eq!(page(&app, "/dashboard", &cookie).await.status(), StatusCode::SEE_OTHER);
    let sessions: Value = app.get("/api/v1/auth/sessions", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!(sessions["total"], 2);

    // Browsers get pages for unknown paths; programs get problem+json.
    let res = app.client.get(app.url("/nowhere")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.headers().contains_key("content-security-policy"));
    let res = app.get("/nowhere", None).await;
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

async fn forms_refuse_forged_posts_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("walker").await;
    // Sign-in without the form's token, with another visitor's token, or from
    // another site: 403, and no session.
    let (token, nonce) = login_form(&app, "hallpass-nonce").await;
    let (_, other_nonce) = login_form(&app, "hallpass-nonce").await;
    let attempts: [(&str, &str, Option<&str>); 3] = [
        ("", nonce.as_str(), None),
        (token.as_str(), other_nonce.as_str(), None),
        (token.as_str(), nonce.as_str(), Some("https://evil.example")),
    ];
    for (csrf, cookie, origin) in attempts {
        let fields = [("username", "walker"), ("password", PASSWORD), ("csrf_token", csrf)];
        let mut req = app.client.post(app.url("/login")).header("cookie", cookie).form(&fields);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie(res.headers(), "hallpass").is_none());
    }
    let tokens = app.login_ok("walker").await;
    let sessions: Value = app.get("/api/v1/auth/sessions", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!(sessions["total"], 2, "registration's and this login's sessions only");

    // Sign-in forms open in two tabs share the visitor's nonce: the first still works.
    let (first, nonce) = login_form(&app, "hallpass-nonce").await;
    let res = app.client.get(app.url("/login")).header("cookie", &nonce).send().await.unwrap();
    let again = set_cookie(res.headers(), "hallpass-nonce").map(|(v, _)| format!("hallpass-nonce={v}"));
    assert_eq!(again.as_deref(), Some(nonce.as_str()), "the same nonce");
    let fields = [("username", "walker"), ("password", PASSWORD), ("csrf_token", first.as_str())];
    assert_eq!(post_form(&app, "/login", &nonce, &fields).await.status(), StatusCode::SEE_OTHER);

    // Signing out with a missing or wrong token, or cross-site: 403, still signed in.
    let (cookie, _) = web_login(&app, "walker", "hallpass", "hallpass-nonce").await;
    let token = page_token(&app, &cookie).await;
    for (csrf, site) in [("", "same-origin"), ("forged", "same-origin"), (token.as_str(), "cross-site")] {
        let req =
            app.client.post(app.url("/logout")).header("cookie", &cookie).header("sec-fetch-site", site);
        let res = req.form(&[("csrf_token", csrf)]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(page(&app, "/dashboard", &cookie).await.status(), StatusCode::OK);
    }
}

async fn a_session_ended_through_the_api_signs_the_browser_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("walker").await;
    let (cookie, _) = web_login(&app, "walker", "hallpass", "hallpass-nonce").await;
    assert_eq!(page(&app, "/dashboard", &cookie).await.status(), StatusCode::OK);
    let tokens = app.login_ok("walker").await;
    let res = app.post_json("/api/v1/auth/logout", &json!({"scope": "all"}), Some(&tokens.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = page(&app, "/dashboard", &cookie).await;
    assert_eq!(
        (res.status(), res.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );

    // The idle lifetime (7 days) holds for browsers too; using the page keeps it alive.
    let (cookie, _) = web_login(&app, "walker", "hallpass", "hallpass-nonce").await;
    app.clock.advance(6 * 86400);
    assert_eq!(page(&app, "/dashboard", &cookie).await.status(), StatusCode::OK);
    app.clock.advance(6 * 86400);
    assert_eq!(page(&app, "/dashboard", &cookie).await.status(), StatusCode::OK, "used six days ago");
    app.clock.advance(8 * 86400);
    assert_eq!(page(&app, "/dashboard", &cookie).await.status(), StatusCode::SEE_OTHER, "idle for 8 days");
}

async fn cookies_are_host_only_and_secure_over_https(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, Options::default().arg("--public-url", "https://hallpass.test")).await;
    app.register("walker").await;
    let (cookie, attributes) = web_login(&app, "walker", "__Host-hallpass", "__Host-hallpass-nonce").await;
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(attributes.contains(flag), "{attributes}");
    }
    assert!(!attributes.contains("Domain"), "host-only: {attributes}");
    assert_eq!(page(&app, "/dashboard", &cookie).await.status(), StatusCode::OK);
}

async fn sign_up_names_every_bad_field_then_signs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("taken").await;
    let (token, nonce) = form_at(&app, "/signup", "hallpass-nonce").await;
    let bad = [
        ("username", "x"),
        ("email", "not-an-address"),
        ("name", ""),
        ("password", "short"),
        ("csrf_token", token.as_str()),
    ];
    let res = post_form(&app, "/signup", &nonce, &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for field in ["username-error", "email-error", "password-error"] {
        assert!(html.contains(&format!("id=\"{field}\"")), "{field} in {html}");
    }
    assert!(html.contains("value=\"not-an-address\""), "what was typed stays");
    let (token, nonce) = form_at(&app, "/signup", "hallpass-nonce").await;
    let taken = [("username", "TAKEN"), ("password", PASSWORD), ("csrf_token", token.as_str())];
    let res = post_form(&app, "/signup", &nonce, &taken).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("already taken"));
    // Without the form's token: refused, nothing made.
    let forged = [("username", "newcomer"), ("password", PASSWORD), ("csrf_token", "")];
    assert_eq!(post_form(&app, "/signup", &nonce, &forged).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.login("newcomer", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    let (token, nonce) = form_at(&app, "/signup", "hallpass-nonce").await;
    let good = [
        ("username", "newcomer"),
        ("email", "new@example.com"),
        ("password", PASSWORD),
        ("csrf_token", token.as_str()),
    ];
    let res = post_form(&app, "/signup", &nonce, &good).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (value, _) = set_cookie(res.headers(), "hallpass").expect("signed in");
    let res = page(&app, "/dashboard", &format!("hallpass={value}")).await;
    assert!(res.text().await.unwrap().contains("Signed in as <strong>newcomer</strong>"));
    let tokens = app.login_ok("newcomer").await;
    let me: Value = app.get("/api/v1/users/me", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!((me["email"].as_str(), me["roles"][0].as_str()), (Some("new@example.com"), Some("user")));

    // Closed registration: no sign-up page.
    let closed = TestApp::spawn_with(backend, Options::default().arg("--registration-open", "false")).await;
    assert_eq!(closed.get("/signup", None).await.status(), StatusCode::NOT_FOUND);
    assert!(!closed.get("/login", None).await.text().await.unwrap().contains("/signup"));
}

on_both_backends!(the_account_page_ends_sessions_here_and_everywhere);

async fn the_account_page_ends_sessions_here_and_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app.register("walker").await;
    let cookie = signed_in(&app, "walker").await;
    let html = page(&app, "/account", &cookie).await.text().await.unwrap();
    assert!(html.contains("(this browser)"), "{html}");
    assert!(html.contains("<title>Your account · Hallpass</title>"), "{html}");
    assert_eq!(html.matches("name=\"session_id\"").count(), 2, "registration's session and this one");
    let token = page_token(&app, &cookie).await;

    // End the API session from the page: its access token stops at once.
    let fields = [("session_id", registered.session_id.as_str()), ("csrf_token", token.as_str())];
    let res = post_form(&app, "/account/sessions/end", &cookie, &fields).await;
    assert_eq!(
        (res.status(), res.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/account")
    );
    assert_eq!(
        app.get("/api/v1/users/me", Some(&registered.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Someone else's session, or nonsense: 404, nothing ended.
    let other = app.register("other").await;
    let fields = [("session_id", other.session_id.as_str()), ("csrf_token", token.as_str())];
    assert_eq!(
        post_form(&app, "/account/sessions/end", &cookie, &fields).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/api/v1/users/me", Some(&other.access)).await.status(), StatusCode::OK);

    // Sign out everywhere: forged first (nothing happens), then for real.
    let api = app.login_ok("walker").await;
    let res = post_form(&app, "/account/sign-out-everywhere", &cookie, &[("csrf_token", "forged")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/users/me", Some(&api.access)).await.status(), StatusCode::OK);
    let res = post_form(&app, "/account/sign-out-everywhere", &cookie, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/api/v1/users/me", Some(&api.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        page(&app, "/account", &cookie).await.status(),
        StatusCode::SEE_OTHER,
        "the browser is signed out"
    );
}

on_both_backends!(api_tokens_are_made_shown_once_and_revoked_on_the_account_page);

async fn api_tokens_are_made_shown_once_and_revoked_on_the_account_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("walker").await;
    let cookie = signed_in(&app, "walker").await;
    let token = page_token(&app, &cookie).await;
    let res = post_form(&app, "/account/tokens", &cookie, &[("name", "  "), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("id=\"token-error\""));
    let res =
        post_form(&app, "/account/tokens", &cookie, &[("name", "backup"), ("csrf_token", "forged")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res =
        post_form(&app, "/account/tokens", &cookie, &[("name", "backup script"), ("csrf_token", &token)])
            .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let secret = html.split("id=\"new-token\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("hp_"), "{secret}");
    let me = app.client.get(app.url("/api/v1/users/me")).header("authorization", format!("Token {secret}"));
    assert_eq!(me.send().await.unwrap().status(), StatusCode::OK);
    // Listed, never shown again.
    let html = page(&app, "/account", &cookie).await.text().await.unwrap();
    assert!(html.contains("backup script") && !html.contains(&secret));
    let id = html.split("name=\"token_id\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let res =
        post_form(&app, "/account/tokens/revoke", &cookie, &[("token_id", &id), ("csrf_token", &token)])
            .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let me = app.client.get(app.url("/api/v1/users/me")).header("authorization", format!("Token {secret}"));
    assert_eq!(me.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Someone else's token id: 404, it keeps working.
    let other = app.register("other").await;
    let res = app.post_json("/api/v1/tokens", &json!({"name": "theirs"}), Some(&other.access)).await;
    let theirs: Value = res.json().await.unwrap();
    let fields = [("token_id", theirs["id"].as_str().unwrap()), ("csrf_token", token.as_str())];
    assert_eq!(
        post_form(&app, "/account/tokens/revoke", &cookie, &fields).await.status(),
        StatusCode::NOT_FOUND
    );
    let theirs_secret = theirs["token"].as_str().unwrap();
    let me =
        app.client.get(app.url("/api/v1/users/me")).header("authorization", format!("Token {theirs_secret}"));
    assert_eq!(me.send().await.unwrap().status(), StatusCode::OK);
}

async fn signing_in_again_replaces_the_browsers_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("walker").await;
    let old = signed_in(&app, "walker").await;
    // A sign-in form from before (its nonce), sent by the signed-in browser.
    let (token, nonce) = login_form(&app, "hallpass-nonce").await;
    let fields = [("username", "walker"), ("password", PASSWORD), ("csrf_token", token.as_str())];
    let res = post_form(&app, "/login", &format!("{old}; {nonce}"), &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (value, _) = set_cookie(res.headers(), "hallpass").expect("a new session cookie");
    assert_eq!(page(&app, "/dashboard", &old).await.status(), StatusCode::SEE_OTHER, "the old session ended");
    assert_eq!(page(&app, "/dashboard", &format!("hallpass={value}")).await.status(), StatusCode::OK);
    let tokens = app.login_ok("walker").await;
    let sessions: Value = app.get("/api/v1/auth/sessions", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!(sessions["total"], 3, "registration's, the new browser session, this login: not the old one");
}
