//! `/runs` over HTTP: the table and its filter, adding, editing, deleting and
//! importing through forms — each checked like the API's, and someone else's run
//! out of reach.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use crate::pages::{page, page_token, post_form, signed_in};

on_both_backends!(
    runs_are_added_edited_and_deleted_through_forms,
    another_users_run_is_not_found,
    csv_import_through_the_form
);

async fn runs_of(app: &TestApp, access: &str) -> Vec<Value> {
    let page: Value = app.get("/api/v1/runs?count=100", Some(access)).await.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

async fn runs_are_added_edited_and_deleted_through_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("walker").await;
    let cookie = signed_in(&app, "walker").await;
    let token = page_token(&app, &cookie).await;

    // Every wrong field is named beside its input, and nothing is stored.
    let bad = [
        ("csrf_token", token.as_str()),
        ("date", "2026-02-30"),
        ("distance", "-3"),
        ("time", "1:75:00"),
        ("location", "north"),
        ("notes", ""),
    ];
    let res = post_form(&app, "/runs", &cookie, &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for field in ["date", "distance", "time", "location"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field} named: {html}");
    }
    assert!(html.contains("value=\"north\""), "what was typed is kept");
    assert!(runs_of(&app, &tokens.access).await.is_empty());
    // Without the form's token: 403 and nothing stored.
    let good = [
        ("date", "2026-03-02"),
        ("distance", "10,5"),
        ("time", "0:52:30"),
        ("location", "60.17 24.94"),
        ("notes", "easy"),
    ];
    let res = post_form(&app, "/runs", &cookie, &good).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(runs_of(&app, &tokens.access).await.is_empty());

    let mut fields = good.to_vec();
    fields.push(("csrf_token", &token));
    let res = post_form(&app, "/runs", &cookie, &fields).await;
    assert_eq!(
        (res.status(), res.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/runs?saved=added")
    );
    let runs = runs_of(&app, &tokens.access).await;
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0]["distance"].as_f64(), runs[0]["time"].as_f64()), (Some(10500.0), Some(3150.0)));
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    let html = page(&app, "/runs?saved=added", &cookie).await.text().await.unwrap();
    assert!(
        html.contains("Run added.")
            && html.contains("<td>2026-03-02</td><td>10.50</td><td>0:52:30</td><td>5:00 /km</td>"),
        "{html}"
    );

    // The edit form holds the run in people's units; saving replaces it.
    let html = page(&app, &format!("/runs/{id}/edit"), &cookie).await.text().await.unwrap();
    assert!(html.contains("value=\"10.5\"") && html.contains("value=\"0:52:30\""), "{html}");
    let edited = [
        ("csrf_token", token.as_str()),
        ("date", "2026-03-02"),
        ("distance", "12"),
        ("time", "1:00:00"),
        ("location", "60.17 24.94"),
        ("notes", "longer"),
    ];
    let res = post_form(&app, &format!("/runs/{id}/edit"), &cookie, &edited).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let run: Value = app.get(&format!("/api/v1/runs/{id}"), Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!((run["distance"].as_f64(), run["notes"].as_str()), (Some(12000.0), Some("longer")));

    // The table filters, marks a bad filter where it goes wrong, and sorts.
    let html = page(&app, "/runs?filter=distance+gt+20000", &cookie).await.text().await.unwrap();
    assert!(html.contains("No runs match this filter."));
    let res = page(&app, "/runs?filter=distance+gt+%27far%27", &cookie).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"filter-error\"") && html.contains("character 13"), "{html}");
    assert!(html.contains("<code>distance gt <mark>&#39;</mark>far&#39;</code>"), "{html}");
    let html = page(&app, "/runs?sort=distance", &cookie).await.text().await.unwrap();
    assert!(html.contains("aria-sort=\"ascending\"><a href=\"/runs?sort=-distance\">"), "{html}");

    // Notes over several lines (a browser sends CRLF) are kept; saving the form as it
    // was shown rounds nothing.
    let precise = json!({"distance": 5123.4, "time": 1500.5, "notes": "hills\nthen flat"});
    assert_eq!(
        app.patch_json(&format!("/api/v1/runs/{id}"), &precise, &tokens.access).await.status(),
        StatusCode::OK
    );
    let html = page(&app, &format!("/runs/{id}/edit"), &cookie).await.text().await.unwrap();
    assert!(html.contains("value=\"5.123\"") && html.contains("value=\"0:25:01\""), "{html}");
    let unchanged = [
        ("csrf_token", token.as_str()),
        ("date", "2026-03-02"),
        ("distance", "5.123"),
        ("time", "0:25:01"),
        ("location", "60.17 24.94"),
        ("notes", "hills\r\nthen flat\r\nand home"),
    ];
    let res = post_form(&app, &format!("/runs/{id}/edit"), &cookie, &unchanged).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let run: Value = app.get(&format!("/api/v1/runs/{id}"), Some(&tokens.access)).await.json().await.unwrap();
    assert_eq!((run["distance"].as_f64(), run["time"].as_f64()), (Some(5123.4), Some(1500.5)));
    assert_eq!(run["notes"], "hills\nthen flat\nand home");

    // Pace ascends as speed falls; a query with repeated or odd values is still a page.
    let html = page(&app, "/runs?sort=-speed", &cookie).await.text().await.unwrap();
    assert!(html.contains("aria-sort=\"ascending\"><a href=\"/runs?sort=speed\">Pace"), "{html}");
    let res = page(&app, "/runs?filter=a&filter=b&imported=x&page=-1", &cookie).await;
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{:?}", res.headers());
    // A bad sort is not carried on by the filter box.
    let html = page(&app, "/runs?sort=nope", &cookie).await.text().await.unwrap();
    assert!(html.contains("The sort has a mistake") && !html.contains("name=\"sort\""), "{html}");

    let res = post_form(&app, &format!("/runs/{id}/delete"), &cookie, &[("csrf_token", &token)]).await;
    assert_eq!(res.headers()["location"], "/runs?saved=deleted");
    assert!(runs_of(&app, &tokens.access).await.is_empty());
}

