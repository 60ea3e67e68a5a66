//! floodgate in front of the operator's own webhook (`FLOODGATE_UPSTREAM_URL`): what it passes
//! on, byte for byte; what it answers itself; and what it answers when the upstream fails.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::upstream::{ALLOW, Behaviour, UpstreamServer};
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
    // A 500 whose body is a JSON object is an answer OpenIM would read like any other.
    upstream.behave(Behaviour::Reply(500, ALLOW.into()));
    let relayed = app.single("alice", "bob", "hi").await;
    assert_eq!(relayed.status, 500);
    assert_eq!(relayed.body, support::allow_body());
    assert_eq!(
        app.metric("floodgate_upstream_seconds_count{outcome=\"ok\"}")
            .await,
        1.0
    );
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
