//! User management, API tokens and the audit log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;
use crate::permissions::World;

on_both_backends!(
    role_changes_and_expiry_apply_to_the_next_request,
    api_tokens_are_scoped_shown_once_and_revocable,
    managers_see_plain_users_and_admins_everyone,
    user_edits_follow_the_rules,
    the_last_administrator_stays,
    audit_log_records_security_events_without_secrets,
    roles_can_be_added_by_configuration,
);

async fn role_changes_and_expiry_apply_to_the_next_request(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let alice = w.id("alice").to_owned();
    assert_eq!(app.get("/api/v1/users", Some(&w.alice.access)).await.status(), StatusCode::FORBIDDEN);
    let res = app
        .put_json(
            &format!("/api/v1/users/{alice}/roles"),
            &json!({"roles": ["manager", "user"]}),
            &w.root.access,
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["roles"], json!(["manager", "user"]));
    // Same access token, same API token: the new role counts at once.
    assert_eq!(app.get("/api/v1/users", Some(&w.alice.access)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/users", Some(&w.alice_api_token)).await.status(), StatusCode::OK);
    app.put_json(&format!("/api/v1/users/{alice}/roles"), &json!({"roles": ["user"]}), &w.root.access).await;
    assert_eq!(app.get("/api/v1/users", Some(&w.alice.access)).await.status(), StatusCode::FORBIDDEN);

    let res = app
        .put_json(&format!("/api/v1/users/{alice}/roles"), &json!({"roles": ["wizard"]}), &w.root.access)
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(problem["detail"].as_str().unwrap().contains("wizard"));
    let res = app
        .put_json(&format!("/api/v1/users/{alice}/roles"), &json!({"roles": ["admin"]}), &w.mia.access)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Expiry: every credential dies on the next request, and a second expiry is 404.
    assert_eq!(
        app.delete(&format!("/api/v1/users/{alice}"), &w.mia.access).await.status(),
        StatusCode::NO_CONTENT
    );
    for credential in [&w.alice.access, &w.alice_api_token] {
        assert_eq!(app.get("/api/v1/users/me", Some(credential)).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.refresh(&w.alice.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.delete(&format!("/api/v1/users/{alice}"), &w.mia.access).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/v1/users/{alice}"), &w.root.access).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn api_tokens_are_scoped_shown_once_and_revocable(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let create = |body: Value, credential: String| async move {
        app.post_json("/api/v1/tokens", &body, Some(&credential)).await
    };
    let res = create(json!({"name": "read only", "scopes": ["profile:read"]}), w.alice.access.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hp_") && secret.len() >= 46, "{secret}");
    assert_eq!(created["scopes"], json!(["profile:read"]));
    assert_eq!(created["last_used_at"], Value::Null);

    // `Token` and `Bearer` both work; scopes narrow what the token may do.
    let res = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("authorization", format!("Token {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // `me` says what the caller may do: the role's permissions, narrowed by a token's scopes.
    let me: Value = app.get("/api/v1/users/me", Some(&secret)).await.json().await.unwrap();
    assert_eq!((me["username"].as_str(), &me["permissions"]), (Some("alice"), &json!(["profile:read"])));
    let me: Value = app.get("/api/v1/users/me", Some(&w.alice.access)).await.json().await.unwrap();
    let permissions: Vec<&str> =
        me["permissions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(permissions.contains(&"profile:write") && permissions.contains(&"runs:write"), "{permissions:?}");
    assert!(!permissions.contains(&"users:read"), "a plain user manages no one: {permissions:?}");
    let me: Value = app.get("/api/v1/users/me", Some(&w.root.access)).await.json().await.unwrap();
    assert!(me["permissions"].as_array().unwrap().contains(&json!("users:admin")));
    let res = app.patch_json("/api/v1/users/me", &json!({"name": "x"}), &secret).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Tokens cannot mint tokens or change passwords.
    assert_eq!(
        create(json!({"name": "child"}), w.alice_api_token.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    let body = json!({"current_password": PASSWORD, "new_password": "another long passphrase"});
    assert_eq!(
        app.post_json("/api/v1/users/me/password", &body, Some(&w.alice_api_token)).await.status(),
        StatusCode::FORBIDDEN
    );

    let bad = [
        (json!({"name": "x", "scopes": ["users:admin"]}), StatusCode::FORBIDDEN),
        (json!({"name": "x", "scopes": ["profile:reed"]}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "x", "scopes": []}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "x", "expires_at": "tomorrow"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "x", "user_id": w.id("bob")}), StatusCode::FORBIDDEN),
    ];
    for (body, status) in bad {
        assert_eq!(create(body.clone(), w.alice.access.clone()).await.status(), status, "{body}");
    }

    // The secret is never shown again; use is recorded.
    let list: Value = app.get("/api/v1/tokens", Some(&w.alice.access)).await.json().await.unwrap();
    assert_eq!(list["total"], 2);
    assert!(list["items"].as_array().unwrap().iter().all(|t| t.get("token").is_none()));
    let used = list["items"].as_array().unwrap().iter().find(|t| t["id"] == created["id"]).unwrap();
    assert!(used["last_used_at"].is_string(), "{used}");
    assert!(!list.to_string().contains(&secret));
    assert_eq!(
        app.get(&format!("/api/v1/tokens?user_id={}", w.id("bob")), Some(&w.alice.access)).await.status(),
        StatusCode::FORBIDDEN
    );

    // Admins make tokens for service users and see them.
    let bob = w.id("bob");
    let res = create(
        json!({"name": "service", "user_id": bob, "expires_at": "2099-01-01T00:00:00Z"}),
        w.root.access.clone(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let service: Value = res.json().await.unwrap();
    assert_eq!(service["user_id"], bob);
    let bobs: Value =
        app.get(&format!("/api/v1/tokens?user_id={bob}"), Some(&w.root.access)).await.json().await.unwrap();
    assert_eq!(bobs["total"], 1);
    let me: Value =
        app.get("/api/v1/users/me", Some(service["token"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(me["username"], "bob");

    // Revocation counts on the next request; someone else's token is 404.
    let path = format!("/api/v1/tokens/{}", created["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, &w.bob.access).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&path, &w.alice.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/users/me", Some(&secret)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete(&path, &w.alice.access).await.status(), StatusCode::NOT_FOUND);

    // Expiring tokens expire.
    let res = create(
        json!({"name": "short", "expires_at": hallpass::clock::rfc3339(app.clock_now() + 60)}),
        w.alice.access.clone(),
    )
    .await;
    let short = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/users/me", Some(&short)).await.status(), StatusCode::OK);
    app.clock.advance(61);
    assert_eq!(app.get("/api/v1/users/me", Some(&short)).await.status(), StatusCode::UNAUTHORIZED);
}

async fn managers_see_plain_users_and_admins_everyone(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let names = |page: Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
    };
    let as_manager: Value =
        app.get("/api/v1/users?sort=username", Some(&w.mia.access)).await.json().await.unwrap();
    assert_eq!(names(as_manager.clone()), vec!["alice", "bob", "olly"]);
    assert_eq!(as_manager["total"], 3);
    let as_admin: Value =
        app.get("/api/v1/users?sort=-username", Some(&w.root.access)).await.json().await.unwrap();
    assert_eq!(names(as_admin), vec!["root", "olly", "mia", "bob", "alice"]);
    let paged: Value = app
        .get("/api/v1/users?sort=username&count=2&page=1", Some(&w.root.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(paged.clone()), vec!["mia", "olly"]);
    assert_eq!(
        (paged["total"].as_u64(), paged["count"].as_u64(), paged["page"].as_u64()),
        (Some(5), Some(2), Some(1))
    );

    // Expired users only on request, and only for admins.
    app.delete(&format!("/api/v1/users/{}", w.id("bob")), &w.root.access).await;
    let active: Value = app.get("/api/v1/users", Some(&w.root.access)).await.json().await.unwrap();
    assert_eq!(active["total"], 4);
    let all: Value =
        app.get("/api/v1/users?include_expired=true", Some(&w.root.access)).await.json().await.unwrap();
    assert_eq!(all["total"], 5);
    let res = app.get("/api/v1/users?include_expired=true", Some(&w.mia.access)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let bob: Value =
        app.get(&format!("/api/v1/users/{}", w.id("bob")), Some(&w.root.access)).await.json().await.unwrap();
    assert!(bob["expired_at"].is_string());
    assert_eq!(
        app.get(&format!("/api/v1/users/{}", w.id("bob")), Some(&w.mia.access)).await.status(),
        StatusCode::NOT_FOUND
    );

    for bad in
        ["page=-1", "count=0", "count=abc", "count=1001", "sort=password_hash", "include_expired=maybe"]
    {
        let res = app.get(&format!("/api/v1/users?{bad}"), Some(&w.root.access)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn user_edits_follow_the_rules(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let bob = format!("/api/v1/users/{}", w.id("bob"));
    for field in ["roles", "id", "created_at", "updated_at", "expired_at"] {
        let res = app.patch_json(&bob, &json!({ field: "x" }), &w.root.access).await;
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    // Seed 001's genetic result and policy: admins write them, the user reads them.
    let attributes = json!({"genetic_result": {"DNA": "XY"}, "policy": "A1B2C3D4"});
    let res =
        app.patch_json(&bob, &json!({"attributes": attributes, "name": "Bob B."}), &w.root.access).await;
    let edited: Value = res.json().await.unwrap();
    assert_eq!(edited["attributes"], attributes);
    assert_eq!(edited["updated_by"], w.id("root"));
    let own: Value = app.get("/api/v1/users/me", Some(&w.bob.access)).await.json().await.unwrap();
    assert_eq!(own["attributes"], attributes);
    let res = app
        .patch_json(&format!("/api/v1/users/{}", w.id("bob")), &json!({"attributes": {}}), &w.bob.access)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "users cannot edit their attributes");
    let res = app.patch_json(&bob, &json!({"password": "a brand new passphrase"}), &w.mia.access).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "managers cannot set passwords");

    // An admin resets a password: that user's sessions end.
    let res = app.patch_json(&bob, &json!({"password": "password"}), &w.root.access).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.patch_json(&bob, &json!({"password": "a brand new passphrase"}), &w.root.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/users/me", Some(&w.bob.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("bob", "a brand new passphrase").await.status(), StatusCode::OK);

    // Managers create plain users only, and cannot reach beyond them.
    let res = app
        .post_json(
            "/api/v1/users",
            &json!({"username": "newbie", "password": PASSWORD, "roles": ["operator"]}),
            Some(&w.mia.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post_json(
            "/api/v1/users",
            &json!({"username": "newbie2", "password": PASSWORD, "roles": ["ghost"]}),
            Some(&w.root.access),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post_json(
            "/api/v1/users",
            &json!({"username": "NEWBIE", "password": PASSWORD}),
            Some(&w.root.access),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "username_taken").await;
    let root = format!("/api/v1/users/{}", w.id("root"));
    assert_eq!(
        app.patch_json(&root, &json!({"name": "x"}), &w.mia.access).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn the_last_administrator_stays(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let root = w.id("root");
    let res = app
        .put_json(&format!("/api/v1/users/{root}/roles"), &json!({"roles": ["user"]}), &w.root.access)
        .await;
    assert_problem(res, StatusCode::CONFLICT, "last_admin").await;
    assert_problem(
        app.delete(&format!("/api/v1/users/{root}"), &w.root.access).await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
    assert_problem(app.delete("/api/v1/users/me", &w.root.access).await, StatusCode::CONFLICT, "last_admin")
        .await;
    // With a second administrator, the first may step down.
    let mia = w.id("mia");
    app.put_json(&format!("/api/v1/users/{mia}/roles"), &json!({"roles": ["admin"]}), &w.root.access).await;
    let res = app
        .put_json(&format!("/api/v1/users/{root}/roles"), &json!({"roles": ["user"]}), &w.root.access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn audit_log_records_security_events_without_secrets(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    assert_eq!(app.login("alice", "not the password at all").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("nobody-at-all", "not the password at all").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.post_json("/api/v1/auth/logout", &json!({}), Some(&app.login_ok("bob").await.access)).await;
    let first = app.login_ok("alice").await;
    let second =
        serde_json::from_value::<Value>(app.refresh(&first.refresh).await.json().await.unwrap()).unwrap();
    app.clock.advance(30);
    assert_eq!(app.refresh(&first.refresh).await.status(), StatusCode::UNAUTHORIZED, "reuse");

    let res = app.get("/api/v1/audit?count=100", Some(&w.root.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let audit: Value = serde_json::from_str(&text).unwrap();
    let items = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "login.failed",
        "login.succeeded",
        "logout",
        "refresh.reused",
        "roles.changed",
        "token.created",
        "external.linked",
        "user.created",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let failed: Vec<&Value> = items.iter().filter(|e| e["action"] == "login.failed").collect();
    let tried: Vec<&str> = failed.iter().map(|e| e["details"]["username"].as_str().unwrap()).collect();
    assert!(tried.contains(&"alice") && tried.contains(&"nobody-at-all"), "{tried:?}");
    assert_eq!(failed[0]["ip"], "127.0.0.1");
    let roles = items.iter().find(|e| e["action"] == "roles.changed").unwrap();
    assert_eq!(roles["actor_id"], w.id("root"));
    assert_eq!(roles["target_id"], w.id("mia"));
    // Newest first.
    let times: Vec<&str> = items.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]));
    assert_eq!(items[0]["action"], "refresh.reused");
    for secret in [
        PASSWORD,
        "not the password at all",
        &w.alice_api_token,
        &first.refresh,
        second["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "the audit log shows a secret");
    }
    let page: Value =
        app.get("/api/v1/audit?count=2&page=1&total=false", Some(&w.root.access)).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["id"], items[2]["id"]);
}

async fn roles_can_be_added_by_configuration(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, Options::default().role("auditor", &["audit:read", "profile:read"]))
            .await;
    let root = app.register("root").await;
    let root_id = root.user_id.clone().unwrap();
    app.grant_roles(&root_id, &["admin"]).await;
    let ada = app.register("ada").await;
    let res = app
        .put_json(
            &format!("/api/v1/users/{}/roles", ada.user_id.unwrap()),
            &json!({"roles": ["auditor"]}),
            &root.access,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/audit", Some(&ada.access)).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/users", Some(&ada.access)).await.status(), StatusCode::FORBIDDEN);
    let res = app.patch_json("/api/v1/users/me", &json!({"name": "Ada"}), &ada.access).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "auditors were not given profile:write");
}
