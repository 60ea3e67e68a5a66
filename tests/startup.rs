//! The binary as an operator starts it: a misconfigured variable stops start-up with a message
//! naming it, and a good configuration serves until SIGTERM, then exits 0.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_floodgate");

/// Runs the binary with only `vars`, expecting it to exit by itself; a binary that keeps
/// serving is killed after a deadline and fails the test instead of hanging it.
fn start_with(vars: &[(&str, &str)]) -> std::process::Output {
    let mut child = Command::new(BINARY)
        .env_clear()
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("waitable").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("floodgate kept running with {vars:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_bad_variable_stops_start_up_naming_the_variable_and_value() {
    let cases = [
        ("FLOODGATE_RATE_LIMITS", "30 per 10s"),
        ("FLOODGATE_BURST", "10/0s"),
        ("FLOODGATE_REDIS_TIMEOUT", "fast"),
        ("FLOODGATE_MODE", "dry-run"),
        ("FLOODGATE_MAX_BODY", "lots"),
        ("FLOODGATE_LISTEN", "everywhere"),
        ("FLOODGATE_LOG", "info,[[[bad"),
        ("FLOODGATE_FANOUT_MODE", "maybe"),
        ("FLOODGATE_UPSTREAM_TIMEOUT", "soon"),
        ("FLOODGATE_UPSTREAM_FAIL_MODE", "ajar"),
        ("FLOODGATE_AT_ALL_LIMIT", "3 an hour"),
        ("FLOODGATE_MAX_CONNECTIONS", "0"),
        ("FLOODGATE_IDLE_TIMEOUT", "30s"),
        ("FLOODGATE_LINK_DENY", "evil.example, not a domain"),
        ("FLOODGATE_KEYWORD_MODE", "sometimes"),
    ];
    for (variable, value) in cases {
        // Ephemeral ports first, so that a value that slips through cannot collide or hang.
        let mut vars = vec![
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
        ];
        vars.push((variable, value));
        let output = start_with(&vars);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{variable}={value} should stop start-up"
        );
        assert!(
            stderr.contains(variable) && stderr.contains(value),
            "{variable}: {stderr}"
        );
    }
}

