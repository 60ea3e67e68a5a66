//! Retried callbacks (issue 28): the same `sendID` and `clientMsgID` within
//! `FLOODGATE_REPLAY_WINDOW` get the first decision and are counted once — on the embedded
//! store, Redis and a Redis Cluster, and across replicas sharing a store. The same for the judged
//! acts (friend requests, groups created, join applications): the same actor and `operationID`
//! with the same body.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Backend, TestApp, friend_request_body, single_body};

const SINGLE: &str = "/callbackExample/callbackBeforeSendSingleMsgCommand";

fn message(from: &str, to: &str, client_msg_id: &str) -> Value {
    let mut body = single_body(from, to, "see you at eight tonight");
    body["clientMsgID"] = client_msg_id.into();
    body
}

async fn counted(app: &TestApp, sender: &str) -> u64 {
    let status = app.sender(sender).await;
    status["windows"][0]["count"]
        .as_u64()
        .expect("a window count")
}

async fn strikes(app: &TestApp, sender: &str) -> u64 {
    app.sender(sender).await["strikes"]
        .as_u64()
        .expect("strikes")
}

macro_rules! on_every_store {
    ($($test:ident),* $(,)?) => {
        mod memory { $(#[tokio::test] async fn $test() { super::$test(super::Backend::Memory).await; })* }
        mod redis { $(#[tokio::test] async fn $test() { super::$test(super::Backend::Redis).await; })* }
        mod redis_cluster { $(#[tokio::test] async fn $test() { super::$test(super::Backend::Cluster).await; })* }
    };
}

on_every_store!(
    a_retried_message_gets_its_first_decision_and_counts_once,
    a_retry_after_the_window_counts_again,
    replays_off_counts_every_retry,
    a_reused_client_msg_id_replays_only_the_same_message_to_the_same_peer,
    a_retry_of_a_message_refused_as_a_campaign_is_refused_again,
    a_retry_of_a_message_a_content_rule_refused_strikes_once,
    a_reused_client_msg_id_that_adds_at_all_is_another_message,
    a_retried_friend_request_gets_its_first_decision_and_counts_once,
    a_reused_operation_id_replays_only_the_same_friend_request,
    a_retry_of_a_friend_request_refused_as_a_campaign_is_refused_again,
    a_body_without_an_operation_id_is_replayed_by_its_header,
);

const LIMITS: [(&str, &str); 2] = [
    ("FLOODGATE_RATE_LIMITS", "2/1m"),
    ("FLOODGATE_REPLAY_WINDOW", "1m"),
];

async fn a_retried_message_gets_its_first_decision_and_counts_once(backend: Backend) {
    let app = TestApp::on(backend, &LIMITS).await;
    for _ in 0..3 {
        assert!(
            app.post(SINGLE, &message("ann", "bob", "m1"))
                .await
                .is_allow()
        );
    }
    assert_eq!(counted(&app, "ann").await, 1);
    assert_eq!(app.metric("floodgate_replays_total").await, 2.0);
    // Another clientMsgID is another message.
    assert!(
        app.post(SINGLE, &message("ann", "bob", "m2"))
            .await
            .is_allow()
    );
    assert_eq!(counted(&app, "ann").await, 2);
    // A rejection replays as the same rejection, without another strike.
    let refused = app.post(SINGLE, &message("ann", "bob", "m3")).await;
    assert_eq!(refused.err_code(), 5002);
    assert_eq!(strikes(&app, "ann").await, 1);
    for _ in 0..2 {
        let again = app.post(SINGLE, &message("ann", "bob", "m3")).await;
        assert_eq!(again.err_code(), 5002);
        assert_eq!(again.detail(), refused.detail());
    }
    assert_eq!(strikes(&app, "ann").await, 1);
    assert_eq!(app.metric("floodgate_replays_total").await, 4.0);
    // The same clientMsgID from another sender is not a retry.
    assert!(
        app.post(SINGLE, &message("cat", "bob", "m1"))
            .await
            .is_allow()
    );
    assert_eq!(counted(&app, "cat").await, 1);
}

/// A content rule (here the link deny list) decides before the store, so its strike is the
/// only thing a retry could count twice: it strikes once, and the retry gets the first answer —
/// a user whose message a rule refused by mistake is not blocked by a load balancer's retries.
async fn a_retry_of_a_message_a_content_rule_refused_strikes_once(backend: Backend) {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_LINK_DENY", "bad.example"),
            ("FLOODGATE_STRIKES", "2/10m"),
            ("FLOODGATE_REPLAY_WINDOW", "1m"),
        ],
    )
    .await;
    let mut body = single_body("ann", "bob", "have a look at bad.example/offer");
    body["clientMsgID"] = "m1".into();
    let refused = app.post(SINGLE, &body).await;
    assert_eq!(refused.err_code(), 5009);
    for _ in 0..3 {
        let again = app.post(SINGLE, &body).await;
        assert_eq!(again.err_code(), 5009, "{again:?}");
        assert_eq!(again.detail(), refused.detail());
    }
    assert_eq!(strikes(&app, "ann").await, 1);
    assert_eq!(app.metric("floodgate_replays_total").await, 3.0);
    assert!(
        app.post(SINGLE, &message("ann", "bob", "m2"))
            .await
            .is_allow(),
        "not blocked"
    );
    // Another message refused by the rule is another strike: the second starts the block.
    body["clientMsgID"] = "m3".into();
    let second = app.post(SINGLE, &body).await;
    assert_eq!(second.err_code(), 5009);
    assert!(second.detail().contains("blocked for"), "{second:?}");
    assert_eq!(
        app.post(SINGLE, &message("ann", "bob", "m4"))
            .await
            .err_code(),
        5006
    );
}

/// `atUserList` is a field of its own beside the content: a modified client that reuses an
/// admitted message's `clientMsgID` and text to notify the whole group sends another message,
/// which the @all window counts (else every reuse within the replay window is a free @all).
async fn a_reused_client_msg_id_that_adds_at_all_is_another_message(backend: Backend) {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_AT_ALL_LIMIT", "1/1h"),
            ("FLOODGATE_REPLAY_WINDOW", "1m"),
        ],
    )
    .await;
    // The same clientMsgID (the helper's) throughout.
    assert!(app.group("ann", "g", "meeting now", &[]).await.is_allow());
    assert!(
        app.group("ann", "g", "meeting now", &["AtAllTag"])
            .await
            .is_allow()
    );
    assert_eq!(app.metric("floodgate_replays_total").await, 0.0);
    let again = app.group("ann", "g", "meeting now", &["AtAllTag"]).await;
    assert!(again.is_allow(), "a true retry: {again:?}");
    assert_eq!(app.metric("floodgate_replays_total").await, 1.0);
    let third = app
        .group("ann", "g", "another meeting", &["AtAllTag"])
        .await;
    assert_eq!(third.err_code(), 5007, "the @all was counted: {third:?}");
}

async fn a_retry_after_the_window_counts_again(backend: Backend) {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_RATE_LIMITS", "5/1h"),
            ("FLOODGATE_REPLAY_WINDOW", "30s"),
        ],
    )
    .await;
    assert!(
        app.post(SINGLE, &message("ann", "bob", "m1"))
            .await
            .is_allow()
    );
    app.advance(Duration::from_secs(29));
    assert!(
        app.post(SINGLE, &message("ann", "bob", "m1"))
            .await
            .is_allow()
    );
    assert_eq!(counted(&app, "ann").await, 1);
    app.advance(Duration::from_secs(2));
    assert!(
        app.post(SINGLE, &message("ann", "bob", "m1"))
            .await
            .is_allow()
    );
    assert_eq!(counted(&app, "ann").await, 2);
}

