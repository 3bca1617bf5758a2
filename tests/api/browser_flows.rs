//! What people do on the runs, files and admin pages, in a real browser: screenshots
//! of each step and no serious accessibility problem on any page.

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens};
use crate::in_a_browser;

in_a_browser!(
    a_run_reaches_the_table_and_the_chart,
    an_operator_uploads_and_another_user_downloads,
    an_admin_changes_a_role_and_a_manager_cannot_see_an_admin
);

/// The serious accessibility problems found, page by page.
#[derive(Default)]
struct Problems(Vec<(&'static str, Vec<Value>)>);

impl Problems {
    async fn check(&mut self, browser: &Browser, page: &'static str) {
        browser.screenshot(page).await;
        let found = browser.accessibility_problems().await;
        if !found.is_empty() {
            self.0.push((page, found));
        }
    }

    fn assert_none(self) {
        assert!(self.0.is_empty(), "accessibility problems: {:#?}", self.0);
    }
}

async fn sign_in(browser: &Browser, app: &TestApp, username: &str) {
    let b = &browser.client;
    b.goto(&app.url("/login")).await.unwrap();
    b.wait().for_element(Locator::Id("username")).await.unwrap().send_keys(username).await.unwrap();
    b.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.click(Locator::Css("main form button[type=submit]")).await;
    b.wait().for_element(Locator::Css(".who")).await.unwrap();
}

async fn sign_out(browser: &Browser) {
    browser.click(Locator::XPath("//nav//button[normalize-space()='Sign out']")).await;
    browser.client.wait().for_element(Locator::LinkText("Sign in")).await.unwrap();
}

async fn user(app: &TestApp, name: &str, roles: &[&str]) -> Tokens {
    let tokens = app.register(name).await;
    app.grant_roles(tokens.user_id.as_deref().unwrap(), roles).await;
    tokens
}

async fn text(browser: &Browser, locator: Locator<'_>) -> String {
    browser.client.wait().for_element(locator).await.unwrap().text().await.unwrap()
}

async fn a_run_reaches_the_table_and_the_chart() {
    let (app, _weather, _) = crate::dashboard_page::runner(Backend::Sqlite).await;
    let browser = Browser::start().await;
    let b = &browser.client;
    let mut problems = Problems::default();
    sign_in(&browser, &app, "walker").await;
    browser.click(Locator::LinkText("Runs")).await;
    // The place of the latest run is filled in already.
    let place = b.wait().for_element(Locator::Id("location")).await.unwrap();
    assert_eq!(place.prop("value").await.unwrap().as_deref(), Some("60.17 24.94"));
    problems.check(&browser, "runs").await;

    // A mistake first: the form comes back with the field marked.
    b.execute("document.getElementById('date').value = '2024-01-10'", vec![]).await.unwrap();
    b.find(Locator::Id("distance")).await.unwrap().send_keys("3").await.unwrap();
    b.find(Locator::Id("time")).await.unwrap().send_keys("0:61:00").await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Add run']")).await;
    assert!(text(&browser, Locator::Id("time-error")).await.contains("h:mm:ss"));
    problems.check(&browser, "runs-add-mistake").await;
    let time = b.find(Locator::Id("time")).await.unwrap();
    time.clear().await.unwrap();
    time.send_keys("0:18:00").await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Add run']")).await;
    assert_eq!(text(&browser, Locator::Css("p.notice")).await, "Run added.");
    let first = text(&browser, Locator::Css("tbody tr")).await;
    assert!(first.starts_with("2024-01-10 3.00 0:18:00 6:00 /km"), "{first}");

    // The chart of the week holds it: 20 km before, 23 km now.
    browser.click(Locator::LinkText("Dashboard")).await;
    b.wait().for_element(Locator::Css("svg[role=img]")).await.unwrap();
    assert!(b.source().await.unwrap().contains("<title>2024-01-08: 23.0 km</title>"));

    // A bad filter is shown next to the box, its place marked.
    browser.click(Locator::LinkText("Runs")).await;
    b.wait().for_element(Locator::Id("filter")).await.unwrap().send_keys("distance gt 'far'").await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Apply']")).await;
    let error = text(&browser, Locator::Id("filter-error")).await;
    assert!(error.contains("character 13"), "{error}");
    assert_eq!(text(&browser, Locator::Css("#filter-error mark")).await, "'");
    problems.check(&browser, "runs-bad-filter").await;
    b.set_window_size(360, 800).await.unwrap();
    browser.screenshot("runs-phone").await;
    b.set_window_size(1280, 900).await.unwrap();

    // Sorting by distance puts the shortest first; editing goes through its page.
    browser.click(Locator::LinkText("Distance (km)")).await;
    b.wait().for_element(Locator::Css("th[aria-sort=ascending]")).await.unwrap();
    assert!(text(&browser, Locator::Css("tbody tr")).await.starts_with("2024-01-10 3.00"));
    browser.click(Locator::Css("tbody tr a")).await;
    let distance = b.wait().for_element(Locator::Id("distance")).await.unwrap();
    problems.check(&browser, "run-edit").await;
    distance.clear().await.unwrap();
    distance.send_keys("4").await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Save']")).await;
    assert_eq!(text(&browser, Locator::Css("p.notice")).await, "Run updated.");
    browser.close().await;
    problems.assert_none();
}

async fn an_operator_uploads_and_another_user_downloads() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    user(&app, "ops", &["operator"]).await;
    user(&app, "cli", &["user"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("field notes.txt");
    let content = "Kilometre 7: the hill again.\n".repeat(20_000);
    std::fs::write(&path, &content).unwrap();
    let browser = Browser::start().await;
    let b = &browser.client;
    let mut problems = Problems::default();

    sign_in(&browser, &app, "ops").await;
    browser.click(Locator::LinkText("Files")).await;
    problems.check(&browser, "files-operator").await;
    let input = b.wait().for_element(Locator::Id("upload-file")).await.unwrap();
    input.send_keys(path.to_str().unwrap()).await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Upload']")).await;
    assert_eq!(text(&browser, Locator::Css("p.notice")).await, "Uploaded field notes.txt.");
    problems.check(&browser, "files-uploaded").await;
    sign_out(&browser).await;

    sign_in(&browser, &app, "cli").await;
    browser.click(Locator::LinkText("Files")).await;
    let link = b.wait().for_element(Locator::LinkText("field notes.txt")).await.unwrap();
    let href = link.attr("href").await.unwrap().expect("a download link");
    assert!(b.find_all(Locator::Id("upload-file")).await.unwrap().is_empty(), "no upload form for users");
    problems.check(&browser, "files-user").await;
    // The browser fetches the bytes with its own cookie.
    let script = "const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])));";
    let got = b.execute_async(script, vec![json!(href)]).await.unwrap();
    assert_eq!(got[0], 200);
    assert!(got[1].as_str() == Some(content.as_str()), "the same bytes");
    browser.close().await;
    problems.assert_none();
}

async fn an_admin_changes_a_role_and_a_manager_cannot_see_an_admin() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let root = user(&app, "root", &["admin"]).await;
    user(&app, "boss", &["manager"]).await;
    let olga = user(&app, "olga", &["user"]).await;
    let browser = Browser::start().await;
    let b = &browser.client;
    let mut problems = Problems::default();

    sign_in(&browser, &app, "root").await;
    browser.click(Locator::LinkText("Admin")).await;
    problems.check(&browser, "admin-users").await;
    browser.click(Locator::LinkText("olga")).await;
    b.wait().for_element(Locator::Css("input[value=operator]")).await.unwrap().click().await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Save roles']")).await;
    b.wait().for_element(Locator::Css("p.notice")).await.unwrap();
    assert_eq!(text(&browser, Locator::Id("held-roles")).await, "operator, user");
    problems.check(&browser, "admin-user").await;
    let admin_api = app.login_ok("root").await.access;
    let seen: Value = app
        .get(&format!("/api/v1/users/{}", olga.user_id.as_deref().unwrap()), Some(&admin_api))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["roles"], json!(["operator", "user"]));
    browser.click(Locator::LinkText("Audit log")).await;
    b.wait()
        .for_element(Locator::Id("filter"))
        .await
        .unwrap()
        .send_keys("action eq 'roles.changed'")
        .await
        .unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Apply']")).await;
    b.wait().for_element(Locator::XPath("//td[normalize-space()='roles.changed']")).await.unwrap();
    problems.check(&browser, "admin-audit").await;
    sign_out(&browser).await;

    // A manager sees the plain users only, and an admin's page does not exist for them.
    sign_in(&browser, &app, "boss").await;
    browser.click(Locator::LinkText("Admin")).await;
    b.wait().for_element(Locator::LinkText("olga")).await.unwrap();
    assert!(b.find_all(Locator::LinkText("root")).await.unwrap().is_empty());
    assert!(b.find_all(Locator::LinkText("Audit log")).await.unwrap().is_empty());
    problems.check(&browser, "admin-manager").await;
    b.goto(&app.url(&format!("/admin/users/{}", root.user_id.as_deref().unwrap()))).await.unwrap();
    assert_eq!(text(&browser, Locator::Css("h1")).await, "Not Found");
    browser.close().await;
    problems.assert_none();
}
