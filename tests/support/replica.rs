//! floodgate replicas as real processes (the built binary), for multi-replica and fault tests.
//! Each binds ephemeral ports and reports them in its JSON start-up log line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Replica {
    pub webhook: String,
    pub admin: String,
    child: Child,
}

impl Replica {
    pub fn start(vars: &[(String, String)]) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .env_clear()
            .envs([
                ("FLOODGATE_LISTEN", "127.0.0.1:0"),
                ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
                ("FLOODGATE_LOG_FORMAT", "json"),
                ("FLOODGATE_LOG", "warn,floodgate=info"),
            ])
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("floodgate runs");
        let (lines, receiver) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            // Keep draining after start-up: a closed pipe would fail the replica's log writes.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = receiver
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!("floodgate did not report serving: {:?}", child.try_wait())
                });
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if event["fields"]["message"] == "floodgate serving" {
                let field =
                    |name: &str| format!("http://{}", event["fields"][name].as_str().unwrap());
                return Replica {
                    webhook: field("webhook"),
                    admin: field("admin"),
                    child,
                };
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The webhook's `host:port`, for a load balancer's upstream list.
    pub fn webhook_address(&self) -> String {
        self.webhook.trim_start_matches("http://").to_string()
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited with status 0.
    pub fn terminate(&mut self) -> bool {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "replica did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
