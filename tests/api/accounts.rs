//! Registration, login, the `me` endpoints and password changes.

use hallpass::params;
use hallpass::store::Sql;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    register_login_and_me,
    forms_are_accepted,
    registration_validates_every_field,
    usernames_are_unique_case_insensitively,
    e_mail_shaped_usernames_never_capture_an_address,
    patch_me_edits_only_editable_fields,
    password_change_ends_other_sessions,
    closing_the_account_ends_access,
    legacy_hashes_are_upgraded_on_login,
    closed_registration_is_refused,
);

async fn register_login_and_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .post_json("/api/v1/auth/register", &json!({"username": "Alice", "password": PASSWORD, "email": "Alice@Example.com", "name": "Alice A."}), None)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["username"], "Alice");
    assert_eq!(body["user"]["roles"], json!(["user"]));
    assert_eq!(body["user"]["email"], "Alice@Example.com");
    let text = body.to_string();
    assert!(!text.contains("argon2") && !text.contains("password"), "no hash or password in {text}");

    // Username any case, or e-mail.
    for login in ["alice", "ALICE", "alice@example.com"] {
        let res = app.login(login, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "login as {login}");
        let tokens: Value = res.json().await.unwrap();
        assert!(tokens["session_id"].is_string());
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("hpr_"));
    }
    let tokens = app.login_ok("alice").await;
    let me: Value = app.get("/api/v1/users/me", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!(me["username"], "Alice");
    assert_eq!(me["name"], "Alice A.");
    assert_eq!(me["profile"], json!({}));

    let res = app.get("/api/v1/auth/verify", Some(&tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let verify: Value = res.json().await.unwrap();
    assert_eq!(verify["valid"], true);
    assert_eq!(verify["user_id"], me["id"]);
    assert_eq!(verify["session_id"], tokens.session_id.as_str());
    assert!(verify["expires_at"].as_str().unwrap().ends_with('Z'));

    assert_problem(app.get("/api/v1/users/me", None).await, StatusCode::UNAUTHORIZED, "unauthenticated")
        .await;
}

async fn forms_are_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .form(&[("username", "formuser"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .form(&[("username", "formuser"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn registration_validates_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({"username": "bob", "password": "password123"}), "password", "common"),
        (json!({"username": "bob", "password": "short"}), "password", "at least 8"),
        (json!({"username": "bob", "password": "x".repeat(129)}), "password", "at most 128"),
        (json!({"username": "bobby", "password": "my bobby is the best"}), "password", "username"),
        (json!({"username": "b", "password": PASSWORD}), "username", "3 to 64"),
        (json!({"username": "bob", "password": PASSWORD, "email": "nope"}), "email", "e-mail"),
        (json!({"username": "bob"}), "password", "missing"),
        (json!({"username": "bob", "password": PASSWORD, "roles": ["admin"]}), "roles", "unknown field"),
        (json!({"username": 5, "password": PASSWORD}), "username", "invalid type"),
    ];
    for (body, field, message) in cases {
        let res = app.post_json("/api/v1/auth/register", &body, None).await;
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let errors = problem["errors"].as_array().expect("errors");
        assert!(
            errors.iter().any(|e| e["field"] == field && e["message"].as_str().unwrap().contains(message)),
            "{body} → {problem}"
        );
    }
    // Nothing was stored: the name is still free.
    app.register("bob").await;
}

async fn usernames_are_unique_case_insensitively(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.post_json(
        "/api/v1/auth/register",
        &json!({"username": "carol", "password": PASSWORD, "email": "c@example.com"}),
        None,
    )
    .await;
    let res = app
        .post_json("/api/v1/auth/register", &json!({"username": "CAROL", "password": PASSWORD}), None)
        .await;
    assert_problem(res, StatusCode::CONFLICT, "username_taken").await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "carol2", "password": PASSWORD, "email": "C@EXAMPLE.COM"}),
            None,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "email_taken").await;
}

async fn patch_me_edits_only_editable_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("dave").await;
    let other = app.register("erin").await;
    let patch = |body: Value| {
        let app = &app;
        let token = tokens.access.clone();
        async move {
            app.client.patch(app.url("/api/v1/users/me")).bearer_auth(token).json(&body).send().await.unwrap()
        }
    };
    let res =
        patch(json!({"name": "Dave D.", "email": "dave@example.com", "profile": {"city": "Oulu"}})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!((me["name"].as_str(), me["email"].as_str()), (Some("Dave D."), Some("dave@example.com")));
    assert_eq!(me["profile"], json!({"city": "Oulu"}));
    assert_eq!(me["updated_by"], me["id"]);

    for field in ["roles", "id", "attributes", "created_at", "password"] {
        let res = patch(json!({ field: ["admin"] })).await;
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let res = patch(json!({"profile": {"big": "x".repeat(17 * 1024)}})).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = patch(json!({"username": "ERIN"})).await;
    assert_problem(res, StatusCode::CONFLICT, "username_taken").await;
    let res = patch(json!({"email": null})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["email"], Value::Null);

    let me: Value = app.get("/api/v1/users/me", Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(me["username"], "dave");
    let erin: Value = app.get("/api/v1/users/me", Some(&other.access)).await.json().await.unwrap();
    assert_eq!(erin["username"], "erin");
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("frank").await;
    let second = app.login_ok("frank").await;
    let change = |current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        let (app, token) = (&app, first.access.clone());
        async move { app.post_json("/api/v1/users/me/password", &body, Some(&token)).await }
    };
    let problem = assert_problem(
        change("wrong password here", "a new long passphrase").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "current_password");
    let problem = assert_problem(
        change(PASSWORD, "password1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "new_password");

    assert_eq!(change(PASSWORD, "a new long passphrase").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/users/me", Some(&first.access)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/users/me", Some(&second.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&second.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("frank", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("frank", "a new long passphrase").await.status(), StatusCode::OK);
}

async fn closing_the_account_ends_access(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("gina").await;
    let res =
        app.client.delete(app.url("/api/v1/users/me")).bearer_auth(&tokens.access).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("/api/v1/users/me", Some(&tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::UNAUTHORIZED);
    let res = app.login("gina", PASSWORD).await;
    assert!(res.headers().contains_key("www-authenticate"));
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn legacy_hashes_are_upgraded_on_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legacy = [
        ("bcrypt_user", bcrypt::hash("old bcrypt passphrase", 4).unwrap(), "old bcrypt passphrase"),
        (
            "django_user",
            "pbkdf2_sha256$30000$seasalt$VrX+V8drCGo68wlvy6rfu8i1d1pfkdeXA4LJkRGJodY=".to_owned(),
            "lètmein",
        ),
    ];
    for (username, hash, password) in legacy {
        let user_id = app.register(username).await.user_id.unwrap();
        let update = Sql::dynamic("UPDATE users SET password_hash = $1 WHERE id = $2");
        app.state.db.execute(update, params![&hash, &user_id]).await.unwrap();
        assert_eq!(app.login(username, "not it at all").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login(username, password).await.status(), StatusCode::OK, "{username}");
        let read = Sql::dynamic("SELECT password_hash FROM users WHERE id = $1");
        let stored: String = app.state.db.read_optional(read, params![&user_id]).await.unwrap().unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert_eq!(app.login(username, password).await.status(), StatusCode::OK);
    }
}

async fn closed_registration_is_refused(backend: Backend) {
    let options = crate::helpers::Options::default().arg("--registration-open", "false");
    let app = TestApp::spawn_with(backend, options).await;
    let res = app
        .post_json("/api/v1/auth/register", &json!({"username": "henry", "password": PASSWORD}), None)
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn e_mail_shaped_usernames_never_capture_an_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Older systems named accounts by e-mail address: such names work.
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "Amichay.Oren+3970@gmail.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.login("amichay.oren+3970@GMAIL.com", PASSWORD).await.status(), StatusCode::OK);
    // But no account's username may be another's address, nor the reverse.
    let body = json!({"username": "eve", "password": PASSWORD, "email": "victim@example.com"});
    assert_eq!(app.post_json("/api/v1/auth/register", &body, None).await.status(), StatusCode::CREATED);
    let squat = json!({"username": "Victim@example.com", "password": PASSWORD});
    let res = app.post_json("/api/v1/auth/register", &squat, None).await;
    assert_problem(res, StatusCode::CONFLICT, "username_taken").await;
    let squat = json!({"username": "zed", "password": PASSWORD, "email": "AMICHAY.oren+3970@gmail.com"});
    let res = app.post_json("/api/v1/auth/register", &squat, None).await;
    assert_problem(res, StatusCode::CONFLICT, "email_taken").await;
    let zed = app.register("zed").await;
    let res =
        app.patch_json("/api/v1/users/me", &json!({"username": "victim@example.com"}), &zed.access).await;
    assert_problem(res, StatusCode::CONFLICT, "username_taken").await;
    // One's own address as one's own username is fine.
    let res = app.patch_json("/api/v1/users/me", &json!({"email": "zed@example.com"}), &zed.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.patch_json("/api/v1/users/me", &json!({"username": "zed@example.com"}), &zed.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.login("zed@example.com", PASSWORD).await.status(), StatusCode::OK);
}
