//! The wire protocol (docs/openim.md) over HTTP: routing, leniency, exact replies, and bad input
//! that gets a clear 4xx while the replica keeps serving.

mod support;

use serde_json::{Value, json};
use support::{GROUP, SINGLE, TestApp, allow_body, single_body};

/// The request of OpenIM's own page for this callback (SEED-callbackBeforeSendSingleMsg.md).
const SEED: &str = r#"{
  "sendID": "user123",
  "callbackCommand": "callbackBeforeSendSingleMsgCommand",
  "serverMsgID": "msg001",
  "clientMsgID": "clientmsg001",
  "operationID": "1646445464564",
  "senderPlatformID": 1,
  "senderNickname": "User123",
  "sessionType": 1,
  "msgFrom": 1,
  "contentType": 1,
  "status": 1,
  "sendTime": 1673048592000,
  "createTime": 1673048592000,
  "content": "Hello, this is a test message",
  "seq": 1001,
  "atUserList": ["user456", "user789"],
  "faceURL": "http://example.com/path/to/user/image.png",
  "ex": "Extra data",
  "recvID": "user456"
}"#;

#[tokio::test]
async fn the_seed_example_gets_exactly_the_allow_object() {
    let app = TestApp::with_vars(&[]).await;
    let response = app
        .client
        .post(format!(
            "{}/callbackBeforeSendSingleMsgCommand?contenttype=json",
            app.webhook
        ))
        .body(SEED)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    assert_eq!(
        text,
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#
    );
}

#[tokio::test]
async fn the_body_command_routes_under_any_prefix() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    let body = single_body("alice", "bob", "hello");
    assert!(app.post("/x/y/anything", &body).await.is_allow());
    assert_eq!(
        app.post("/", &body).await.err_code(),
        5002,
        "judged by the body's callbackCommand"
    );
}

#[tokio::test]
async fn the_legacy_query_and_the_path_route_when_the_body_has_no_command() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    let mut body = single_body("alice", "bob", "hello");
    body.as_object_mut().unwrap().remove("callbackCommand");
    assert!(
        app.post(&format!("/callbackExample?command={SINGLE}"), &body)
            .await
            .is_allow()
    );
    assert_eq!(
        app.post(&format!("/callbackExample/{SINGLE}"), &body)
            .await
            .err_code(),
        5002
    );
    // Neither names a before-send command: answered allow at once.
    assert!(app.post("/callbackExample", &body).await.is_allow());
}

#[tokio::test]
async fn group_messages_are_judged_and_other_commands_allowed_and_counted() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    assert!(app.group("alice", "g1", "hi all", &[]).await.is_allow());
    assert_eq!(
        app.group("alice", "g1", "hi again", &[]).await.err_code(),
        5002
    );

    let online = json!({"callbackCommand": "callbackAfterUserOnlineCommand", "userID": "alice"});
    for _ in 0..3 {
        assert!(
            app.post("/cb/callbackAfterUserOnlineCommand", &online)
                .await
                .is_allow()
        );
    }
    let odd = json!({"callbackCommand": "somethingElse\nwith free text"});
    assert!(app.post("/cb/x", &odd).await.is_allow());
    let series = |command: &str| {
        format!("floodgate_callbacks_total{{command=\"{command}\",verdict=\"allow\"}}")
    };
    assert_eq!(
        app.metric(&series("callbackAfterUserOnlineCommand")).await,
        3.0
    );
    assert_eq!(app.metric(&series("other")).await, 1.0);
    assert_eq!(app.metric(&series(GROUP)).await, 1.0);
}

