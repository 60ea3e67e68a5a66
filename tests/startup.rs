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
fn start_json_logging() -> (Child, impl Iterator<Item = String>, String) {
    let (child, lines, webhook, _) = start_json_logging_with_admin();
    (child, lines, webhook)
}

/// [`start_json_logging`], with the admin address too.
fn start_json_logging_with_admin() -> (Child, impl Iterator<Item = String>, String, String) {
    use std::io::BufRead;
    let mut child = Command::new(BINARY)
        .env_clear()
        .envs([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_LOG_FORMAT", "json"),
            ("FLOODGATE_RATE_LIMITS", "1/1m"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let serving = lines
        .find(|l| l.contains("floodgate serving"))
        .expect("a serving line");
    let serving: serde_json::Value = serde_json::from_str(&serving).unwrap();
    let webhook = serving["fields"]["webhook"].as_str().unwrap().to_string();
    let admin = serving["fields"]["admin"].as_str().unwrap().to_string();
    (child, lines, webhook, admin)
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
        assert!(rejected.contains(r#""nextCode":1"#), "request {i}: {rejected}");
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
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
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
    let (mut child, lines, webhook) = start_json_logging();
    let body = r#"{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"a","recvID":"b","operationID":"op-4711"}"#;
    assert!(post(&webhook, "/cb/x", body).contains(r#""errCode":0"#));
    assert!(post(&webhook, "/cb/x", body).contains(r#""errCode":5002"#));
    let _ = child.kill();
    let _ = child.wait();
    // The allowed message logged nothing; the rejection exactly one JSON line.
    let logged: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(&l).expect("JSON lines"))
        .collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    let fields = &logged[0]["fields"];
    assert_eq!(fields["message"], "rejected");
    assert_eq!(fields["rule"], "rate");
    assert_eq!(fields["err_code"], 5002);
    assert_eq!(fields["operation_id"], "op-4711");
}
