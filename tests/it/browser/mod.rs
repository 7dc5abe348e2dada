//! Browser harness: Debian's `chromium` driven headless through `chromedriver` (started on a free
//! loopback port per test) with fantoccini. A missing browser or driver is installed with apt-get
//! or the test FAILS; it never skips.
//!
//! Screenshots go to `$TESTUM_UI_SCREENSHOTS` when set, else `<cargo target dir>/ui-screenshots/`
//! (the parent of `CARGO_TARGET_TMPDIR`), as `<page>.png`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::common::sshd::ensure_tool;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest wait for something to appear in the page.
const PATIENCE: Duration = Duration::from_secs(60);

/// A headless Chromium session; chromedriver is killed on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where screenshots are saved (created on first use).
pub fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("TESTUM_UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("CARGO_TARGET_TMPDIR has a parent")
                .join("ui-screenshots")
        });
    std::fs::create_dir_all(&dir).expect("create the screenshot dir");
    dir
}

impl Browser {
    /// Start chromedriver on a free port and open a headless Chromium (1280x900).
    pub async fn start() -> Browser {
        ensure_tool(CHROMIUM, "chromium");
        ensure_tool(CHROMEDRIVER, "chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut args = vec![
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ];
        let uid = Command::new("id").arg("-u").output().expect("id -u").stdout;
        if String::from_utf8_lossy(&uid).trim() == "0" {
            args.push("--no-sandbox"); // Chromium refuses to run as root with its sandbox.
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        // chromedriver takes a moment to listen: retry the session until it answers.
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver on port {port} does not answer: {e}"),
            }
        };
        Browser { client, driver }
    }

    /// Open `url` and wait for its `<main>`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("main"))
            .await
            .expect("a page with <main>");
    }

    /// Save a screenshot of the page as `<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("save screenshot");
    }

    /// Type `text` into the element at CSS `selector` (cleared first).
    pub async fn fill(&self, selector: &str, text: &str) {
        let field = self.find(selector).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// The element at CSS `selector`, waiting for it to appear.
    pub async fn find(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
    }

    /// The page's current HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Tick key `key_id` in the key picker whose search field has id `picker`: type `search`
    /// there (or, when empty, only focus it: the first keys are listed), tick the key's box and
    /// wait for its chip.
    pub async fn pick_key(&self, picker: &str, search: &str, key_id: &str) {
        if search.is_empty() {
            self.click(&format!("#{picker}")).await;
        } else {
            self.fill(&format!("#{picker}"), search).await;
        }
        self.click(&format!("#{picker}-list input[value='{key_id}']"))
            .await;
        self.find(&format!("#{picker}-chosen li[data-key='{key_id}']"))
            .await;
    }

    /// Click the element at CSS `selector`.
    pub async fn click(&self, selector: &str) {
        self.find(selector).await.click().await.expect("click");
    }

    /// The text of the element at CSS `selector`.
    pub async fn text(&self, selector: &str) -> String {
        self.find(selector).await.text().await.expect("text")
    }

    /// Wait until the text of `selector` satisfies `ok`; the last text. Panics after a minute
    /// with what was there.
    pub async fn wait_text(&self, selector: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = match self.client.find(Locator::Css(selector)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ok(&text) {
                return text;
            }
            if tokio::time::Instant::now() >= deadline {
                self.screenshot("failure").await;
                let source = self.client.source().await.unwrap_or_default();
                panic!(
                    "{selector} never matched; it shows {text:?}; the page (saved as failure.png):\n{source}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many elements match CSS `selector` now.
    pub async fn count(&self, selector: &str) -> usize {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .expect("find elements")
            .len()
    }

    /// What sticks out on the right of the window, outside a `.scroll` box (which scrolls on
    /// its own): `tag#id.class` of each such element, and a line when the page scrolls sideways
    /// all the same (something inside a box widens it); empty when the page fits.
    pub async fn sticking_out(&self) -> serde_json::Value {
        self.client
            .execute(
                "const root = document.documentElement; \
                 const out = [...document.querySelectorAll('body *')].filter((e) => \
                   e.getBoundingClientRect().right > root.clientWidth + 1 \
                   && !e.closest('.scroll')).map((e) => e.tagName + '#' + e.id + '.' + e.className); \
                 if (root.scrollWidth > root.clientWidth + 1) \
                   out.push('the page scrolls sideways: ' + root.scrollWidth + ' > ' + root.clientWidth + ' px'); \
                 return out",
                vec![],
            )
            .await
            .expect("measure the page")
    }

    /// Wait until the browser is at a URL whose path starts with `prefix`; that path.
    pub async fn wait_path(&self, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let url = self.client.current_url().await.expect("current url");
            if url.path().starts_with(prefix) {
                return url.path().to_string();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never reached {prefix}; at {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