async fn replays_off_counts_every_retry(backend: Backend) {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_RATE_LIMITS", "2/1m"),
            ("FLOODGATE_REPLAY_WINDOW", "off"),
        ],
    )
    .await;
    for _ in 0..2 {
        assert!(
            app.post(SINGLE, &message("ann", "bob", "m1"))
                .await
                .is_allow()
        );
    }
    let third = app.post(SINGLE, &message("ann", "bob", "m1")).await;
    assert_eq!(third.err_code(), 5002);
    assert_eq!(app.metric("floodgate_replays_total").await, 0.0);
}

/// A load balancer's retry on another replica after a timeout: the first replica's decision.
#[tokio::test]
async fn a_retry_on_another_replica_gets_the_first_decision() {
    for backend in [Backend::Redis, Backend::Cluster] {
        let (first, second) = TestApp::pair(backend, &LIMITS).await;
        assert!(
            first
                .post(SINGLE, &message("ann", "bob", "m1"))
                .await
                .is_allow()
        );
        assert!(
            first
                .post(SINGLE, &message("ann", "bob", "m2"))
                .await
                .is_allow()
        );
        let refused = first.post(SINGLE, &message("ann", "bob", "m3")).await;
        assert_eq!(refused.err_code(), 5002);
        // The retries land on the other replica.
        assert!(
            second
                .post(SINGLE, &message("ann", "bob", "m1"))
                .await
                .is_allow()
        );
        assert_eq!(
            second
                .post(SINGLE, &message("ann", "bob", "m3"))
                .await
                .err_code(),
            5002
        );
        assert_eq!(counted(&second, "ann").await, 2);
        assert_eq!(strikes(&second, "ann").await, 1);
        assert_eq!(second.metric("floodgate_replays_total").await, 2.0);
    }
}

