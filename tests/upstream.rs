//! floodgate in front of the operator's own webhook (`FLOODGATE_UPSTREAM_URL`): what it passes
//! on, byte for byte; what it answers itself; and what it answers when the upstream fails.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::upstream::{ALLOW, Behaviour, TestCa, UpstreamServer};
use support::{GROUP, Reply, SINGLE, TestApp};

const ONLINE: &str = "callbackAfterUserOnlineCommand";

/// What OpenIM's Go client writes for an after-online callback: `seq` is a millisecond
/// timestamp, which fits no message field.
const ONLINE_BODY: &str = "{\"callbackCommand\":\"callbackAfterUserOnlineCommand\",\"userID\":\"u1\",\"platformID\":2,\"platform\":\"Android\",\"connID\":\"c\\u003c1\\u003e\",\"isAppBackground\":false,\"seq\":1767225600123}\n";

async fn app_in_front_of(upstream: &UpstreamServer, vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("FLOODGATE_UPSTREAM_URL", upstream.url.as_str())];
    all.extend_from_slice(vars);
    TestApp::with_vars(&all).await
}

async fn post(app: &TestApp, path: &str, body: &str, operation_id: &str) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.webhook))
        .header("content-type", "application/json; charset=utf-8")
        .header("operationid", operation_id)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unjudged_command_goes_upstream_byte_for_byte_and_its_answer_comes_back_unchanged() {
    let upstream = UpstreamServer::start().await;
    let reply = r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"mine":[1]}"#;
    upstream.behave(Behaviour::Reply(202, reply.into()));
    let app = app_in_front_of(&upstream, &[("FLOODGATE_AUTH_TOKEN", "t0ken-t0ken")]).await;

    let response = post(
        &app,
        &format!("/openim/t0ken-t0ken/{ONLINE}?key=eyJzZW5kSUQiOiJ1MSJ9"),
        ONLINE_BODY,
        "op-42",
    )
    .await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.text().await.unwrap(), reply);

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let call = &seen[0];
    assert_eq!(call.path, format!("/hooks/{ONLINE}"), "never the token");
    assert_eq!(call.query.as_deref(), Some("key=eyJzZW5kSUQiOiJ1MSJ9"));
    assert_eq!(&call.body[..], ONLINE_BODY.as_bytes());
    assert_eq!(
        call.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(call.headers["operationid"], "op-42");
    assert!(call.headers.get("authorization").is_none());
    let counted = format!("floodgate_callbacks_total{{command=\"{ONLINE}\",verdict=\"allow\"}}");
    assert_eq!(app.metric(&counted).await, 1.0);
}

