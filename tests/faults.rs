//! Redis goes away while OpenIM keeps calling: every reply is still a complete JSON answer within
//! the budget plus a margin, floods are still held back locally (fail open) or refused with 5099
//! (fail closed), `/readyz` tells the load balancer, and recovery needs no replica restart.

mod support;

use std::time::{Duration, Instant};

use support::{Backend, SharedStore, TestApp};

/// The budget these tests configure, and the most a reply may exceed it by on this shared,
/// noisy 2-core machine running a debug build (the point: milliseconds, not Redis's timeouts).
const BUDGET_MS: u64 = 100;
const MARGIN: Duration = Duration::from_millis(900);

async fn timed_single(app: &TestApp, from: &str, text: &str) -> (support::Reply, Duration) {
    let started = Instant::now();
    let reply = app.single(from, "bob", text).await;
    (reply, started.elapsed())
}

async fn wait_for_readyz(app: &TestApp, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.admin_get("/readyz").await.0 != status {
        assert!(Instant::now() < deadline, "/readyz did not turn {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn redis(app: &mut TestApp) -> &mut support::redis::RedisServer {
    match &mut app.store {
        SharedStore::Redis(server) => server,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_survives_a_frozen_then_killed_redis_and_recovers() {
    let budget = format!("{BUDGET_MS}ms");
    // A tight budget instead of the harness's generous one (vars given later win).
    let mut app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_RATE_LIMITS", "5/1h"),
            ("FLOODGATE_REDIS_TIMEOUT", &budget),
        ],
    )
    .await;
    for i in 0..3 {
        assert!(
            app.single("alice", "bob", &format!("before {i}"))
                .await
                .is_allow()
        );
    }
    assert_eq!(app.admin_get("/readyz").await.0, 200);

    redis(&mut app).freeze();
    let mut codes = Vec::new();
    for i in 0..12 {
        let (reply, took) = timed_single(&app, "alice", &format!("frozen {i}")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert!(
            took < Duration::from_millis(BUDGET_MS) + MARGIN,
            "reply {i} took {took:?}"
        );
        codes.push(reply.err_code());
    }
    // The replica's own windows still hold the flood back: 5 admitted locally, then 5002 (and
    // 5006 once the local strikes start a block).
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 5, "{codes:?}");
    assert!(
        codes[5..].iter().all(|&c| c == 5002 || c == 5006),
        "{codes:?}"
    );
    wait_for_readyz(&app, 503).await;
    assert_eq!(app.metric("floodgate_degraded").await, 1.0);
    assert!(
        app.metric("floodgate_store_errors_total{backend=\"redis\",kind=\"timeout\"}")
            .await
            >= 1.0
    );

    redis(&mut app).thaw();
    wait_for_readyz(&app, 200).await;
    assert_eq!(app.metric("floodgate_degraded").await, 0.0);
    // Cluster-wide again. (Alice's count in Redis is 3 plus the calls that timed out while it
    // was frozen: Redis ran them when it woke. Timed-out calls can only over-count.)
    let alice = app.sender("alice").await["windows"][0]["count"]
        .as_u64()
        .unwrap();
    assert!((3..=5).contains(&alice), "{alice}");
    for i in 0..5 {
        assert!(
            app.single("erin", "bob", &format!("after {i}"))
                .await
                .is_allow()
        );
    }
    assert_eq!(app.single("erin", "bob", "after 5").await.err_code(), 5002);
    assert_eq!(
        app.sender("erin").await["windows"][0]["count"],
        5,
        "counted in Redis"
    );

    redis(&mut app).kill();
    for i in 0..5 {
        let (reply, took) = timed_single(&app, "carol", &format!("killed {i}")).await;
        assert!(reply.is_allow(), "{:?}", reply.body);
        assert!(
            took < Duration::from_millis(BUDGET_MS) + MARGIN,
            "reply {i} took {took:?}"
        );
    }
    wait_for_readyz(&app, 503).await;

    // A restarted, empty Redis on the same port: reconnected, scripts reloaded, no restart here.
    redis(&mut app).restart();
    wait_for_readyz(&app, 200).await;
    for i in 0..5 {
        assert!(
            app.single("dave", "bob", &format!("restarted {i}"))
                .await
                .is_allow()
        );
    }
    assert_eq!(
        app.single("dave", "bob", "restarted 5").await.err_code(),
        5002
    );
    assert_eq!(
        app.sender("dave").await["windows"][0]["count"],
        5,
        "counted in the new Redis"
    );
    // And the unblock notices are followed again, on the new Redis.
    support::wait_for_subscribers(1, || app.store.subscribers()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_answers_5099_fast_while_redis_is_away() {
    let budget = format!("{BUDGET_MS}ms");
    let mut app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_FAIL_MODE", "closed"),
            ("FLOODGATE_REDIS_TIMEOUT", &budget),
        ],
    )
    .await;
    assert!(app.single("alice", "bob", "before").await.is_allow());
    redis(&mut app).freeze();
    for i in 0..6 {
        let (reply, took) = timed_single(&app, "alice", &format!("frozen {i}")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.err_code(), 5099, "{:?}", reply.body);
        assert_eq!(reply.body["nextCode"], 1);
        assert!(
            took < Duration::from_millis(BUDGET_MS) + MARGIN,
            "reply {i} took {took:?}"
        );
    }
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"enforce\",rule=\"unavailable\"}")
            .await,
        6.0
    );
    redis(&mut app).thaw();
    wait_for_readyz(&app, 200).await;
    assert!(app.single("alice", "bob", "after").await.is_allow());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_requests_and_invitations_follow_the_fail_modes() {
    let budget = format!("{BUDGET_MS}ms");
    let vars = [
        ("FLOODGATE_FRIEND_LIMITS", "3/1h"),
        ("FLOODGATE_GROUP_INVITE_LIMIT", "4/1h"),
        ("FLOODGATE_REDIS_TIMEOUT", budget.as_str()),
    ];
    // Open: the replica's own windows hold the flood back while Redis is frozen.
    let mut open = TestApp::on(Backend::Redis, &vars).await;
    redis(&mut open).freeze();
    let mut codes = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let request = support::friend_request_body("adder", &format!("p{i}"), "hi");
        let reply = open.callback(&request).await;
        assert!(started.elapsed() < Duration::from_millis(BUDGET_MS) + MARGIN);
        codes.push(reply.err_code());
    }
    assert_eq!(codes, vec![0, 0, 0, 5010, 5010]);
    let invite = open.callback(&support::invite_body("g", 5)).await;
    assert_eq!(invite.err_code(), 5011, "decided on the local store");
    redis(&mut open).thaw();

    // Closed: 5099, for acts as for messages.
    let mut closed = TestApp::on(
        Backend::Redis,
        &[vars[0], vars[2], ("FLOODGATE_FAIL_MODE", "closed")],
    )
    .await;
    redis(&mut closed).freeze();
    let request = support::friend_request_body("adder", "p0", "hi");
    assert_eq!(closed.callback(&request).await.err_code(), 5099);
    let invite = closed.callback(&support::invite_body("g", 1)).await;
    assert_eq!(invite.err_code(), 5099);
    redis(&mut closed).thaw();
    wait_for_readyz(&closed, 200).await;
    assert!(closed.callback(&request).await.is_allow());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_node_restart_is_survived() {
    let mut app = TestApp::on(Backend::Cluster, &[("FLOODGATE_RATE_LIMITS", "1000/1h")]).await;
    let senders: Vec<String> = (0..30).map(|i| format!("user{i}")).collect();
    for sender in &senders {
        assert!(app.single(sender, "bob", "hello").await.is_allow());
    }
    let SharedStore::Cluster(cluster) = &mut app.store else {
        unreachable!()
    };
    cluster.nodes[1].kill();
    // Replies keep coming while a third of the slots are gone.
    for sender in &senders {
        assert_eq!(app.single(sender, "bob", "during").await.status, 200);
    }
    let SharedStore::Cluster(cluster) = &mut app.store else {
        unreachable!()
    };
    cluster.nodes[1].restart();
    cluster.wait_until_ok();
    // Every sender's windows are answered by Redis again (the admin API reads Redis directly).
    let deadline = Instant::now() + Duration::from_secs(30);
    for sender in &senders {
        loop {
            let (status, _) = app.admin_get(&format!("/v1/senders/{sender}")).await;
            if status == 200 && app.admin_get("/readyz").await.0 == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{sender} not readable after the node came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let before = app.sender("user0").await["windows"][0]["count"]
        .as_u64()
        .unwrap();
    assert!(app.single("user0", "bob", "after").await.is_allow());
    assert_eq!(
        app.sender("user0").await["windows"][0]["count"]
            .as_u64()
            .unwrap(),
        before + 1
    );
}