#[tokio::test]
async fn lenient_parsing_accepts_nulls_missing_and_unknown_fields() {
    let app = TestApp::with_vars(&[]).await;
    let bodies = [
        json!({"callbackCommand": SINGLE}),
        json!({"callbackCommand": SINGLE, "sendID": "a", "atUserList": null, "content": null}),
        json!({"callbackCommand": SINGLE, "sendID": "a", "futureField": {"deep": [1, 2]}, "recvID": "b"}),
        json!({"callbackCommand": GROUP, "sendID": "a", "contentType": 102, "content": "{\"sourcePicture\":{\"url\":\"u\"}}"}),
    ];
    for body in bodies {
        assert!(app.post("/cb/x", &body).await.is_allow(), "{body}");
    }
    // Go's encoder ends the body with a newline and escapes HTML characters.
    let go_style = "{\"callbackCommand\":\"callbackBeforeSendSingleMsgCommand\",\"sendID\":\"a\",\"content\":\"{\\\"content\\\":\\\"a \\u003c b\\\"}\"}\n";
    assert!(app.post_raw("/cb/x", go_style).await.is_allow());
}

async fn assert_invalid(app: &TestApp, reply: support::Reply, status: u16, mentions: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(
        reply.body["actionCode"], 1,
        "OpenIM delivers on actionCode != 0"
    );
    assert_eq!(reply.body["nextCode"], 0);
    assert_eq!(reply.body["errCode"], 0);
    let text = format!("{} {}", reply.body["errMsg"], reply.body["errDlt"]);
    assert!(text.contains(mentions), "{text}");
    // ... and the replica keeps serving.
    assert!(
        app.single("someone", "else", "still there?")
            .await
            .is_allow()
    );
}