#[tokio::test]
async fn a_rejected_message_never_reaches_the_upstream_and_an_allowed_one_gets_its_final_answer() {
    let upstream = UpstreamServer::start().await;
    let app = app_in_front_of(&upstream, &[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    assert!(app.single("alice", "bob", "hello").await.is_allow());
    assert_eq!(
        app.single("alice", "bob", "hello again").await.err_code(),
        5002
    );
    assert_eq!(upstream.seen().len(), 1, "only the allowed message went on");

    // The upstream has the last word on what floodgate allows.
    let moderation =
        r#"{"actionCode":0,"errCode":20001,"errMsg":"moderated","errDlt":"","nextCode":1}"#;
    upstream.behave(Behaviour::Reply(200, moderation.into()));
    let reply = app
        .single("carol", "bob", "something the operator dislikes")
        .await;
    assert_eq!(reply.err_code(), 20001);
    assert_eq!(upstream.seen().len(), 2);
    assert_eq!(upstream.seen()[1].path, format!("/hooks/{SINGLE}"));
}

#[tokio::test]
async fn a_failing_upstream_fails_open_with_floodgates_own_answer_and_is_counted_by_kind() {
    let upstream = UpstreamServer::start().await;
    let app = app_in_front_of(&upstream, &[("FLOODGATE_UPSTREAM_TIMEOUT", "300ms")]).await;
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let cases = [
        (
            Behaviour::Reply(200, b"404 page not found".to_vec()),
            "invalid",
        ),
        (
            Behaviour::Reply(500, b"<html>oops</html>".to_vec()),
            "invalid",
        ),
        (Behaviour::Reply(200, huge.into_bytes()), "invalid"),
        (Behaviour::Stall, "timeout"),
        (Behaviour::Slow(Duration::from_secs(3)), "timeout"),
    ];
    for (behaviour, kind) in cases {
        upstream.behave(behaviour.clone());
        let series = format!("floodgate_upstream_errors_total{{kind=\"{kind}\"}}");
        let before = app.metric(&series).await;
        let reply = app.single("alice", "bob", "hi").await;
        assert!(reply.is_allow(), "{behaviour:?}: {reply:?}");
        assert_eq!(app.metric(&series).await, before + 1.0, "{behaviour:?}");
    }
}

#[tokio::test]
async fn an_upstream_5xx_is_a_failure_never_relayed_even_with_a_json_body() {
    let upstream = UpstreamServer::start().await;
    let open = app_in_front_of(&upstream, &[]).await;
    let closed = app_in_front_of(&upstream, &[("FLOODGATE_UPSTREAM_FAIL_MODE", "closed")]).await;
    // A body OpenIM could read, and would obey: relayed, it would reject the message.
    let moderation =
        r#"{"actionCode":0,"errCode":20001,"errMsg":"moderated","errDlt":"","nextCode":1}"#;
    for status in [500, 502, 503] {
        upstream.behave(Behaviour::Reply(status, moderation.into()));
        let reply = open.single("alice", "bob", "hi").await;
        assert!(reply.is_allow(), "fail mode open, HTTP {status}: {reply:?}");
        let reply = closed.single("alice", "bob", "hi").await;
        assert_eq!(reply.status, 200, "HTTP {status}");
        assert_eq!(reply.err_code(), 5098, "fail mode closed, HTTP {status}");
    }
    for app in [&open, &closed] {
        assert_eq!(
            app.metric("floodgate_upstream_errors_total{kind=\"invalid\"}")
                .await,
            3.0
        );
        assert_eq!(
            app.metric("floodgate_upstream_seconds_count{outcome=\"ok\"}")
                .await,
            0.0
        );
    }
    assert_eq!(upstream.seen().len(), 6, "each callback was passed on once");
    // A 4xx with a JSON object is an answer like any other: relayed as it came.
    upstream.behave(Behaviour::Reply(403, moderation.into()));
    let relayed = open.single("alice", "bob", "hi").await;
    assert_eq!(relayed.status, 403);
    assert_eq!(relayed.err_code(), 20001);
}

#[tokio::test]
async fn an_https_upstream_with_a_private_ca_is_reached_only_with_floodgate_upstream_ca() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::start_tls(&ca).await;
    assert!(upstream.url.starts_with("https://127.0.0.1:"));
    let moderation =
        r#"{"actionCode":0,"errCode":20001,"errMsg":"moderated","errDlt":"","nextCode":1}"#;
    upstream.behave(Behaviour::Reply(200, moderation.into()));
    let ca_file = ca.ca_file();
    let trusting = app_in_front_of(&upstream, &[("FLOODGATE_UPSTREAM_CA", ca_file.as_str())]).await;
    let reply = trusting.single("alice", "bob", "hello over tls").await;
    assert_eq!(
        reply.err_code(),
        20001,
        "the upstream's own answer: {reply:?}"
    );
    assert_eq!(upstream.seen().len(), 1);
    assert_eq!(upstream.seen()[0].path, format!("/hooks/{SINGLE}"));

    // The system roots do not know the test CA: the handshake fails, and the fail mode answers.
    let untrusting =
        app_in_front_of(&upstream, &[("FLOODGATE_UPSTREAM_FAIL_MODE", "closed")]).await;
    let reply = untrusting.single("alice", "bob", "hello over tls").await;
    assert_eq!(reply.err_code(), 5098, "{reply:?}");
    assert_eq!(
        untrusting
            .metric("floodgate_upstream_errors_total{kind=\"connection\"}")
            .await,
        1.0
    );
    assert_eq!(
        upstream.seen().len(),
        1,
        "nothing was sent without a trusted certificate"
    );
}

#[tokio::test]
async fn credentials_in_the_url_go_as_http_basic_and_its_query_comes_before_the_callbacks() {
    let upstream = UpstreamServer::start().await;
    let url = upstream
        .url
        .replace("http://", "http://hook:pa%40ss@")
        .replace("/hooks", "/hooks?tenant=7");
    let app = TestApp::with_vars(&[("FLOODGATE_UPSTREAM_URL", url.as_str())]).await;
    assert!(app.single("alice", "bob", "hi").await.is_allow());
    let response = post(
        &app,
        &format!("/openim/{ONLINE}?key=abc"),
        ONLINE_BODY,
        "op-1",
    )
    .await;
    assert_eq!(response.status(), 200);

    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    // base64("hook:pa@ss"): the password percent-decoded, as Go's client sends it.
    for call in &seen {
        assert_eq!(call.headers["authorization"], "Basic aG9vazpwYUBzcw==");
    }
    assert_eq!(seen[0].path, format!("/hooks/{SINGLE}"));
    assert_eq!(seen[0].query.as_deref(), Some("tenant=7"));
    assert_eq!(seen[1].path, format!("/hooks/{ONLINE}"));
    assert_eq!(seen[1].query.as_deref(), Some("tenant=7&key=abc"));
}

/// The binary, logging everything it logs at `debug` as JSON, in front of `url`; its webhook
/// address. Its output is read on threads; [`Binary::output`] has all of it.
fn start_binary(url: &str) -> (Binary, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .env_clear()
        .envs([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_LOG_FORMAT", "json"),
            ("FLOODGATE_LOG", "debug"),
            ("FLOODGATE_UPSTREAM_URL", url),
            ("FLOODGATE_UPSTREAM_TIMEOUT", "300ms"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = lines.clone();
    let err_reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("floodgate serving") {
                let _ = tx.send(line.clone());
            }
            sink.lock().unwrap().push(line);
        }
    });
    let sink = lines.clone();
    let out_reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });
    let serving = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("no serving line: {:?}", lines.lock().unwrap()));
    let serving: Value = serde_json::from_str(&serving).unwrap();
    let webhook = serving["fields"]["webhook"].as_str().unwrap().to_string();
    let binary = Binary {
        child,
        readers: vec![err_reader, out_reader],
        lines,
    };
    (binary, webhook)
}