async fn another_users_run_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let run = json!({"date": "2026-03-02", "distance": 5000, "time": 1500, "location": "60.17 24.94"});
    let created: Value = app.post_json("/api/v1/runs", &run, Some(&owner.access)).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    // Not even an administrator's pages reach someone else's run.
    let admin = app.register("boss").await;
    app.grant_roles(admin.user_id.as_deref().unwrap(), &["admin"]).await;
    let cookie = signed_in(&app, "boss").await;
    let token = page_token(&app, &cookie).await;
    let res = page(&app, &format!("/runs/{id}/edit"), &cookie).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let edit = [
        ("csrf_token", token.as_str()),
        ("date", "2026-03-03"),
        ("distance", "1"),
        ("time", "10:00"),
        ("location", "0 0"),
        ("notes", ""),
    ];
    assert_eq!(
        post_form(&app, &format!("/runs/{id}/edit"), &cookie, &edit).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = post_form(&app, &format!("/runs/{id}/delete"), &cookie, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(page(&app, "/runs/not-an-id/edit", &cookie).await.status(), StatusCode::NOT_FOUND);
    let still: Value =
        app.get(&format!("/api/v1/runs/{id}"), Some(&owner.access)).await.json().await.unwrap();
    assert_eq!((still["date"].as_str(), still["distance"].as_f64()), (Some("2026-03-02"), Some(5000.0)));
}

async fn import(app: &TestApp, cookie: &str, token: &str, csv: &str) -> reqwest::Response {
    let form = Form::new().text("csrf_token", token.to_owned()).part(
        "file",
        Part::bytes(csv.as_bytes().to_vec()).file_name("runs.csv").mime_str("text/csv").unwrap(),
    );
    app.client.post(app.url("/runs/import")).header("cookie", cookie).multipart(form).send().await.unwrap()
}

async fn csv_import_through_the_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = app.register("walker").await;
    let cookie = signed_in(&app, "walker").await;
    let token = page_token(&app, &cookie).await;
    let csv =
        "date,location,distance,time\n2026-01-05,60.17 24.94,5000,1500\n2026-01-06,60.17 24.94,6000,1900\n";
    assert_eq!(import(&app, &cookie, "forged", csv).await.status(), StatusCode::FORBIDDEN);
    // Without a file, a forged form is still just forged.
    let empty = Form::new().text("csrf_token", "forged");
    let res = app
        .client
        .post(app.url("/runs/import"))
        .header("cookie", &cookie)
        .multipart(empty)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let bad =
        "date,location,distance,time\n2026-01-05,60.17 24.94,5000,1500\n2026-01-06,60.17 24.94,-1,1900\n";
    let res = import(&app, &cookie, &token, bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("line 3: distance"), "the bad line is named");
    assert!(runs_of(&app, &tokens.access).await.is_empty(), "all rows or none");
    let res = import(&app, &cookie, &token, csv).await;
    assert_eq!(res.headers()["location"], "/runs?imported=2");
    assert_eq!(runs_of(&app, &tokens.access).await.len(), 2);
}
