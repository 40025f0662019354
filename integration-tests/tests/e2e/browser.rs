//! A headless Chromium driven over W3C WebDriver: Debian's `chromium` and
//! its `chromedriver` (`chromium-driver`; `infra/local/up` installs both),
//! through `fantoccini` on plain HTTP to the loopback chromedriver.
//!
//! `TENANTRY_CHROMEDRIVER` names another chromedriver, `TENANTRY_CHROMIUM`
//! another browser binary. Chromium runs with `--no-sandbox`: its sandbox
//! refuses to start as root, which is how the tests run in CI.

use fantoccini::{Client, ClientBuilder, Locator};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// chromedriver (in a process group of its own) and one browser session.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a session.
    pub async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("port").port()
        };
        let binary =
            std::env::var("TENANTRY_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = tokio::process::Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: dropping the browser kills chromedriver and
            // the Chromium it started, even when a test panics.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary}: {e} (install Debian's chromium-driver: infra/local/up does)")
            });
        let mut options = serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1600"],
        });
        if let Ok(chromium) = std::env::var("TENANTRY_CHROMIUM") {
            options["binary"] = chromium.into();
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => {
                    panic!("no WebDriver session from {binary} at {url} in 30 s: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Self { client, driver }
    }

    /// The first element matching `css`, waiting up to 30 s for it.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} within 30 s: {e}"))
    }

    /// The text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("element text")
    }

    /// With `TENANTRY_SCREENSHOTS=<dir>`, saves the page as `<dir>/<name>.png`
    /// (to look at what a test saw); otherwise nothing.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("TENANTRY_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Ends the session (chromedriver closes Chromium), then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.start_kill();
        let _ = self.driver.wait().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            // The whole group: Chromium's processes too. `kill` keeps the
            // tests free of `unsafe` (libc::kill).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}
