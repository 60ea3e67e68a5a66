//! A real headless Chromium driven through WebDriver (`chromedriver`), for the console's tests:
//! chromedriver on a free port, Chromium with a profile directory of its own, both killed when
//! dropped. Not declared in `support/mod.rs`: only tests/console.rs pays for the WebDriver client.

// A test binary is a crate of its own: `pub` here is for its test files, not an API.
#![allow(unreachable_pub)]

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fantoccini::error::NewSessionError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long an element or a condition is waited for: generous, the machine is shared.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Browsers running at once in this test binary: each Chromium takes a few hundred MB and a
/// core while it starts, and the tests share a small machine.
static RUNNING: Semaphore = Semaphore::const_new(2);

pub struct Browser {
    pub client: Client,
    /// Dropped with the browser: kills what it started (then the slot is given back).
    _reaper: Reaper,
    _slot: SemaphorePermit<'static>,
}

fn binary(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!(
        "{name} is not installed: run scripts/test, which installs chromium and chromium-driver"
    );
}

impl Browser {
    /// Starts chromedriver and opens a headless Chromium session at 1280x800.
    pub async fn start() -> Browser {
        let slot = RUNNING
            .acquire()
            .await
            .expect("the semaphore is never closed");
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "floodgate-chromium-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let chromium = binary("chromium");
        let chromedriver = binary("chromedriver");
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = crate::support::redis::free_port();
            std::fs::create_dir_all(&profile).expect("a profile directory");
            let log = std::fs::File::create(profile.join("chromedriver.log")).expect("a log file");
            let driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(log)
                // A group of its own: Chromium and its helpers are killed with it.
                .process_group(0)
                .spawn()
                .expect("chromedriver starts");
            let mut reaper = Reaper {
                driver,
                profile: profile.clone(),
            };
            let client = match Browser::session(port, &chromium, &mut reaper).await {
                Ok(client) => client,
                Err(error) => {
                    let log = std::fs::read_to_string(profile.join("chromedriver.log"))
                        .unwrap_or_default();
                    last_error = format!("{error}\nchromedriver's log:\n{log}");
                    drop(reaper);
                    continue;
                }
            };
            let browser = Browser {
                client,
                _reaper: reaper,
                _slot: slot,
            };
            browser
                .client
                .set_window_size(1280, 800)
                .await
                .expect("window size");
            return browser;
        }
        panic!("no WebDriver session with headless Chromium: {last_error}");
    }

    /// Deadline-polls chromedriver until it listens (a moment after start), then asks it once
    /// for a session; an error is the reason this attempt failed.
    async fn session(port: u16, chromium: &str, reaper: &mut Reaper) -> Result<Client, String> {
        let profile = reaper.profile.clone();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.join("profile").display()),
                    "--window-size=1280,800",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-breakpad",
                    "--disable-crash-reporter",
                ]
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = reaper.driver.try_wait() {
                return Err(format!("chromedriver exited: {status}"));
            }
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => return Ok(client),
                // Not listening yet: poll again.
                Err(NewSessionError::Failed(_) | NewSessionError::FailedC(_))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(error.to_string()),
            }
        }
    }

    /// Ends the session (Chromium quits), then kills what is left.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Runs `script` in the page (its last statement should `return` a value).
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("script {script:?} failed: {error}"))
    }

    /// Waits until `condition` yields `Some`, polling; panics naming `what` after [`PATIENCE`].
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut condition: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(value) = condition().await {
                return value;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element matched by `css`, once it is there.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
    }

    /// Replaces the value of the input matched by `css` with `text`, as a user types it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("cleared");
        input.send_keys(text).await.expect("typed");
    }

    /// Clicks the element matched by `css`. The console redraws its lists every few seconds,
    /// so an element found in one list may be replaced before the click lands: found again.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(error) if error.is_stale_element_reference() && Instant::now() < deadline => {}
                Err(error) => panic!("cannot click {css}: {error}"),
            }
        }
    }

    /// The text of every cell of the table `#id`'s body, row by row.
    pub async fn table(&self, id: &str) -> Vec<Vec<String>> {
        let rows = self
            .run(&format!(
                "return Array.from(document.querySelectorAll('#{id} tbody tr')).map(\
                 tr => Array.from(tr.cells).map(td => td.textContent));"
            ))
            .await;
        serde_json::from_value(rows).expect("rows of strings")
    }
}

/// Kills chromedriver's process group (Chromium and its helpers with it) and anything still
/// running on this browser's profile, then removes the profile.
struct Reaper {
    driver: Child,
    profile: PathBuf,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium may have put itself in a group of its own: find it by its profile.
        let marker = self.profile.display().to_string();
        for pid in processes_mentioning(&marker) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// PIDs whose command line contains `marker`.
fn processes_mentioning(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(marker)
                .then_some(pid)
        })
        .collect()
}