#[tokio::test]
async fn bad_bodies_get_400_with_a_readable_reason() {
    let app = TestApp::with_vars(&[]).await;
    let path = format!("/cb/{SINGLE}");
    assert_invalid(
        &app,
        app.post_raw(&path, "not json at all").await,
        400,
        "not a JSON object",
    )
    .await;
    assert_invalid(
        &app,
        app.post_raw(&path, "[1,2,3]").await,
        400,
        "not a JSON object",
    )
    .await;
    assert_invalid(
        &app,
        app.post_raw(&path, "").await,
        400,
        "not a JSON object",
    )
    .await;
    assert_invalid(
        &app,
        app.post_raw(&path, r#"{"sendID": 42}"#).await,
        400,
        "sendID",
    )
    .await;
    assert_invalid(
        &app,
        app.post_raw(&path, r#"{"contentType": "101"}"#).await,
        400,
        "invalid type",
    )
    .await;
    assert_invalid(
        &app,
        app.post_raw(&path, r#"{"sendID": "a""#).await,
        400,
        "EOF",
    )
    .await;
    let invalid_utf8: Vec<u8> =
        b"{\"sendID\":\"a\xff\xfe\",\"callbackCommand\":\"callbackBeforeSendSingleMsgCommand\"}"
            .to_vec();
    assert_invalid(
        &app,
        app.post_raw(&path, invalid_utf8).await,
        400,
        "invalid",
    )
    .await;
    let deep = format!(
        "{{\"atUserList\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_invalid(&app, app.post_raw(&path, deep).await, 400, "atUserList").await;
    assert_eq!(
        app.metric(&format!(
            "floodgate_callbacks_total{{command=\"{SINGLE}\",verdict=\"invalid\"}}"
        ))
        .await,
        8.0
    );
    // Deep nesting in a field we do not read is valid JSON, skipped without recursion.
    let deep = format!(
        "{{\"callbackCommand\":\"{SINGLE}\",\"unknown\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(app.post_raw(&path, deep).await.is_allow());
}

#[tokio::test]
async fn a_body_over_the_limit_is_judged_with_or_without_a_content_length() {
    let file = support::keyword_file("get free money now\n");
    let path = file.display().to_string();
    let app = TestApp::with_vars(&[
        ("FLOODGATE_MAX_BODY", "1KiB"),
        ("FLOODGATE_KEYWORDS_FILE", &path),
    ])
    .await;
    let body = single_body("alice", "bob", &"x".repeat(2000));
    assert!(app.post(&format!("/cb/{SINGLE}"), &body).await.is_allow());
    // Without a Content-Length (chunked), the same.
    let mut body = single_body("alice", "bob", "get free money now");
    body["ex"] = Value::String("y".repeat(5000));
    let bytes = serde_json::to_vec(&body).unwrap();
    let response = app
        .client
        .post(format!("{}/cb/{SINGLE}", app.webhook))
        .body(reqwest::Body::wrap_stream(futures_stream(bytes, 512)))
        .send()
        .await
        .unwrap();
    let reply = support::Reply::read(response).await;
    assert_eq!(reply.err_code(), 5008, "{reply:?}");
    let _ = std::fs::remove_file(file);
}

/// `body` with a client's padding: `ex`, set by the client and invisible to recipients, made
/// 300 KB of escapes, past the default `FLOODGATE_MAX_BODY`.
fn padded(mut body: Value) -> Vec<u8> {
    body["ex"] = Value::String("\"\\".repeat(100_000));
    serde_json::to_vec(&body).unwrap()
}

/// `body` with its own `clientMsgID`, so that no two test messages are one message sent again.
fn numbered(mut body: Value, n: usize) -> Value {
    body["clientMsgID"] = json!(format!("c{n}"));
    body
}

#[tokio::test]
async fn padding_past_the_body_limit_turns_off_no_text_or_mention_rule() {
    let file = support::keyword_file("get free money now\n");
    let path = file.display().to_string();
    let app = TestApp::with_vars(&[
        ("FLOODGATE_KEYWORDS_FILE", &path),
        ("FLOODGATE_LINK_DENY", "evil.example"),
        ("FLOODGATE_MENTION_LIMIT", "3"),
        ("FLOODGATE_GROUP_INVITE_LIMIT", "5/1h"),
    ])
    .await;
    let path = format!("/cb/{SINGLE}");
    let keyword = padded(single_body("alice", "bob", "get free money now"));
    assert!(keyword.len() > 300_000);
    assert_eq!(app.post_raw(&path, keyword).await.err_code(), 5008);
    // A link, behind a push notification's text of 400 KB.
    let mut link = single_body("alice", "bob", "see https://evil.example/offer");
    link["offlinePushInfo"] = json!({"title": "t", "desc": "z".repeat(400_000), "ex": [[{}]]});
    assert_eq!(app.post(&path, &link).await.err_code(), 5009);
    let mut group = numbered(single_body("alice", "", "hello all"), 2);
    group["callbackCommand"] = json!(GROUP);
    group["sessionType"] = json!(3);
    group["groupID"] = json!("g1");
    group["atUserList"] = json!(["u1", "u2", "u3", "u4", "u5"]);
    let reply = app.post_raw(&format!("/cb/{GROUP}"), padded(group)).await;
    assert_eq!(reply.err_code(), 5007, "{reply:?}");
    // Friend requests and invitations likewise.
    let friend = support::friend_request_body("mallory", "bob", "get free money now");
    let reply = app
        .post_raw("/cb/callbackBeforeAddFriendCommand", padded(friend))
        .await;
    assert_eq!(reply.err_code(), 5008, "{reply:?}");
    let invite = support::invite_body("g2", 6);
    let reply = app
        .post_raw("/cb/callbackBeforeInviteJoinGroupCommand", padded(invite))
        .await;
    assert_eq!(reply.err_code(), 5011, "{reply:?}");
    // And a padded message that breaks no rule is an ordinary allow, not a 413.
    let fine = padded(numbered(single_body("carol", "bob", "see you at 5"), 3));
    assert!(app.post_raw(&path, fine).await.is_allow());
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn padded_copies_count_for_repeat_and_campaign_on_redis() {
    let app = TestApp::on(
        support::Backend::Redis,
        &[
            ("FLOODGATE_REPEAT_LIMIT", "3/10m"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
        ],
    )
    .await;
    let path = format!("/cb/{SINGLE}");
    let pitch = "Buy cheap followers now at example-shop.com";
    for n in 0..3 {
        let body = numbered(single_body("alice", &format!("mark{n}"), pitch), n);
        assert!(app.post_raw(&path, padded(body)).await.is_allow(), "{n}");
    }
    let fourth = numbered(single_body("alice", "mark3", pitch), 3);
    assert_eq!(app.post_raw(&path, padded(fourth)).await.err_code(), 5003);
    let spam = "加我微信领红包 限时优惠 vx123456";
    for n in 0..2 {
        let body = single_body(&format!("bot{n}"), &format!("victim{n}"), spam);
        assert!(app.post_raw(&path, padded(body)).await.is_allow(), "{n}");
    }
    let third = single_body("bot2", "victim2", spam);
    assert_eq!(app.post_raw(&path, padded(third)).await.err_code(), 5004);
    app.assert_store_healthy().await;
}

#[tokio::test]
async fn a_padded_message_goes_upstream_whole_and_the_upstream_decides() {
    use support::upstream::{Behaviour, UpstreamServer};
    let upstream = UpstreamServer::start().await;
    let refusal = r#"{"actionCode":0,"errCode":7001,"errMsg":"mine","errDlt":"","nextCode":1}"#;
    upstream.behave(Behaviour::Reply(200, refusal.into()));
    let app = TestApp::with_vars(&[("FLOODGATE_UPSTREAM_URL", upstream.url.as_str())]).await;
    let body = padded(single_body("alice", "bob", "hello"));
    let reply = app.post_raw(&format!("/cb/{SINGLE}"), body.clone()).await;
    assert_eq!(reply.err_code(), 7001, "{reply:?}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].body == body,
        "the same bytes, all {} of them",
        body.len()
    );

    // Fail mode closed: an upstream that cannot be reached is not skipped for a long body.
    let port = support::redis::free_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let app = TestApp::with_vars(&[
        ("FLOODGATE_UPSTREAM_URL", url.as_str()),
        ("FLOODGATE_UPSTREAM_FAIL_MODE", "closed"),
    ])
    .await;
    let body = padded(single_body("alice", "bob", "hello"));
    assert_eq!(
        app.post_raw(&format!("/cb/{SINGLE}"), body)
            .await
            .err_code(),
        5098
    );
}

#[tokio::test]
async fn twenty_megabytes_after_a_valid_head_get_an_answer_and_judge_the_sender() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    let path = format!("/cb/{SINGLE}");
    assert!(
        app.post_raw(&path, go_ordered("alice", "hi"))
            .await
            .is_allow()
    );
    let huge = |from: &str| {
        let mut body = go_ordered(from, "hi").trim_end().to_string();
        body.pop(); // the closing brace
        body.push_str(r#","ex":""#);
        let mut bytes = body.into_bytes();
        bytes.resize(bytes.len() + 20_000_000, b'j');
        bytes.extend_from_slice(b"\"}");
        bytes
    };
    let reply = app.post_raw(&path, huge("alice")).await;
    assert_eq!(
        reply.err_code(),
        5002,
        "past the ceiling, still its sender: {reply:?}"
    );
    let response = app
        .client
        .post(format!("{}{path}", app.webhook))
        .body(reqwest::Body::wrap_stream(futures_stream(
            huge("carol"),
            1 << 16,
        )))
        .send()
        .await
        .unwrap();
    let reply = support::Reply::read(response).await;
    assert_invalid(&app, reply, 413, "body too large").await;
}

#[tokio::test]
async fn malformed_or_deeply_nested_padded_bodies_are_invalid_never_rejected() {
    let file = support::keyword_file("get free money now\n");
    let path = file.display().to_string();
    let app = TestApp::with_vars(&[("FLOODGATE_KEYWORDS_FILE", &path)]).await;
    let path = format!("/cb/{SINGLE}");
    let body = padded(single_body("alice", "bob", "get free money now"));
    let deep = [
        &body[..body.len() - 1],
        format!(r#","x":{}{}}}"#, "[".repeat(200), "]".repeat(200)).as_bytes(),
    ]
    .concat();
    let unclosed = body[..body.len() - 1].to_vec();
    let trailing = [&body[..], b"x"].concat();
    let bad_escape = [&body[..body.len() - 1], br#","x":"\q"}"#].concat();
    let not_an_object = [b"[", &body[..], b"]"].concat();
    for (name, bytes) in [
        ("deep", deep),
        ("unclosed", unclosed),
        ("trailing", trailing),
        ("bad escape", bad_escape),
        ("not an object", not_an_object),
    ] {
        let reply = app.post_raw(&path, bytes).await;
        assert_eq!(
            (reply.status, reply.body["actionCode"].as_i64()),
            (400, Some(1)),
            "{name}: {reply:?}"
        );
    }
    let _ = std::fs::remove_file(file);
}

/// A message body in OpenIM's field order (`sendID` first), `text` long or short.
fn go_ordered(from: &str, text: &str) -> String {
    let content =
        serde_json::to_string(&serde_json::json!({ "content": text }).to_string()).unwrap();
    format!(
        "{{\"sendID\":\"{from}\",\"callbackCommand\":\"{SINGLE}\",\"serverMsgID\":\"s\",\"clientMsgID\":\"c\",\"operationID\":\"op-9\",\"senderPlatformID\":1,\"sessionType\":1,\"msgFrom\":100,\"contentType\":101,\"content\":{content},\"recvID\":\"bob\"}}\n"
    )
}

#[tokio::test]
async fn an_over_long_or_broken_message_is_still_judged() {
    let app = TestApp::with_vars(&[
        ("FLOODGATE_MAX_BODY", "1KiB"),
        ("FLOODGATE_RATE_LIMITS", "1/1m"),
    ])
    .await;
    let path = format!("/cb/{SINGLE}");
    let long = "x".repeat(5000);
    // A sender over the limit is rejected, however long the body.
    assert!(
        app.post_raw(&path, go_ordered("alice", "hi"))
            .await
            .is_allow()
    );
    let reply = app.post_raw(&path, go_ordered("alice", &long)).await;
    assert_eq!(reply.err_code(), 5002, "{reply:?}");
    let broken = go_ordered("alice", "hi").replace("\"recvID\"", "recvID");
    assert_eq!(app.post_raw(&path, broken).await.err_code(), 5002);
    // A sender within it is judged on the whole message, and that message counts.
    let reply = app.post_raw(&path, go_ordered("carol", &long)).await;
    assert!(reply.is_allow(), "{reply:?}");
    assert_eq!(
        app.post_raw(&path, go_ordered("carol", "hi"))
            .await
            .err_code(),
        5002,
        "the over-long message was delivered, so it used carol's quota"
    );
}

fn futures_stream(
    bytes: Vec<u8>,
    piece: usize,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(piece).map(|c| Ok(c.to_vec())).collect();
    tokio_stream::iter(chunks)
}

#[tokio::test]
async fn other_methods_get_405() {
    let app = TestApp::with_vars(&[]).await;
    let response = app
        .client
        .get(format!("{}/cb/{SINGLE}", app.webhook))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    let reply = support::Reply::read(response).await;
    assert_invalid(&app, reply, 405, "POST").await;
}

#[tokio::test]
async fn with_an_auth_token_requests_must_carry_it_in_the_path_or_a_bearer_header() {
    let app = TestApp::with_vars(&[("FLOODGATE_AUTH_TOKEN", "t0ken-abcdef")]).await;
    let body = single_body("alice", "bob", "hello");
    let reply = app.post(&format!("/callbackExample/{SINGLE}"), &body).await;
    assert_invalid_401(&reply);
    let reply = app
        .post(&format!("/callbackExample/wrong-token/{SINGLE}"), &body)
        .await;
    assert_invalid_401(&reply);
    assert!(
        app.post(&format!("/callbackExample/t0ken-abcdef/{SINGLE}"), &body)
            .await
            .is_allow()
    );
    assert!(
        app.post(&format!("/t0ken-abcdef?command={SINGLE}"), &body)
            .await
            .is_allow()
    );
    let response = app
        .client
        .post(format!("{}/callbackExample/{SINGLE}", app.webhook))
        .bearer_auth("t0ken-abcdef")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(support::Reply::read(response).await.is_allow());
}

fn assert_invalid_401(reply: &support::Reply) {
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["actionCode"], 1);
    assert!(
        reply.body["errDlt"]
            .as_str()
            .unwrap()
            .contains("FLOODGATE_AUTH_TOKEN")
    );
}

#[tokio::test]
async fn every_reply_is_complete_json_with_integer_codes() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    let allow = app.single("alice", "bob", "one").await;
    assert_eq!(allow.body, allow_body());
    let reject = app.single("alice", "bob", "two").await;
    let keys: Vec<&String> = reject.body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5);
    for key in ["actionCode", "errCode", "nextCode"] {
        assert!(reject.body[key].is_i64(), "{key} is an integer");
    }
    assert_eq!(reject.body["actionCode"], 0);
    assert_eq!(reject.body["nextCode"], 1);
    // errMsg is all an app user sees (OpenIM drops errDlt on the WebSocket path).
    let message = reject.body["errMsg"].as_str().unwrap();
    assert!(
        message.starts_with("too many messages; retry after "),
        "{message}"
    );
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::with_vars(&[]).await;
    let address = app.webhook.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"POST /cb/x HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap(); // ... and never the rest
    assert!(
        app.single("alice", "bob", "others are served meanwhile")
            .await
            .is_allow()
    );
    let mut rest = Vec::new();
    // The server closes the connection once the header deadline (5 s) passes.
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(
        closed.is_ok(),
        "the half-sent request was still open after 15 s"
    );
}

#[tokio::test]
async fn connections_past_the_cap_are_answered_deliver_and_closed_while_the_rest_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::with_vars(&[("FLOODGATE_MAX_CONNECTIONS", "2")]).await;
    let address = app.webhook.trim_start_matches("http://").to_string();
    let body = serde_json::to_string(&single_body("alice", "bob", "hi")).unwrap();
    let request = format!(
        "POST /cb/{SINGLE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Two connections in the middle of a request take both places (idle ones would be closed
    // to make room: tests/connections.rs).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
        let (head, _) = request.split_at(request.len() - 1);
        connection.write_all(head.as_bytes()).await.unwrap();
        held.push(connection);
    }
    wait_for_metric(&app, r#"floodgate_connections{state="active"}"#, 2.0).await;
    // A third gets a complete answer that makes OpenIM deliver, and is closed.
    let mut third = tokio::net::TcpStream::connect(&address).await.unwrap();
    third.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let (head, json) = answer.split_once("\r\n\r\n").unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap();
    assert_eq!(length.parse::<usize>().unwrap(), json.len(), "{answer}");
    let reply: Value = serde_json::from_str(json).unwrap();
    assert_eq!(reply["actionCode"], 1, "OpenIM delivers: {reply}");
    assert_eq!(reply["nextCode"], 0);
    // A place freed is a place served.
    drop(held.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reply = app.single("carol", "bob", "a place is free").await;
        if reply.status == 200 {
            assert!(reply.is_allow());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{reply:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Polls the admin listener's `series` until it reaches `at_least` (10 s at most).
async fn wait_for_metric(app: &TestApp, series: &str, at_least: f64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let value = app.metric(series).await;
        if value >= at_least {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} stayed at {value}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
