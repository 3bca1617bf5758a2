//! First-administrator setup from the link `serve` prints, against the real binary.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, hallpass_binary};

/// A `hallpass serve` child process and the setup link it printed.
struct Served {
    child: std::process::Child,
    base: String,
    link: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = hallpass_binary(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let link = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.trim().contains("/setup?token=").then(|| line.trim().to_owned()))
        .expect("serve prints a setup link while no administrator exists");
    Served { child, base: format!("http://127.0.0.1:{port}"), link, _dir: dir }
}

fn field(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\"")).nth(1).unwrap().split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_link_creates_the_first_administrator_once() {
    let served = serve();
    assert!(served.link.starts_with(&format!("{}/setup?token=hps_", served.base)), "{}", served.link);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // A forged token gets nothing.
    let forged = format!("{}/setup?token=hps_{}", served.base, "A".repeat(43));
    assert_eq!(client.get(&forged).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    let res = client.get(&served.link).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let nonce = res.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("hallpass-nonce=").then(|| v.split(';').next().unwrap().to_owned())
    });
    let nonce = nonce.expect("nonce cookie");
    let html = res.text().await.unwrap();
    let (csrf, token) = (field(&html, "csrf_token"), field(&html, "token"));
    let post = |fields: Vec<(&'static str, String)>| {
        client.post(format!("{}/setup", served.base)).header("cookie", &nonce).form(&fields).send()
    };
    let res = post(vec![
        ("username", "chief".into()),
        ("password", PASSWORD.into()),
        ("token", token.clone()),
        ("csrf_token", "x".into()),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "CSRF");
    let res = post(vec![
        ("username", "chief".into()),
        ("password", "short".into()),
        ("token", token.clone()),
        ("csrf_token", csrf.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "the password policy holds");
    let res = post(vec![
        ("username", "chief".into()),
        ("password", PASSWORD.into()),
        ("token", token.clone()),
        ("csrf_token", csrf.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = res.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("hallpass=hpw_").then(|| v.split(';').next().unwrap().to_owned())
    });
    let dashboard = client
        .get(format!("{}/dashboard", served.base))
        .header("cookie", session.unwrap())
        .send()
        .await
        .unwrap();
    assert!(dashboard.text().await.unwrap().contains("Signed in as <strong>chief</strong>"));

    // The administrator signs in through the API too; the link and the page are gone.
    let login = serde_json::json!({"username": "chief", "password": PASSWORD});
    let res = client.post(format!("{}/api/v1/auth/login", served.base)).json(&login).send().await.unwrap();
    let tokens: serde_json::Value = res.json().await.unwrap();
    let users = client
        .get(format!("{}/api/v1/users", served.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK, "chief is an administrator");
    assert_eq!(client.get(&served.link).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let again = post(vec![
        ("username", "second".into()),
        ("password", PASSWORD.into()),
        ("token", token),
        ("csrf_token", csrf),
    ])
    .await
    .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}