async fn a_reused_client_msg_id_replays_only_the_same_message_to_the_same_peer(backend: Backend) {
    let app = TestApp::on(backend, &LIMITS).await;
    assert!(
        app.post(SINGLE, &message("ann", "bob", "m1"))
            .await
            .is_allow()
    );
    // A modified client that sends every message under one clientMsgID gets no free pass:
    // another text, or the same text to another peer, is another message and counts.
    let mut other_text = message("ann", "bob", "m1");
    other_text["content"] = r#"{"content":"buy cheap followers now"}"#.into();
    assert!(app.post(SINGLE, &other_text).await.is_allow());
    assert_eq!(counted(&app, "ann").await, 2);
    let refused = app.post(SINGLE, &message("ann", "cat", "m1")).await;
    assert_eq!(refused.err_code(), 5002);
    assert_eq!(app.metric("floodgate_replays_total").await, 0.0);
}

async fn a_retry_of_a_message_refused_as_a_campaign_is_refused_again(backend: Backend) {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
            ("FLOODGATE_REPLAY_WINDOW", "1m"),
        ],
    )
    .await;
    let spam = |from: &str, to: &str| {
        let mut body = single_body(from, to, "cheap watches at https://spam.example/shop now");
        body["clientMsgID"] = format!("{from}-1").into();
        body
    };
    for (from, to) in [("s1", "r1"), ("s2", "r2")] {
        assert!(app.post(SINGLE, &spam(from, to)).await.is_allow());
    }
    let first = app.post(SINGLE, &spam("s3", "r3")).await;
    assert_eq!(first.err_code(), 5004);
    let struck = strikes(&app, "s3").await;
    // On a cluster the campaign rule decides after the sender's script, whose replay alone
    // would be an admission: the retry must meet the campaign rule again.
    for _ in 0..2 {
        let again = app.post(SINGLE, &spam("s3", "r3")).await;
        assert_eq!(again.err_code(), 5004);
    }
    assert_eq!(strikes(&app, "s3").await, struck);
    assert_eq!(app.metric("floodgate_replays_total").await, 2.0);
}

fn friend_request(from: &str, to: &str, text: &str, operation_id: &str) -> Value {
    let mut body = friend_request_body(from, to, text);
    body["operationID"] = operation_id.into();
    body
}

async fn friend_requests(app: &TestApp, actor: &str) -> u64 {
    app.sender(actor).await["friendRequests"][0]["count"]
        .as_u64()
        .expect("a friend request window count")
}

const FRIEND_LIMITS: [(&str, &str); 2] = [
    ("FLOODGATE_FRIEND_LIMITS", "2/1h"),
    ("FLOODGATE_REPLAY_WINDOW", "1m"),
];

async fn a_retried_friend_request_gets_its_first_decision_and_counts_once(backend: Backend) {
    let app = TestApp::on(backend, &FRIEND_LIMITS).await;
    for _ in 0..3 {
        let request = friend_request("ann", "bob", "hello", "op-1");
        assert!(app.callback(&request).await.is_allow());
    }
    assert_eq!(friend_requests(&app, "ann").await, 1);
    assert_eq!(app.metric("floodgate_replays_total").await, 2.0);
    // Another operationID is another request.
    let other = friend_request("ann", "cat", "hello", "op-2");
    assert!(app.callback(&other).await.is_allow());
    assert_eq!(friend_requests(&app, "ann").await, 2);
    // A rejection replays as the same rejection, without another strike.
    let refused = app
        .callback(&friend_request("ann", "dan", "hello", "op-3"))
        .await;
    assert_eq!(refused.err_code(), 5010);
    assert_eq!(strikes(&app, "ann").await, 1);
    for _ in 0..2 {
        let again = app
            .callback(&friend_request("ann", "dan", "hello", "op-3"))
            .await;
        assert_eq!(again.err_code(), 5010);
        assert_eq!(again.detail(), refused.detail());
    }
    assert_eq!(strikes(&app, "ann").await, 1);
    assert_eq!(friend_requests(&app, "ann").await, 2);
    assert_eq!(app.metric("floodgate_replays_total").await, 4.0);
    // The same operationID from another actor is not a retry.
    let elsewhere = friend_request("eve", "bob", "hello", "op-1");
    assert!(app.callback(&elsewhere).await.is_allow());
    assert_eq!(friend_requests(&app, "eve").await, 1);
}

