//! Connections that go bad without going away: a black-holed socket, a failover that moves the
//! address, a primary demoted to replica, a Redis out of memory, a cluster unreachable at
//! start. `/readyz` means "a decision can be made", and the replica recovers by itself.

mod support;

use std::time::{Duration, Instant};

use floodgate::config::Config;
use support::proxy::Proxy;
use support::redis::{RedisCluster, RedisServer, free_port};
use support::{SharedStore, TestApp};

/// A replica on the Redis at `url`, failing open with a tight budget.
async fn replica_on(url: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("FLOODGATE_LISTEN", "127.0.0.1:0"),
        ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
        ("FLOODGATE_BURST", "off"),
        ("FLOODGATE_RATE_LIMITS", "100/1m"),
        ("FLOODGATE_REDIS_URL", url),
        ("FLOODGATE_REDIS_TIMEOUT", "200ms"),
    ];
    vars.extend_from_slice(extra);
    let config = Config::from_vars(vars).expect("valid config");
    TestApp::spawn(config, SharedStore::None).await
}

/// Polls `/readyz` (sending a message each time, as OpenIM would) until it answers `status`.
async fn until_ready_is(app: &TestApp, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    loop {
        i += 1;
        let reply = app.single("alice", "bob", &format!("message {i}")).await;
        assert_eq!(reply.status, 200, "every callback is answered: {reply:?}");
        if app.admin_get("/readyz").await.0 == status {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz did not turn {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn script_calls(redis: &RedisServer) -> u64 {
    SharedStore::count_script_calls(&redis.cli(&["INFO", "commandstats"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_connection_is_replaced_and_follows_the_address_to_the_new_primary() {
    let old = RedisServer::start();
    let new = RedisServer::start();
    let proxy = Proxy::start(old.port).await;
    let app = replica_on(&proxy.url(), &[]).await;
    until_ready_is(&app, 200).await;
    assert!(app.single("alice", "bob", "hello").await.is_allow());

    // The old primary's connection hangs; the name now leads to the new primary.
    proxy.black_hole_open_connections();
    proxy.forward_new_connections_to(new.port);
    until_ready_is(&app, 503).await;
    until_ready_is(&app, 200).await;
    let before = script_calls(&new);
    assert!(
        app.single("carol", "bob", "on the new primary")
            .await
            .is_allow()
    );
    assert!(script_calls(&new) > before, "decided on the new primary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_demoted_to_replica_is_not_ready_and_its_connection_is_replaced() {
    let primary = RedisServer::start();
    let other = RedisServer::start();
    let app = replica_on(&primary.url(), &[]).await;
    until_ready_is(&app, 200).await;
    // The connections that run the scripts: every one but the Pub/Sub subscriptions (the
    // notices have their own) and this listing itself. Not by last command: the moderators'
    // poll shares the deciding connection, so its last command may be a read.
    let deciding = |redis: &RedisServer| -> Vec<String> {
        redis
            .cli(&["CLIENT", "LIST"])
            .lines()
            .filter(|l| l.contains(" sub=0 ") && l.contains(" psub=0 "))
            .filter(|l| !l.contains("cmd=client|list"))
            .filter_map(|l| l.split(' ').next().map(str::to_string))
            .collect()
    };
    let before = deciding(&primary);
    assert!(!before.is_empty());

    primary.cli(&["REPLICAOF", "127.0.0.1", &other.port.to_string()]);
    until_ready_is(&app, 503).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while deciding(&primary).iter().all(|id| before.contains(id)) {
        assert!(
            Instant::now() < deadline,
            "READONLY did not replace the connection"
        );
        app.single("alice", "bob", "still writing?").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    primary.cli(&["REPLICAOF", "NO", "ONE"]);
    until_ready_is(&app, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_out_of_memory_is_not_ready_though_it_answers_ping() {
    let redis = RedisServer::start();
    let app = replica_on(&redis.url(), &[]).await;
    until_ready_is(&app, 200).await;
    redis.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    redis.cli(&["CONFIG", "SET", "maxmemory", "1"]);
    assert!(redis.cli(&["PING"]).contains("PONG"));
    until_ready_is(&app, 503).await;
    redis.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    until_ready_is(&app, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_replica_starts_degraded_while_the_cluster_is_unreachable_then_connects() {
    let ports = [free_port(), free_port(), free_port()];
    let urls = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let app = replica_on(&urls, &[("FLOODGATE_REDIS_CLUSTER", "true")]).await;
    assert_eq!(app.admin_get("/readyz").await.0, 503);
    assert!(
        app.single("alice", "bob", "before the cluster")
            .await
            .is_allow()
    );

    let cluster = RedisCluster::start_on(&ports);
    until_ready_is(&app, 200).await;
    let calls = |cluster: &RedisCluster| -> u64 { cluster.nodes.iter().map(script_calls).sum() };
    let before = calls(&cluster);
    assert!(
        app.single("carol", "bob", "on the cluster")
            .await
            .is_allow()
    );
    assert!(calls(&cluster) > before, "decided on the cluster");
}
