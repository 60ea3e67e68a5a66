//! floodgate as OpenIM's Go webhook client meets it: the exact bytes `json.Encoder` writes
//! (a trailing newline, `\u003c`-escaped HTML characters), `Content-Type: application/json;
//! charset=utf-8`, `Operationid`, and one kept-alive connection reused after idle gaps longer
//! than the old 5 s header deadline — directly, and through the repository's nginx config, with
//! the operator's own webhook behind floodgate.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::nginx::Nginx;
use support::upstream::UpstreamServer;
use support::{SINGLE, TestApp};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longer than the header deadline that used to close idle connections (5 s).
const IDLE_GAP: Duration = Duration::from_secs(6);

/// One connection, written to as Go's `net/http` client writes a POST.
struct GoClient {
    stream: BufReader<TcpStream>,
    host: String,
}

impl GoClient {
    async fn connect(host: &str) -> GoClient {
        GoClient {
            stream: BufReader::new(TcpStream::connect(host).await.unwrap()),
            host: host.to_string(),
        }
    }

    /// POSTs `body` and reads the answer: status and body.
    async fn post(&mut self, path: &str, body: &str, operation_id: &str) -> (u16, Value) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: {}\r\nContent-Type: application/json; charset=utf-8\r\nOperationid: {operation_id}\r\nAccept-Encoding: gzip\r\n\r\n",
            self.host,
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).await.unwrap();
        assert!(!status_line.is_empty(), "the connection was closed");
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = None;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        let mut reply = vec![0; length.expect("a Content-Length")];
        self.stream.read_exact(&mut reply).await.unwrap();
        (status, serde_json::from_slice(&reply).unwrap())
    }
}

