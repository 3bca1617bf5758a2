//! `/admin` and the account forms over HTTP: who sees whom, roles and expiry through
//! forms, the audit log's filter; the profile and password forms.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens};
use crate::on_both_backends;
use crate::pages::{page, page_token, post_form, signed_in};

on_both_backends!(
    admins_manage_everyone_and_managers_only_plain_users,
    the_account_forms_change_profile_and_password
);

async fn user(app: &TestApp, name: &str, roles: &[&str]) -> Tokens {
    let tokens = app.register(name).await;
    app.grant_roles(tokens.user_id.as_deref().unwrap(), roles).await;
    tokens
}

async fn roles_of(app: &TestApp, admin: &str, id: &str) -> Vec<String> {
    let user: Value = app.get(&format!("/api/v1/users/{id}"), Some(admin)).await.json().await.unwrap();
    user["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect()
}

async fn admins_manage_everyone_and_managers_only_plain_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = user(&app, "root", &["admin"]).await;
    let boss = user(&app, "boss", &["manager"]).await;
    let olga = user(&app, "olga", &["user"]).await;
    let root_id = root.user_id.as_deref().unwrap();
    let olga_id = olga.user_id.as_deref().unwrap();
    let admin_api = app.login_ok("root").await.access;

    // A manager's list holds the plain users only; an admin's page is not there.
    let manager = signed_in(&app, "boss").await;
    let html = page(&app, "/admin", &manager).await.text().await.unwrap();
    assert!(html.contains(&format!("/admin/users/{olga_id}")), "{html}");
    assert!(!html.contains(&format!("/admin/users/{root_id}")) && !html.contains(">root<"), "{html}");
    assert_eq!(
        page(&app, &format!("/admin/users/{root_id}"), &manager).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(page(&app, "/admin/audit", &manager).await.status(), StatusCode::FORBIDDEN);
    let html = page(&app, &format!("/admin/users/{olga_id}"), &manager).await.text().await.unwrap();
    assert!(!html.contains("Save roles"), "managers do not change roles");
    let token = page_token(&app, &manager).await;
    let res = post_form(
        &app,
        &format!("/admin/users/{olga_id}/roles"),
        &manager,
        &[("csrf_token", &token), ("roles", "admin")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Nor may a manager create an administrator.
    let fields =
        [("csrf_token", token.as_str()), ("username", "sneaky"), ("password", PASSWORD), ("roles", "admin")];
    assert_eq!(post_form(&app, "/admin/users", &manager, &fields).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.login("sneaky", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    // Plain users have no admin page at all.
    let plain = signed_in(&app, "olga").await;
    assert_eq!(page(&app, "/admin", &plain).await.status(), StatusCode::FORBIDDEN);
    assert!(!page(&app, "/dashboard", &plain).await.text().await.unwrap().contains("href=\"/admin\""));

    // The admin searches, gives olga the operator role, and sees it in the audit log.
    let admin = signed_in(&app, "root").await;
    let html = page(&app, "/admin?q=OL", &admin).await.text().await.unwrap();
    assert!(html.contains(">olga<") && !html.contains(">boss<"), "{html}");
    let token = page_token(&app, &admin).await;
    let fields = [("csrf_token", token.as_str()), ("roles", "user"), ("roles", "operator")];
    let res = post_form(&app, &format!("/admin/users/{olga_id}/roles"), &admin, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(roles_of(&app, &admin_api, olga_id).await, ["operator", "user"]);
    let html =
        page(&app, "/admin/audit?filter=action+eq+%27roles.changed%27", &admin).await.text().await.unwrap();
    assert!(html.contains(">root</td><td>olga</td>"), "usernames, not ids: {html}");
    let res = page(&app, "/admin/audit?filter=action+eq", &admin).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("id=\"filter-error\""));
    // The last administrator keeps the role: the page says why, nothing changes.
    let res = post_form(
        &app,
        &format!("/admin/users/{root_id}/roles"),
        &admin,
        &[("csrf_token", &token), ("roles", "user")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("last administrator"));
    assert_eq!(roles_of(&app, &admin_api, root_id).await, ["admin"]);

    // Creating a user names every bad field; a good one is made with its roles.
    let bad = [("csrf_token", token.as_str()), ("username", "x"), ("password", "short"), ("roles", "wizard")];
    let res = post_form(&app, "/admin/users", &admin, &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for field in ["username", "password", "roles"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: {html}");
    }
    let good =
        [("csrf_token", token.as_str()), ("username", "nina"), ("password", PASSWORD), ("roles", "operator")];
    let res = post_form(&app, "/admin/users", &admin, &good).await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/admin?created="), "{location}");
    assert!(page(&app, &location, &admin).await.text().await.unwrap().contains("Created the user nina."));
    let html = page(&app, "/admin?created=Your+session+expired", &admin).await.text().await.unwrap();
    assert!(!html.contains("Created the user") && !html.contains("session expired"), "no text from the link");
    let nina = app.login_ok("nina").await;
    let me: Value = app.get("/api/v1/users/me", Some(&nina.access)).await.json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["operator"]));

    // Expiring olga signs her out of the pages at once.
    let res =
        post_form(&app, &format!("/admin/users/{olga_id}/expire"), &admin, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(page(&app, "/dashboard", &plain).await.status(), StatusCode::SEE_OTHER);
    drop(boss);
}

async fn the_account_forms_change_profile_and_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("walker").await;
    let elsewhere = app.login_ok("walker").await;
    let cookie = signed_in(&app, "walker").await;
    let token = page_token(&app, &cookie).await;

    let bad = [
        ("csrf_token", token.as_str()),
        ("name", "Walker"),
        ("email", "not an address"),
        ("new_key", "city"),
        ("new_value", "Turku"),
    ];
    let res = post_form(&app, "/account/profile", &cookie, &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("id=\"email-error\""));
    let me: Value = app.get("/api/v1/users/me", Some(&elsewhere.access)).await.json().await.unwrap();
    assert_eq!((me["name"].as_str(), me["profile"].get("city")), (Some(""), None), "nothing changed");

    let good = [
        ("csrf_token", token.as_str()),
        ("name", "Walker"),
        ("email", "w@example.com"),
        ("new_key", "city"),
        ("new_value", "Turku"),
    ];
    let res = post_form(&app, "/account/profile", &cookie, &good).await;
    assert_eq!(res.headers()["location"], "/account?saved=profile");
    let me: Value = app.get("/api/v1/users/me", Some(&elsewhere.access)).await.json().await.unwrap();
    assert_eq!(
        (me["name"].as_str(), me["email"].as_str(), me["profile"]["city"].as_str()),
        (Some("Walker"), Some("w@example.com"), Some("Turku"))
    );
    let html = page(&app, "/account", &cookie).await.text().await.unwrap();
    assert!(html.contains("value=\"Turku\""), "{html}");
    // Fields written through the API with names the form would not take, or several
    // lines, stay as they are; a bad new field is named with every other mistake.
    let long = "k".repeat(80);
    let odd = serde_json::json!({"profile": {"city": "Turku", " padded": "x", "note": "two\nlines", long.clone(): "long"}});
    assert_eq!(app.patch_json("/api/v1/users/me", &odd, &elsewhere.access).await.status(), StatusCode::OK);
    let html = page(&app, "/account", &cookie).await.text().await.unwrap();
    assert!(!html.contains("value=\"two"), "several lines are shown, not edited: {html}");
    let keep = [
        ("csrf_token", token.as_str()),
        ("name", "Walker 2"),
        ("email", "w@example.com"),
        ("profile_key", "city"),
        ("profile_value", "Oulu"),
        ("profile_key", " padded"),
        ("profile_value", "y"),
        ("profile_key", &long),
        ("profile_value", "long"),
    ];
    let res = post_form(&app, "/account/profile", &cookie, &keep).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let me: Value = app.get("/api/v1/users/me", Some(&elsewhere.access)).await.json().await.unwrap();
    assert_eq!(
        (me["profile"]["city"].as_str(), me["profile"][" padded"].as_str()),
        (Some("Oulu"), Some("y"))
    );
    assert_eq!((me["profile"]["note"].as_str(), me["name"].as_str()), (Some("two\nlines"), Some("Walker 2")));
    let too_long = "x".repeat(65);
    let both = [
        ("csrf_token", token.as_str()),
        ("name", "Walker"),
        ("email", "nope"),
        ("new_key", &too_long),
        ("new_value", "v"),
    ];
    let res = post_form(&app, "/account/profile", &cookie, &both).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"email-error\"") && html.contains("id=\"new_key-error\""), "{html}");
    assert!(html.contains("value=\"nope\""), "what was typed is kept");
    let reset = serde_json::json!({"profile": {"city": "Turku"}});
    app.patch_json("/api/v1/users/me", &reset, &elsewhere.access).await;

    // Emptying a field removes it.
    let clear = [
        ("csrf_token", token.as_str()),
        ("name", "Walker"),
        ("email", "w@example.com"),
        ("profile_key", "city"),
        ("profile_value", ""),
    ];
    post_form(&app, "/account/profile", &cookie, &clear).await;
    let me: Value = app.get("/api/v1/users/me", Some(&elsewhere.access)).await.json().await.unwrap();
    assert_eq!(me["profile"], serde_json::json!({}));

    // A wrong current password changes nothing; the right one ends every other session.
    let new = "a different long passphrase";
    let wrong = [("csrf_token", token.as_str()), ("current_password", "nope"), ("new_password", new)];
    let res = post_form(&app, "/account/password", &cookie, &wrong).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("id=\"current_password-error\""));
    assert_eq!(app.login("walker", PASSWORD).await.status(), StatusCode::OK);
    let right = [("csrf_token", token.as_str()), ("current_password", PASSWORD), ("new_password", new)];
    let res = post_form(&app, "/account/password", &cookie, &right).await;
    assert_eq!(res.headers()["location"], "/account?saved=password");
    assert_eq!(app.login("walker", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("walker", new).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/users/me", Some(&elsewhere.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        page(&app, "/account", &cookie).await.status(),
        StatusCode::OK,
        "this browser stays signed in"
    );
}
