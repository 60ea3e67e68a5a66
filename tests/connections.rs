//! Connections as an attacker holds them: every phase of a request has a deadline (head from
//! its first byte, blank lines included; body; writing the reply), only an idle connection
//! waits long, the cap closes idle connections before refusing a new one, and the binary raises
//! its open-file limit so the cap, not the kernel, decides.
//!
//! The app runs with short deadlines (`ServerLimits`) so that a deadline is seen within a second
//! or so; each wait below is a bound on "closed at all", never a speed assertion. The deadlines
//! are not shorter: on a loaded machine a stall of a few hundred milliseconds between a
//! request's first byte and its service call would cut a well-behaved request.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use floodgate::app::Application;
use floodgate::clock::Clock;
use floodgate::config::Config;
use floodgate::http::connections::ServerLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(3600);
/// How long a test waits for something that must happen after a short deadline.
const BOUND: Duration = Duration::from_secs(10);

struct App {
    webhook: String,
    admin: String,
    _stop: oneshot::Sender<()>,
}

async fn start(limits: impl FnOnce(ServerLimits) -> ServerLimits) -> App {
    let app = Application::build(Config::for_tests(), Clock::System)
        .await
        .expect("the app builds");
    let limits = limits(app.limits());
    let app = app.with_limits(limits);
    let (webhook, admin) = (app.webhook_addr().to_string(), app.admin_addr().to_string());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    App {
        webhook,
        admin,
        _stop: stop,
    }
}

fn short(limits: ServerLimits) -> ServerLimits {
    ServerLimits {
        head: SHORT,
        body: SHORT,
        write: SHORT,
        idle: LONG,
        ..limits
    }
}