#[test]
fn a_bad_secret_stops_start_up_naming_the_variable_but_never_its_value() {
    let cases = [
        // Several URLs with passwords, without cluster mode.
        (
            "FLOODGATE_REDIS_URL",
            "redis://:hunter22hunter@a:1,redis://:hunter22hunter@b:2",
        ),
        ("FLOODGATE_REDIS_URL", "http://:hunter22hunter@redis:6379"),
        ("FLOODGATE_AUTH_TOKEN", "hunter22hunter with spaces"),
        ("FLOODGATE_ADMIN_TOKEN", "hunter22hunter/slash"),
        // https and credentials are fine (README); a wrong scheme or a fragment is not.
        (
            "FLOODGATE_UPSTREAM_URL",
            "ftp://user:hunter22hunter@hooks:10006/cb",
        ),
        (
            "FLOODGATE_UPSTREAM_URL",
            "https://user:hunter22hunter@hooks/cb#hunter22hunter",
        ),
    ];
    for (variable, value) in cases {
        let output = start_with(&[
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            (variable, value),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{variable}={value} should stop start-up"
        );
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(
            !stderr.contains("hunter22hunter"),
            "{variable} echoed: {stderr}"
        );
    }
}

#[test]
fn a_keyword_file_that_cannot_be_used_stops_start_up_naming_the_variable_and_line() {
    let dir = std::env::temp_dir();
    let bad = dir.join(format!("floodgate-bad-keywords-{}.txt", std::process::id()));
    std::fs::write(&bad, "fine entry\n# a comment\n???\n").unwrap();
    let missing = dir.join("floodgate-no-such-keywords.txt");
    for (path, expected) in [(&bad, "line 3"), (&missing, "cannot read it")] {
        let path = path.display().to_string();
        let output = start_with(&[
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_KEYWORDS_FILE", &path),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{path} should stop start-up");
        assert!(
            stderr.contains("FLOODGATE_KEYWORDS_FILE") && stderr.contains(expected),
            "{stderr}"
        );
    }
    let _ = std::fs::remove_file(bad);
}

#[test]
fn sighup_reloads_the_keyword_list_even_when_the_file_looks_unchanged() {
    let path = std::env::temp_dir().join(format!("floodgate-hup-{}.txt", std::process::id()));
    std::fs::write(&path, "alpha\n").unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let file_var = path.display().to_string();
    let (mut child, _, webhook, _, _) =
        start_logging_json(&[("FLOODGATE_KEYWORDS_FILE", &file_var)]);
    let body = |sender: &str, text: &str| {
        format!(
            r#"{{"sendID":"{sender}","callbackCommand":"callbackBeforeSendSingleMsgCommand","recvID":"b","contentType":101,"content":"{{\"content\":\"{text}\"}}"}}"#
        )
    };
    assert!(post(&webhook, "/cb/x", &body("s0", "alpha")).contains(r#""errCode":5008"#));
    // Same size, same modification time: only a SIGHUP makes the replica read it again.
    std::fs::write(&path, "gamma\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    std::thread::sleep(Duration::from_secs(3)); // longer than a check of the file
    assert!(post(&webhook, "/cb/x", &body("s1", "gamma")).contains(r#""errCode":0"#));
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 2;
    while !post(&webhook, "/cb/x", &body(&format!("s{i}"), "gamma")).contains(r#""errCode":5008"#) {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the list");
        std::thread::sleep(Duration::from_millis(100));
        i += 1;
    }
    let _ = child.kill();
    let _ = std::fs::remove_file(path);
}

#[test]
fn an_address_in_use_stops_start_up_naming_the_variable() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = start_with(&[
        ("FLOODGATE_LISTEN", &addr),
        ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("FLOODGATE_LISTEN"), "{stderr}");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut child = Command::new(BINARY)
        .env_clear()
        .envs([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_LOG", "info"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (deadline-poll) for the "serving" line so SIGTERM reaches a running server.
    let stderr = child.stderr.take().unwrap();
    let (found, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = found.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("floodgate says it is serving");
        if line.contains("floodgate serving") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "floodgate did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
}

/// One HTTP/1.1 POST over a raw socket; returns the response text.
fn post(addr: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// The binary with JSON logs and a 1/1m rate limit; returns it, its log lines from just after
/// the "serving" line, and its webhook address.
/// The binary under test, killed when dropped: a failing assertion must not leave it running.
struct Running(Child);

impl Running {
    fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }

    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_json_logging() -> (Running, impl Iterator<Item = String>, String) {
    let (child, lines, webhook, _) = start_json_logging_with_admin();
    (child, lines, webhook)
}

/// [`start_json_logging`], with the admin address too.
fn start_json_logging_with_admin() -> (Running, impl Iterator<Item = String>, String, String) {
    let (child, lines, webhook, admin, _) = start_logging_json(&[]);
    (child, lines, webhook, admin)
}

/// The binary with JSON logs, a 1/1m rate limit and `vars`: it, its log lines after the
/// "serving" line, its webhook and admin addresses, and the lines logged before serving.
fn start_logging_json(
    vars: &[(&str, &str)],
) -> (
    Running,
    impl Iterator<Item = String>,
    String,
    String,
    Vec<String>,
) {
    use std::io::BufRead;
    let mut child = Command::new(BINARY)
        .env_clear()
        .envs([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_LOG_FORMAT", "json"),
            ("FLOODGATE_RATE_LIMITS", "1/1m"),
        ])
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let child = Running(child);
    let mut before = Vec::new();
    let serving = loop {
        let line = lines.next().expect("a serving line");
        if line.contains("floodgate serving") {
            break line;
        }
        before.push(line);
    };
    let serving: serde_json::Value = serde_json::from_str(&serving).unwrap();
    let webhook = serving["fields"]["webhook"].as_str().unwrap().to_string();
    let admin = serving["fields"]["admin"].as_str().unwrap().to_string();
    (child, lines, webhook, admin, before)
}

#[test]
fn an_open_admin_api_beyond_loopback_is_warned_about_at_start() {
    let (mut open, _, _, _, before) =
        start_logging_json(&[("FLOODGATE_ADMIN_LISTEN", "0.0.0.0:0")]);
    let _ = open.kill();
    let _ = open.wait();
    assert!(
        before
            .iter()
            .any(|l| l.contains("FLOODGATE_ADMIN_TOKEN is unset")),
        "{before:?}"
    );
    for vars in [
        &[("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0")][..],
        &[
            ("FLOODGATE_ADMIN_LISTEN", "0.0.0.0:0"),
            ("FLOODGATE_ADMIN_TOKEN", "admin-t0ken"),
        ],
    ] {
        let (mut quiet, _, _, _, before) = start_logging_json(vars);
        let _ = quiet.kill();
        let _ = quiet.wait();
        assert!(
            !before.iter().any(|l| l.contains("FLOODGATE_ADMIN_TOKEN")),
            "{vars:?}: {before:?}"
        );
    }
}

#[test]
fn a_misspelt_variable_and_an_open_webhook_are_warned_about_at_start_without_values() {
    let (mut running, _, _, _, before) = start_logging_json(&[
        ("FLOODGATE_RATE_LIMIT", "7/1m-not-to-be-echoed"),
        ("FLOODGATE_LISTEN", "0.0.0.0:0"),
    ]);
    let _ = running.kill();
    let _ = running.wait();
    let warnings: Vec<serde_json::Value> = before
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["level"] == "WARN")
        .collect();
    let messages: Vec<&str> = warnings
        .iter()
        .filter_map(|w| w["fields"]["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("unknown variable FLOODGATE_RATE_LIMIT ")
                && m.contains("did you mean FLOODGATE_RATE_LIMITS?")),
        "{before:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("FLOODGATE_AUTH_TOKEN is unset") && m.contains("forge callbacks")),
        "{before:?}"
    );
    assert!(!before.concat().contains("not-to-be-echoed"), "{before:?}");

    // A cap that fits any open-file limit: lowering the default to fit is warned about too.
    let (mut quiet, _, _, _, before) = start_logging_json(&[
        ("FLOODGATE_LISTEN", "0.0.0.0:0"),
        ("FLOODGATE_AUTH_TOKEN", "webhook-t0ken"),
        ("FLOODGATE_MAX_CONNECTIONS", "100"),
    ]);
    let _ = quiet.kill();
    let _ = quiet.wait();
    assert!(!before.iter().any(|l| l.contains("\"WARN\"")), "{before:?}");
}

#[test]
fn every_lift_is_logged_with_the_sender_and_the_callers_address() {
    let (mut child, mut lines, _, admin, _) = start_logging_json(&[]);
    let response = request(&admin, "DELETE", "/v1/senders/mallory/block");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let lifted = lines
        .find(|l| l.contains("block lifted through the admin API"))
        .expect("an audit line");
    let _ = child.kill();
    let _ = child.wait();
    let lifted: serde_json::Value = serde_json::from_str(&lifted).unwrap();
    assert_eq!(lifted["fields"]["send_id"], "mallory");
    let caller = lifted["fields"]["caller"].as_str().unwrap();
    assert!(caller.starts_with("127.0.0.1:"), "{caller}");
}

#[test]
fn a_replica_whose_log_reader_stalls_keeps_answering_and_counts_the_dropped_lines() {
    let (mut child, lines, webhook, admin) = start_json_logging_with_admin();
    // The pipe stays open but nobody reads it: after 64 KiB every write to it would block.
    let stalled_reader = lines;
    let body =
        r#"{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"a","recvID":"b"}"#;
    assert!(post(&webhook, "/cb/x", body).contains(r#""errCode":0"#));
    // Each rejection logs a line of about 200 bytes: the pipe holds ~300 of them and the
    // writer's queue 16,384 more, so 20,000 overflow both.
    for i in 0..20_000 {
        let rejected = post(&webhook, "/cb/x", body);
        assert!(
            rejected.contains(r#""nextCode":1"#),
            "request {i}: {rejected}"
        );
    }
    let metrics = get(&admin, "/metrics");
    let dropped: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("floodgate_log_lines_dropped_total "))
        .expect("the series")
        .trim()
        .parse()
        .unwrap();
    assert!(dropped > 0.0, "{metrics}");
    drop(stalled_reader);
    let _ = child.kill();
    let _ = child.wait();
}

/// One HTTP/1.1 GET over a raw socket; returns the response text.
fn get(addr: &str, path: &str) -> String {
    request(addr, "GET", path)
}

/// One HTTP/1.1 request without a body over a raw socket; returns the response text.
fn request(addr: &str, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[test]
fn a_replica_whose_log_pipe_closes_keeps_answering() {
    let (mut child, lines, webhook) = start_json_logging();
    drop(lines); // the read end of the log pipe closes
    let body =
        r#"{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"a","recvID":"b"}"#;
    let first = post(&webhook, "/cb/x", body);
    assert!(first.contains(r#""errCode":0"#), "{first}");
    for _ in 0..3 {
        // A rejection logs a line, which now goes nowhere; the answer must still come.
        let rejected = post(&webhook, "/cb/x", body);
        assert!(rejected.contains(r#""errCode":5002"#), "{rejected}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn json_logs_carry_one_line_per_rejection_with_rule_code_and_operation_id() {
    let (mut child, mut lines, webhook) = start_json_logging();
    let body = r#"{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"a","recvID":"b","operationID":"op-4711"}"#;
    assert!(post(&webhook, "/cb/x", body).contains(r#""errCode":0"#));
    assert!(post(&webhook, "/cb/x", body).contains(r#""errCode":5002"#));
    // The allowed message logged nothing: the next line is the rejection's (the log writer
    // thread may write it a moment after the answer left).
    let logged: serde_json::Value =
        serde_json::from_str(&lines.next().expect("a log line")).expect("a JSON line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.next().is_none(), "one line per rejection");
    let fields = &logged["fields"];
    assert_eq!(fields["message"], "rejected");
    assert_eq!(fields["rule"], "rate");
    assert_eq!(fields["err_code"], 5002);
    assert_eq!(fields["operation_id"], "op-4711");
}