/// The binary under test, killed when dropped.
struct Binary {
    child: Child,
    readers: Vec<std::thread::JoinHandle<()>>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Waits (up to a deadline) until `count` lines hold `text`: the log writer is asynchronous.
    fn wait_for_lines(&self, text: &str, count: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while self.count(text) < count {
            assert!(
                std::time::Instant::now() < deadline,
                "{count} lines with {text:?}: {:#?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn count(&self, text: &str) -> usize {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|line| line.contains(text)).count()
    }

    /// Stops the binary; every line it wrote.
    fn output(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_or_error_ever_shows_the_upstream_password() {
    const SECRETS: [&str; 3] = ["s3cr%40t-pw", "s3cr@t-pw", "aG9vazpzM2NyQHQtcHc"];
    let upstream = UpstreamServer::start().await;
    let url = upstream.url.replace("http://", "http://hook:s3cr%40t-pw@");
    let (binary, webhook) = start_binary(&url);
    let client = reqwest::Client::new();
    let send = |text: &'static str| {
        let request = client
            .post(format!("http://{webhook}/openim/{SINGLE}"))
            .json(&support::single_body("alice", "bob", text));
        async move { request.send().await.unwrap().status() }
    };
    // Every way a call can go: answered, refused with a 5xx, unusable, too slow. Each a message
    // of its own: a repeat of one would be answered from the replay window, never sent on.
    for (behaviour, text) in [
        (Behaviour::Reply(200, ALLOW.into()), "hi"),
        (Behaviour::Reply(503, b"down".to_vec()), "hi again"),
        (Behaviour::Reply(200, b"not json".to_vec()), "hi once more"),
        (Behaviour::Stall, "hi at last"),
    ] {
        upstream.behave(behaviour);
        assert_eq!(send(text).await, 200);
    }
    assert_eq!(upstream.seen().len(), 4);
    assert_eq!(
        upstream.seen()[0].headers["authorization"],
        "Basic aG9vazpzM2NyQHQtcHc="
    );
    drop(upstream); // and no connection at all
    assert_eq!(send("and goodbye").await, 200);
    binary.wait_for_lines("the upstream webhook failed", 4);
    let logged = binary.output();
    for secret in SECRETS {
        assert!(!logged.contains(secret), "{secret} logged:\n{logged}");
    }

    // A start-up refusal (here: the CA file) names the variable and shows no credential.
    let output = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .env_clear()
        .envs([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_UPSTREAM_URL", url.as_str()),
            ("FLOODGATE_UPSTREAM_CA", "/nonexistent/ca.pem"),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("FLOODGATE_UPSTREAM_CA"), "{text}");
    for secret in SECRETS {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn a_closed_upstream_port_fails_closed_with_5098_except_for_after_callbacks() {
    let port = support::redis::free_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let app = TestApp::with_vars(&[
        ("FLOODGATE_UPSTREAM_URL", url.as_str()),
        ("FLOODGATE_UPSTREAM_FAIL_MODE", "closed"),
    ])
    .await;
    let reply = app.single("alice", "bob", "hi").await;
    assert_eq!(reply.err_code(), 5098);
    assert!(
        reply.body["errMsg"]
            .as_str()
            .unwrap()
            .contains("retry after")
    );
    let online = post(&app, &format!("/openim/{ONLINE}"), ONLINE_BODY, "op").await;
    let online = Reply::read(online).await;
    assert!(
        online.is_allow(),
        "OpenIM ignores an after-callback's answer: {online:?}"
    );
    assert_eq!(
        app.metric("floodgate_upstream_errors_total{kind=\"connection\"}")
            .await,
        2.0
    );
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"enforce\",rule=\"upstream\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn without_an_upstream_an_after_callback_is_allowed_under_its_own_label_not_invalid() {
    let app = TestApp::with_vars(&[]).await;
    let reply =
        Reply::read(post(&app, &format!("/openim/{ONLINE}"), ONLINE_BODY, "op").await).await;
    assert!(reply.is_allow(), "{reply:?}");
    let allowed = format!("floodgate_callbacks_total{{command=\"{ONLINE}\",verdict=\"allow\"}}");
    assert_eq!(app.metric(&allowed).await, 1.0);
    let text = app.metrics().await;
    assert!(!text.contains(&format!("command=\"{ONLINE}\",verdict=\"invalid\"}} 1")));
    // Any JSON at all for a command floodgate does not judge, even not an object.
    let odd = Reply::read(
        post(
            &app,
            "/openim/callbackAfterSendGroupMsgCommand",
            "[1,2]",
            "op",
        )
        .await,
    )
    .await;
    assert!(odd.is_allow());
}

#[tokio::test]
async fn the_set_group_info_allow_echoes_what_openim_copies_back() {
    let app = TestApp::with_vars(&[]).await;
    let body = json!({
        "callbackCommand": "callbackBeforeSetGroupInfoExCommand",
        "operationID": "op",
        "groupID": "g-1",
        "groupName": "Hikers",
        "notification": null,
        "introduction": "we walk",
        "faceURL": "https://x/y.png",
        "ex": "",
        "needVerification": 1,
        "lookMemberInfo": null,
        "applyMemberFriend": 0
    });
    let reply = app
        .post("/openim/callbackBeforeSetGroupInfoExCommand", &body)
        .await;
    assert_eq!(reply.status, 200);
    // Every field OpenIM copies back (docs/openim.md, "Replies OpenIM copies back").
    assert_eq!(floodgate::http::act_wire::SET_GROUP_INFO_EX_ECHO.len(), 9);
    for field in floodgate::http::act_wire::SET_GROUP_INFO_EX_ECHO {
        assert_eq!(reply.body[field], body[field], "{field}");
        assert!(
            reply.body.as_object().unwrap().contains_key(field),
            "{field}"
        );
    }
    assert_eq!(reply.body["nextCode"], 0);
    assert_eq!(reply.body["actionCode"], 0);

    let plain = json!({"callbackCommand": "callbackBeforeSetGroupInfoCommand", "groupID": "g-2",
        "groupName": "Runners", "faceURL": "", "introduction": "fast"});
    let reply = app
        .post("/openim/callbackBeforeSetGroupInfoCommand", &plain)
        .await;
    assert_eq!(reply.body["groupName"], "Runners");
    assert_eq!(reply.body["introduction"], "fast");
    assert_eq!(reply.body["groupID"], "g-2");
    assert!(
        reply.body.get("notification").is_none(),
        "absent stays absent"
    );
}

#[tokio::test]
async fn a_group_message_passes_through_to_the_upstream_like_a_single_one() {
    let upstream = UpstreamServer::start().await;
    let app = app_in_front_of(&upstream, &[]).await;
    assert!(app.group("alice", "g1", "hi all", &[]).await.is_allow());
    let seen = upstream.seen();
    assert_eq!(seen[0].path, format!("/hooks/{GROUP}"));
    let sent: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(sent["groupID"], "g1");
}
