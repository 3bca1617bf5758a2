//! A real headless Chromium driven through WebDriver (ChromeDriver, `fantoccini`),
//! with screenshots under `target/screenshots/` and axe-core's accessibility check.

use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs each named `async fn()` with a browser, where ChromeDriver is installed (always
/// under `CI`, where a missing one fails).
#[macro_export]
macro_rules! in_a_browser {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(test_browser), ignore = "needs Chromium and ChromeDriver: apt install chromium chromium-driver")]
            async fn chromium() {
                super::$name().await
            }
        }
    )* };
}

pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Browser {
    pub async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().unwrap().port()
        };
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{CHROMEDRIVER}: {e} (apt install chromium chromium-driver; .ci/run does)")
            });
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=en"]
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities.as_object().unwrap().clone());
            if let Ok(client) = builder.connect(&url).await {
                return Self { client, driver };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = driver.kill();
        let _ = driver.wait();
        panic!("ChromeDriver did not start");
    }

    /// Clicks the element `locator` finds (waiting for it to appear).
    pub async fn click(&self, locator: fantoccini::Locator<'_>) {
        self.client
            .wait()
            .for_element(locator)
            .await
            .expect("element to click")
            .click()
            .await
            .expect("click");
    }

    /// Saves what the browser shows as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// axe-core's serious and critical violations on the current page.
    pub async fn accessibility_problems(&self) -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/axe/node_modules/axe-core/axe.min.js");
        let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (npm install --prefix target/axe axe-core; .ci/run does)", path.display())
        });
        self.client.execute(&axe, vec![]).await.expect("load axe-core");
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document).then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html)}))));";
        let found = self.client.execute_async(script, vec![]).await.expect("run axe-core");
        found.as_array().cloned().unwrap_or_default()
    }

    pub async fn close(self) {
        let Self { client, mut driver } = self;
        let _ = client.close().await;
        let _ = driver.kill();
        let _ = driver.wait();
    }
}