fn callback() -> String {
    let body = r#"{"sendID":"alice","recvID":"bob","contentType":101,"content":"{\"content\":\"hi\"}","callbackCommand":"callbackBeforeSendSingleMsgCommand"}"#;
    format!(
        "POST /cb/callbackBeforeSendSingleMsgCommand HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Sends one callback on `stream` and returns the status line of its reply.
async fn ask(stream: &mut TcpStream) -> String {
    stream.write_all(callback().as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    // The reply is small and complete once its JSON object closes.
    while !reply.ends_with(b"}") {
        let n = tokio::time::timeout(BOUND, stream.read(&mut buffer))
            .await
            .expect("a reply")
            .unwrap();
        assert!(
            n > 0,
            "closed before replying: {:?}",
            String::from_utf8_lossy(&reply)
        );
        reply.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines().next().unwrap_or("").to_string()
}

/// Whether the server closes `stream` within [`BOUND`] (EOF or reset; whatever it sent first
/// is read and dropped).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut sink = Vec::new();
    match tokio::time::timeout(BOUND, stream.read_to_end(&mut sink)).await {
        Ok(_) => true,
        Err(_elapsed) => false,
    }
}

/// The value of one series in the admin listener's `/metrics`.
async fn metric(admin: &str, series: &str) -> i64 {
    let mut stream = TcpStream::connect(admin).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

/// Polls `series` until it reaches `at_least`, within [`BOUND`].
async fn metric_reaches(admin: &str, series: &str, at_least: i64) {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let value = metric(admin, series).await;
        if value >= at_least {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} stayed at {value}, below {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const SHED_DEADLINE: &str = r#"floodgate_connections_shed_total{reason="deadline"}"#;

#[tokio::test]
async fn blank_lines_then_nothing_are_closed_by_the_head_deadline() {
    let app = start(short).await;
    let mut stream = TcpStream::connect(&app.webhook).await.unwrap();
    stream.write_all(b"\r\n\r\n").await.unwrap();
    assert!(
        closed_by_server(&mut stream).await,
        "blank lines held a connection open with no deadline"
    );
    metric_reaches(&app.admin, SHED_DEADLINE, 1).await;
}

#[tokio::test]
async fn a_request_line_sent_a_byte_at_a_time_is_closed_by_the_head_deadline() {
    let app = start(short).await;
    let mut stream = TcpStream::connect(&app.admin).await.unwrap();
    stream.write_all(b"\r\n\r\n").await.unwrap();
    // One byte every 20 ms of a request line that never ends: each byte is progress, none
    // ends the head, so only a deadline from the first byte stops it.
    let trickle = async {
        for byte in b"GET /healthz".iter().cycle() {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let cut = tokio::time::timeout(BOUND, trickle).await;
    assert!(cut.is_ok(), "a slow request line kept its connection");
    metric_reaches(&app.admin, SHED_DEADLINE, 1).await;
}

#[tokio::test]
async fn a_head_ended_by_bare_newlines_then_a_stalled_body_is_closed_by_the_body_deadline() {
    // The head deadline is long here: only a deadline on the body can close this connection.
    let app = start(|limits| ServerLimits {
        head: LONG,
        ..short(limits)
    })
    .await;
    let mut stream = TcpStream::connect(&app.webhook).await.unwrap();
    stream
        .write_all(b"POST /cb/callbackBeforeSendSingleMsgCommand HTTP/1.1\nHost: x\nContent-Length: 100\n\n{")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut stream).await,
        "a stalled body after a bare-LF head was never cut"
    );
    metric_reaches(&app.admin, SHED_DEADLINE, 1).await;
}

#[tokio::test]
async fn a_client_that_pipelines_and_never_reads_is_cut_by_the_write_deadline() {
    let app = start(short).await;
    // A small receive window, so the replies fill the sockets' buffers quickly.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(app.admin.parse().unwrap()).await.unwrap();
    // Each /metrics reply is several KiB: 400 of them are far more than the buffers hold.
    let requests = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(400);
    let (mut reader, mut writer) = stream.split();
    let _ = tokio::time::timeout(BOUND, writer.write_all(requests.as_bytes())).await;
    // Not reading: the server blocks writing a reply, and only the write deadline frees it.
    metric_reaches(&app.admin, SHED_DEADLINE, 1).await;
    let mut sink = Vec::new();
    let drained = tokio::time::timeout(BOUND, reader.read_to_end(&mut sink)).await;
    assert!(drained.is_ok(), "the connection stayed open");
}

#[tokio::test]
async fn an_idle_connection_outlives_the_head_deadline_and_serves_its_next_request() {
    let app = start(short).await;
    let mut stream = TcpStream::connect(&app.webhook).await.unwrap();
    assert_eq!(ask(&mut stream).await, "HTTP/1.1 200 OK");
    // Idle for many head deadlines (this wait is the point of the test, not a poll).
    tokio::time::sleep(SHORT * 2).await;
    assert_eq!(ask(&mut stream).await, "HTTP/1.1 200 OK");
    // Freshly accepted and silent is idle too.
    let mut fresh = TcpStream::connect(&app.webhook).await.unwrap();
    tokio::time::sleep(SHORT * 2).await;
    assert_eq!(ask(&mut fresh).await, "HTTP/1.1 200 OK");
    assert_eq!(metric(&app.admin, SHED_DEADLINE).await, 0);
}

#[tokio::test]
async fn at_the_cap_the_oldest_idle_connection_is_closed_and_the_new_one_served() {
    let app = start(|limits| ServerLimits {
        max_connections: 2,
        ..short(limits)
    })
    .await;
    let mut oldest = TcpStream::connect(&app.webhook).await.unwrap();
    assert_eq!(ask(&mut oldest).await, "HTTP/1.1 200 OK");
    let mut newer = TcpStream::connect(&app.webhook).await.unwrap();
    assert_eq!(ask(&mut newer).await, "HTTP/1.1 200 OK");
    metric_reaches(&app.admin, r#"floodgate_connections{state="idle"}"#, 2).await;

    let mut third = TcpStream::connect(&app.webhook).await.unwrap();
    assert_eq!(
        ask(&mut third).await,
        "HTTP/1.1 200 OK",
        "refused at the cap"
    );
    assert!(
        closed_by_server(&mut oldest).await,
        "the oldest idle one stayed"
    );
    assert_eq!(ask(&mut newer).await, "HTTP/1.1 200 OK");
    let shed = r#"floodgate_connections_shed_total{reason="idle"}"#;
    assert_eq!(metric(&app.admin, shed).await, 1);
    let refused = r#"floodgate_connections_shed_total{reason="cap"}"#;
    assert_eq!(metric(&app.admin, refused).await, 0);
}

#[tokio::test]
async fn at_the_cap_with_no_idle_connection_a_new_one_is_answered_deliver() {
    let app = start(|limits| ServerLimits {
        max_connections: 1,
        body: LONG,
        ..short(limits)
    })
    .await;
    // One connection in the middle of its body: active, not idle.
    let mut busy = TcpStream::connect(&app.webhook).await.unwrap();
    busy.write_all(b"POST /cb/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
        .await
        .unwrap();
    metric_reaches(&app.admin, r#"floodgate_connections{state="active"}"#, 1).await;
    let mut refused = TcpStream::connect(&app.webhook).await.unwrap();
    refused.write_all(callback().as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(BOUND, refused.read_to_string(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""actionCode":1"#), "{answer}");
    let cap = r#"floodgate_connections_shed_total{reason="cap"}"#;
    assert_eq!(metric(&app.admin, cap).await, 1);
}

/// The binary under a soft open-file limit of 256 (a common container default is 1024): it
/// raises the limit, says so, and serves 300 connections held open at once.
#[tokio::test]
async fn under_a_low_soft_open_file_limit_the_binary_raises_it_and_serves_300_connections() {
    let hard: u64 = String::from_utf8(
        Command::new("sh")
            .args(["-c", "ulimit -Hn"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap_or(u64::MAX);
    assert!(
        hard > 1024,
        "this test needs a hard open-file limit above 1024, not {hard}"
    );
    let mut child = Command::new("sh")
        .args([
            "-c",
            concat!("ulimit -Sn 256; exec ", env!("CARGO_BIN_EXE_floodgate")),
        ])
        .env_clear()
        .envs([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_LOG_FORMAT", "json"),
            ("FLOODGATE_LOG", "warn,floodgate=info"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _child = Killed(child);
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut raised = None;
    let mut cap = None;
    let webhook = loop {
        let line = receiver
            .recv_timeout(BOUND)
            .expect("floodgate reports serving");
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let fields = &event["fields"];
        match fields["message"].as_str() {
            Some("open-file soft limit") => {
                raised = Some((fields["before"].clone(), fields["after"].clone()))
            }
            Some("connection cap per listener") => cap = fields["max_connections"].as_u64(),
            Some("floodgate serving") => break fields["webhook"].as_str().unwrap().to_string(),
            _ => {}
        }
    };
    let (before, after) = raised.expect("the open-file limit is logged");
    assert_eq!(before, 256);
    assert_eq!(after.as_u64(), Some(hard));
    let expected_cap = 10_000.min((hard - 128) / 2);
    assert_eq!(cap, Some(expected_cap), "the cap in force is logged");

    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&webhook).await.unwrap();
        assert_eq!(ask(&mut stream).await, "HTTP/1.1 200 OK");
        held.push(stream);
    }
}

/// A child process killed when the test ends, passed or failed.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
