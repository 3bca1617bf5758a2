//! The pages in a real browser: what a person does, screenshots of it, and no serious
//! accessibility problems on any page.

use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::in_a_browser;

in_a_browser!(sign_in_look_around_and_sign_out, sign_up_with_a_mistake_first);

async fn sign_in_look_around_and_sign_out() {
    let (app, _weather, _) = crate::dashboard_page::runner(Backend::Sqlite).await;
    let browser = Browser::start().await;
    let b = &browser.client;
    let mut problems = Vec::new();

    b.goto(&app.url("/")).await.unwrap();
    browser.screenshot("landing").await;
    problems.push(("landing", browser.accessibility_problems().await));

    browser.click(Locator::LinkText("Sign in")).await;
    b.wait().for_element(Locator::Id("username")).await.unwrap();
    problems.push(("login", browser.accessibility_problems().await));
    // A wrong password first: the form comes back with its message.
    b.find(Locator::Id("username")).await.unwrap().send_keys("walker").await.unwrap();
    b.find(Locator::Id("password")).await.unwrap().send_keys("not it").await.unwrap();
    browser.click(Locator::Css("form button[type=submit]")).await;
    let alert = b.wait().for_element(Locator::Css("[role=alert]")).await.unwrap();
    assert_eq!(alert.text().await.unwrap(), "Wrong username or password.");
    browser.screenshot("login-failed").await;
    problems.push(("login failed", browser.accessibility_problems().await));
    b.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.click(Locator::Css("form button[type=submit]")).await;
    let who = b.wait().for_element(Locator::Css(".who")).await.unwrap().text().await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/dashboard");
    assert_eq!(who, "Signed in as walker");
    assert_eq!(b.find_all(Locator::Css("svg[role=img]")).await.unwrap().len(), 2, "the weekly charts");
    browser.screenshot("dashboard").await;
    problems.push(("dashboard", browser.accessibility_problems().await));
    b.set_window_size(360, 800).await.unwrap();
    browser.screenshot("dashboard-phone").await;
    b.set_window_size(1280, 900).await.unwrap();

    b.goto(&app.url("/no-such-page")).await.unwrap();
    assert_eq!(b.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(), "Not Found");
    browser.screenshot("not-found").await;
    problems.push(("not found", browser.accessibility_problems().await));

    // Sign out everywhere from the account page: the API's tokens stop too.
    let api = app.login_ok("walker").await;
    b.goto(&app.url("/dashboard")).await.unwrap();
    browser.click(Locator::LinkText("Account")).await;
    b.wait().for_element(Locator::Css("#sessions-heading")).await.unwrap();
    browser.screenshot("account").await;
    problems.push(("account", browser.accessibility_problems().await));
    let everywhere = Locator::XPath("//button[normalize-space()='Sign out everywhere']");
    browser.click(everywhere).await;
    b.accept_alert().await.unwrap();
    b.wait().for_element(Locator::LinkText("Sign in")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/");
    assert_eq!(
        app.get("/api/v1/users/me", Some(&api.access)).await.status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    browser.close().await;

    let problems: Vec<_> = problems.into_iter().filter(|(_, found)| !found.is_empty()).collect();
    assert!(problems.is_empty(), "accessibility problems: {problems:#?}");
}

async fn sign_up_with_a_mistake_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let browser = Browser::start().await;
    let b = &browser.client;
    b.goto(&app.url("/")).await.unwrap();
    browser.click(Locator::LinkText("Create an account")).await;
    b.wait().for_element(Locator::Id("username")).await.unwrap().send_keys("runner").await.unwrap();
    b.find(Locator::Id("password")).await.unwrap().send_keys("short").await.unwrap();
    browser.click(Locator::Css("form button[type=submit]")).await;
    let error = b.wait().for_element(Locator::Id("password-error")).await.unwrap();
    assert!(!error.text().await.unwrap().is_empty());
    browser.screenshot("signup-errors").await;
    let problems = browser.accessibility_problems().await;
    b.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.click(Locator::Css("form button[type=submit]")).await;
    let who = b.wait().for_element(Locator::Css(".who")).await.unwrap().text().await.unwrap();
    assert_eq!(who, "Signed in as runner");
    // An API token: made on the account page, shown once, works, then revoked.
    browser.click(Locator::LinkText("Account")).await;
    b.wait().for_element(Locator::Id("token-name")).await.unwrap().send_keys("laptop script").await.unwrap();
    browser.click(Locator::XPath("//button[normalize-space()='Create token']")).await;
    let secret = b.wait().for_element(Locator::Id("new-token")).await.unwrap().text().await.unwrap();
    browser.screenshot("account-new-token").await;
    let tokens_page = browser.accessibility_problems().await;
    let me = |secret: String| {
        let req =
            app.client.get(app.url("/api/v1/users/me")).header("authorization", format!("Token {secret}"));
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(me(secret.clone()).await, reqwest::StatusCode::OK);
    browser.click(Locator::XPath("//button[starts-with(normalize-space(), 'Revoke')]")).await;
    b.accept_alert().await.unwrap();
    // The revoking page load finishes on its own time: wait for its answer.
    let mut status = me(secret.clone()).await;
    for _ in 0..100 {
        if status == reqwest::StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status = me(secret.clone()).await;
    }
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    b.wait().for_element(Locator::Css("#tokens-heading")).await.unwrap();
    assert!(tokens_page.is_empty(), "accessibility problems on the account page: {tokens_page:#?}");
    browser.close().await;
    assert!(problems.is_empty(), "accessibility problems on the sign-up form: {problems:#?}");
}