/// A one-to-one text message exactly as OpenIM v3.8's `json.Encoder` writes it: Go's field
/// order, HTML characters escaped, the content's own JSON inside a string, a trailing newline.
fn go_encoded_message(from: &str, to: &str, text: &str) -> String {
    let content = serde_json::to_string(&serde_json::json!({ "content": text })).unwrap();
    let content = serde_json::to_string(&content).unwrap();
    let body = format!(
        "{{\"sendID\":\"{from}\",\"callbackCommand\":\"{SINGLE}\",\"serverMsgID\":\"5f1c0e9b8a7d6c5b\",\"clientMsgID\":\"c0ffee\",\"operationID\":\"op-1\",\"senderPlatformID\":2,\"senderNickname\":\"{from}\",\"sessionType\":1,\"msgFrom\":100,\"contentType\":101,\"status\":1,\"sendTime\":1767225600000,\"createTime\":1767225600000,\"content\":{content},\"seq\":0,\"atUserList\":null,\"faceURL\":\"\",\"ex\":\"\",\"recvID\":\"{to}\"}}\n"
    );
    body.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

const ONLINE: &str = "{\"callbackCommand\":\"callbackAfterUserOnlineCommand\",\"userID\":\"bob\",\"platformID\":2,\"platform\":\"Android\",\"connID\":\"x\",\"isAppBackground\":false,\"seq\":1767225600123}\n";

/// The conversation OpenIM has with the webhook URL at `host`, floodgate behind it in front of
/// `upstream`.
async fn converse_like_openim(host: &str, upstream: &UpstreamServer) {
    let mut openim = GoClient::connect(host).await;
    let path = format!("/callbackExample/{SINGLE}");
    let first = go_encoded_message("alice", "bob", "see <b>this</b> & that");
    let (status, reply) = openim.post(&path, &first, "op-1").await;
    assert_eq!(
        (status, reply["nextCode"].as_i64()),
        (200, Some(0)),
        "{reply}"
    );

    tokio::time::sleep(IDLE_GAP).await;
    let second = go_encoded_message("alice", "bob", "still there?");
    let (status, reply) = openim.post(&path, &second, "op-2").await;
    assert_eq!(status, 200, "the idle connection was reused: {reply}");
    assert_eq!(reply["errCode"], 5002, "{reply}");
    assert!(
        reply["errMsg"]
            .as_str()
            .unwrap()
            .starts_with("too many messages; retry after "),
        "{reply}"
    );

    let (status, reply) = openim
        .post(
            "/callbackExample/callbackAfterUserOnlineCommand",
            ONLINE,
            "op-3",
        )
        .await;
    assert_eq!((status, reply["actionCode"].as_i64()), (200, Some(0)));

    // The upstream saw OpenIM's bytes, headers and all, for what floodgate did not reject.
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(&seen[0].body[..], first.as_bytes());
    assert_eq!(seen[0].headers["operationid"], "op-1");
    assert_eq!(
        seen[0].headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(&seen[1].body[..], ONLINE.as_bytes());
    assert!(seen[1].path.ends_with("/callbackAfterUserOnlineCommand"));
}

async fn floodgate_in_front_of(upstream: &UpstreamServer) -> TestApp {
    TestApp::with_vars(&[
        ("FLOODGATE_RATE_LIMITS", "1/1m"),
        ("FLOODGATE_UPSTREAM_URL", &upstream.url),
    ])
    .await
}

#[tokio::test]
async fn openims_own_requests_are_answered_on_one_connection_across_idle_gaps() {
    let upstream = UpstreamServer::start().await;
    let app = floodgate_in_front_of(&upstream).await;
    let host = app.webhook.trim_start_matches("http://").to_string();
    converse_like_openim(&host, &upstream).await;
}

#[tokio::test]
async fn openims_own_requests_are_answered_through_the_nginx_config_too() {
    let upstream = UpstreamServer::start().await;
    let app = floodgate_in_front_of(&upstream).await;
    let replica = app.webhook.trim_start_matches("http://").to_string();
    let nginx = Nginx::start(&[replica]);
    let host = nginx.url().trim_start_matches("http://").to_string();
    converse_like_openim(&host, &upstream).await;
}

/// A rename through OpenIM v3.8's REST API (`/group/set_group_info`), as its `json.Encoder`
/// writes `CallbackBeforeSetGroupInfoReq`: the four fields the caller left unset are plain
/// `""` / `0`, never absent.
const REST_RENAME: &str = concat!(
    r#"{"callbackCommand":"callbackBeforeSetGroupInfoCommand","operationID":"op-rename","#,
    r#""groupID":"3309742411","groupName":"Hiking \u0026 climbing","notification":"","#,
    r#""introduction":"","faceURL":"","ex":"","needVerification":0,"lookMemberInfo":0,"#,
    r#""applyMemberFriend":0}"#,
    "\n"
);

/// The client SDK's edit (`CallbackBeforeSetGroupInfoExReq`): protobuf wrappers encode as plain
/// values, and the fields left unset as `null`.
const SDK_EDIT_EX: &str = concat!(
    r#"{"callbackCommand":"callbackBeforeSetGroupInfoExCommand","operationID":"op-edit","#,
    r#""groupID":"3309742411","groupName":"Hiking","notification":null,"introduction":null,"#,
    r#""faceURL":null,"ex":null,"needVerification":2,"lookMemberInfo":null,"#,
    r#""applyMemberFriend":null}"#,
    "\n"
);

/// The fields OpenIM v3.8 copies from a set-group-info reply whenever present, and what it
/// then writes: none of them may be in the reply to a REST rename.
const RESET_BY_AN_ECHO: [&str; 4] = [
    "ex",
    "needVerification",
    "lookMemberInfo",
    "applyMemberFriend",
];

#[tokio::test]
async fn a_rest_rename_is_allowed_without_resetting_the_groups_settings() {
    let app = TestApp::with_vars(&[]).await;
    let host = app.webhook.trim_start_matches("http://").to_string();
    let mut openim = GoClient::connect(&host).await;
    let path = "/callbackExample/callbackBeforeSetGroupInfoCommand";
    let (status, reply) = openim.post(path, REST_RENAME, "op-rename").await;
    assert_eq!((status, reply["nextCode"].as_i64()), (200, Some(0)));
    assert_eq!(reply["groupID"], "3309742411");
    assert_eq!(reply["groupName"], "Hiking & climbing");
    assert_eq!(
        (reply["introduction"].as_str(), reply["faceURL"].as_str()),
        (Some(""), Some(""))
    );
    for field in RESET_BY_AN_ECHO {
        assert!(reply.get(field).is_none(), "{field} echoed: {reply}");
    }
    // The Ex command's reply echoes every field as it came: a field left out is dropped.
    let path = "/callbackExample/callbackBeforeSetGroupInfoExCommand";
    let (status, reply) = openim.post(path, SDK_EDIT_EX, "op-edit").await;
    assert_eq!((status, reply["nextCode"].as_i64()), (200, Some(0)));
    let sent: Value = serde_json::from_str(SDK_EDIT_EX).unwrap();
    for field in [
        "groupID",
        "groupName",
        "notification",
        "introduction",
        "faceURL",
        "ex",
        "needVerification",
        "lookMemberInfo",
        "applyMemberFriend",
    ] {
        assert_eq!(reply.get(field), sent.get(field), "{field}: {reply}");
    }
}

#[tokio::test]
async fn every_reply_to_a_group_edit_carries_the_echo_even_an_unauthorised_one() {
    let app = TestApp::with_vars(&[("FLOODGATE_AUTH_TOKEN", "s3cret-token-value")]).await;
    let host = app.webhook.trim_start_matches("http://").to_string();
    let mut openim = GoClient::connect(&host).await;
    // A wrong token: the reply says so, and OpenIM (actionCode 1: "go on") still gets the edit's
    // own fields back instead of a blank groupID that would make it refuse the edit.
    let path = "/callbackExample/wrong-token/callbackBeforeSetGroupInfoCommand";
    let (status, reply) = openim.post(path, REST_RENAME, "op-rename").await;
    assert_eq!(status, 401);
    assert_eq!(reply["actionCode"], 1, "{reply}");
    assert_eq!(reply["groupID"], "3309742411");
    assert_eq!(reply["groupName"], "Hiking & climbing");
    for field in RESET_BY_AN_ECHO {
        assert!(reply.get(field).is_none(), "{field} echoed: {reply}");
    }
    assert!(!reply.to_string().contains("s3cret"), "{reply}");
    let path = "/callbackExample/wrong-token/callbackBeforeSetGroupInfoExCommand";
    let (status, reply) = openim.post(path, SDK_EDIT_EX, "op-edit").await;
    assert_eq!((status, reply["actionCode"].as_i64()), (401, Some(1)));
    assert_eq!(reply["groupName"], "Hiking");
    assert_eq!(reply["needVerification"], 2);
    // With the right token the same edit is allowed, with the echo.
    let path = "/callbackExample/s3cret-token-value/callbackBeforeSetGroupInfoCommand";
    let (status, reply) = openim.post(path, REST_RENAME, "op-rename").await;
    assert_eq!((status, reply["nextCode"].as_i64()), (200, Some(0)));
    assert_eq!(reply["groupID"], "3309742411");
    // Another command's unauthorised reply stays the plain one.
    let path = "/callbackExample/wrong-token/callbackBeforeAddFriendCommand";
    let friend = r#"{"callbackCommand":"callbackBeforeAddFriendCommand","fromUserID":"a","toUserID":"b","reqMsg":"","ex":""}"#;
    let (status, reply) = openim.post(path, friend, "op-friend").await;
    assert_eq!(status, 401);
    assert_eq!(reply.as_object().map(|o| o.len()), Some(5), "{reply}");
}
