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
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