async fn a_reused_operation_id_replays_only_the_same_friend_request(backend: Backend) {
    let app = TestApp::on(backend, &FRIEND_LIMITS).await;
    let first = friend_request("ann", "bob", "hello", "op-1");
    assert!(app.callback(&first).await.is_allow());
    // A client reusing one operationID gets no free pass: another text, or another person
    // asked, is another request and counts.
    let other_text = friend_request("ann", "bob", "add me please", "op-1");
    assert!(app.callback(&other_text).await.is_allow());
    assert_eq!(friend_requests(&app, "ann").await, 2);
    let other_target = friend_request("ann", "cat", "hello", "op-1");
    assert_eq!(app.callback(&other_target).await.err_code(), 5010);
    assert_eq!(app.metric("floodgate_replays_total").await, 0.0);
}

async fn a_retry_of_a_friend_request_refused_as_a_campaign_is_refused_again(backend: Backend) {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
            ("FLOODGATE_REPLAY_WINDOW", "1m"),
        ],
    )
    .await;
    let spam = |from: &str| friend_request(from, "victim", "call me +1 (555) 010-4242", "op-s");
    for from in ["s1", "s2"] {
        assert!(app.callback(&spam(from)).await.is_allow());
    }
    let first = app.callback(&spam("s3")).await;
    assert_eq!(first.err_code(), 5004);
    let struck = strikes(&app, "s3").await;
    // On a cluster the campaign rule decides after the actor's script, whose replay alone
    // would be an admission: the retry must meet the campaign rule again.
    for _ in 0..2 {
        assert_eq!(app.callback(&spam("s3")).await.err_code(), 5004);
    }
    assert_eq!(strikes(&app, "s3").await, struck);
    assert_eq!(friend_requests(&app, "s3").await, 0);
    assert_eq!(app.metric("floodgate_replays_total").await, 2.0);
}

/// OpenIM also sends the ID as the `Operationid` header: used when the body has none.
async fn a_body_without_an_operation_id_is_replayed_by_its_header(backend: Backend) {
    let app = TestApp::on(backend, &FRIEND_LIMITS).await;
    let post = |operation_id: &'static str| {
        let request = app
            .client
            .post(format!(
                "{}/callbackExample/callbackBeforeAddFriendCommand",
                app.webhook
            ))
            .header("content-type", "application/json")
            .header("Operationid", operation_id)
            .json(&friend_request_body("ann", "bob", "hello"));
        async move { support::Reply::read(request.send().await.expect("sent")).await }
    };
    for _ in 0..2 {
        assert!(post("op-h1").await.is_allow());
    }
    assert_eq!(friend_requests(&app, "ann").await, 1);
    assert!(post("op-h2").await.is_allow());
    assert_eq!(friend_requests(&app, "ann").await, 2);
    assert_eq!(app.metric("floodgate_replays_total").await, 1.0);
}

/// The upstream had its say on the first request: a retry is answered by floodgate alone.
#[tokio::test]
async fn a_replayed_friend_request_is_not_passed_upstream_again() {
    let upstream = support::upstream::UpstreamServer::start().await;
    let mut vars = FRIEND_LIMITS.to_vec();
    vars.push(("FLOODGATE_UPSTREAM_URL", upstream.url.as_str()));
    let app = TestApp::on(Backend::Memory, &vars).await;
    for _ in 0..3 {
        let request = friend_request("ann", "bob", "hello", "op-1");
        assert!(app.callback(&request).await.is_allow());
    }
    assert_eq!(upstream.seen().len(), 1, "only the first went on");
    assert_eq!(friend_requests(&app, "ann").await, 1);
}
