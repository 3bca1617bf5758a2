//! One operation, one transaction: bad input changes nothing, a failure part-way
//! leaves no partial state, and the last-administrator rule holds under concurrency.

use hallpass::params;
use hallpass::store::Sql;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    a_mixed_valid_and_invalid_patch_changes_nothing,
    a_failure_after_the_first_write_leaves_nothing_behind,
    two_admins_demoting_each_other_leave_one_admin
);

async fn admin(app: &TestApp, name: &str) -> (String, String) {
    let tokens = app.register(name).await;
    let id = tokens.user_id.clone().unwrap();
    app.grant_roles(&id, &["admin"]).await;
    (id, app.login_ok(name).await.access)
}

async fn a_mixed_valid_and_invalid_patch_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, root) = admin(&app, "root").await;
    let ada = app.register("ada").await;
    let path = format!("/api/v1/users/{}", ada.user_id.as_deref().unwrap());
    let before: Value = app.get(&path, Some(&root)).await.json().await.unwrap();
    let res = app.patch_json(&path, &json!({"name": "x", "password": "short"}), &root).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "password", "{problem}");
    let res = app.patch_json(&path, &json!({"name": "x", "attributes": [1], "email": "nope"}), &root).await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "attributes and email: {problem}");
    let after: Value = app.get(&path, Some(&root)).await.json().await.unwrap();
    assert_eq!(before, after, "nothing changed");
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK, "the password is the old one");
    // Taken usernames are refused the same way: nothing else of the edit lands.
    let res = app.patch_json(&path, &json!({"name": "Ada L", "username": "root"}), &root).await;
    assert_problem(res, StatusCode::CONFLICT, "username_taken").await;
    let after: Value = app.get(&path, Some(&root)).await.json().await.unwrap();
    assert_eq!(before, after);
}

/// Makes every audit write fail: the last write of each operation below.
async fn break_the_audit_log(app: &TestApp, backend: Backend) {
    let statements: &[&str] = match backend {
        Backend::Sqlite => {
            &["CREATE TRIGGER injected BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'injected'); END"]
        }
        Backend::Postgres => &[
            "CREATE FUNCTION injected() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER injected BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION injected()",
        ],
    };
    for sql in statements {
        app.state.db.execute_script(sql).await.unwrap();
    }
}

async fn count(app: &TestApp, sql: &str) -> u64 {
    app.state.db.count(Sql::dynamic(sql), &[]).await.unwrap()
}

async fn a_failure_after_the_first_write_leaves_nothing_behind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let kim = app.register("kim").await;
    let sessions = "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL";
    let (users_before, sessions_before) =
        (count(&app, "SELECT COUNT(*) FROM users").await, count(&app, sessions).await);
    break_the_audit_log(&app, backend).await;

    // Register: the user row, its roles and its session are written before the audit row.
    let res =
        app.post_json("/api/v1/auth/register", &json!({"username": "lee", "password": PASSWORD}), None).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, users_before, "no user");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM user_roles WHERE user_id NOT IN (SELECT id FROM users)").await,
        0
    );

    // Login: the session is written before the audit row.
    assert_eq!(app.login("kim", PASSWORD).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(count(&app, sessions).await, sessions_before, "no session");

    // Password change: the new hash and the ended sessions come before the audit row.
    let other = {
        let res = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": kim.refresh}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "refresh writes no audit row");
        res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    };
    let body = json!({"current_password": PASSWORD, "new_password": "an entirely new passphrase"});
    let res = app.post_json("/api/v1/users/me/password", &body, Some(&other)).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(count(&app, sessions).await, sessions_before, "no session ended");
    let hash_unchanged = "SELECT COUNT(*) FROM users WHERE username = 'kim' AND updated_by IS NULL";
    assert_eq!(count(&app, hash_unchanged).await, 1, "the password was not changed");
    assert_eq!(app.get("/api/v1/users/me", Some(&other)).await.status(), StatusCode::OK);
}

async fn two_admins_demoting_each_other_leave_one_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for round in 0..6 {
        let (a_id, a) = admin(&app, &format!("ann{round}")).await;
        let (b_id, b) = admin(&app, &format!("bob{round}")).await;
        // Everyone else who is an admin steps down first, so these two are the last.
        let admins = "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id
                      WHERE r.role = 'admin' AND u.expired_at IS NULL";
        if round > 0 {
            let others = Sql::dynamic(
                "DELETE FROM user_roles WHERE role = 'admin' AND user_id <> $1 AND user_id <> $2",
            );
            app.state.db.execute(others, params![&a_id, &b_id]).await.unwrap();
        }
        assert_eq!(count(&app, admins).await, 2);
        let demote = |token: &str, id: &str| {
            app.client
                .put(app.url(&format!("/api/v1/users/{id}/roles")))
                .bearer_auth(token)
                .json(&json!({"roles": ["user"]}))
                .send()
        };
        let (first, second) = tokio::join!(demote(&a, &b_id), demote(&b, &a_id));
        let mut statuses = [first.unwrap().status(), second.unwrap().status()];
        statuses.sort();
        // The loser is refused: 409 when both checks overlapped, 403 when the winner
        // had already committed and the loser is no longer an administrator.
        assert_eq!(statuses[0], StatusCode::OK, "round {round}: {statuses:?}");
        assert!(
            matches!(statuses[1], StatusCode::CONFLICT | StatusCode::FORBIDDEN),
            "round {round}: {statuses:?}"
        );
        assert_eq!(count(&app, admins).await, 1, "round {round}: one administrator is left");
    }
}
