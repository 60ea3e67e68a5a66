//! What floodgate asks of Redis: counted with `INFO commandstats` on a real server. One script
//! call per slot group for a checked message, none for one turned away locally; scripts
//! survive a SCRIPT FLUSH (as after a restart or failover); passwords work.

mod support;

use support::redis::RedisServer;
use support::{Backend, SharedStore, TestApp};

/// Calls of the commands a client sends (scripts, script management, pings) since the last
/// `CONFIG RESETSTAT`. Redis also counts the commands a script runs; those are not round trips.
fn calls(redis: &RedisServer) -> Vec<(String, u64)> {
    const CLIENT_COMMANDS: [&str; 7] =
        ["fcall", "evalsha", "eval", "ping", "multi", "exec", "hello"];
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            let client = CLIENT_COMMANDS.contains(&name)
                || name.starts_with("script")
                || name.starts_with("function");
            client.then(|| (name.to_string(), calls))
        })
        .collect()
}

fn server(app: &TestApp) -> &RedisServer {
    match &app.store {
        SharedStore::Redis(server) => server,
        _ => unreachable!("these tests run on standalone Redis"),
    }
}

#[tokio::test]
async fn one_script_call_decides_a_whole_message_on_standalone_redis() {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_RATE_LIMITS", "30/10s,120/1m,1000/1h"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "1/10m"),
        ],
    )
    .await;
    let redis = server(&app);
    assert!(
        app.single("warmup", "bob", "loads the script once")
            .await
            .is_allow()
    );
    redis.cli(&["CONFIG", "RESETSTAT"]);

    // A payload (the link) makes a campaign key.
    let text = "a message with a link: example.com/offer";
    assert!(app.single("alice", "bob", text).await.is_allow());
    assert_eq!(
        calls(redis),
        vec![("fcall".to_string(), 1)],
        "sender and content in one call"
    );
    redis.cli(&["CONFIG", "RESETSTAT"]);
    // (v3) To another recipient: a campaign reaches more than one.
    assert_eq!(app.single("carol", "erin", text).await.err_code(), 5004);
    assert_eq!(
        calls(redis),
        vec![("fcall".to_string(), 1)],
        "a campaign rejection needs no second call to hand quota back"
    );
    redis.cli(&["CONFIG", "RESETSTAT"]);
    assert!(app.single("alice", "bob", "ok").await.is_allow());
    assert_eq!(
        calls(redis),
        vec![("fcall".to_string(), 1)],
        "short text: the sender's rules only"
    );
    app.assert_store_healthy().await;
}

#[tokio::test]
async fn one_script_call_judges_each_friend_group_and_profile_callback_on_standalone_redis() {
    let keywords = support::keyword_file("free money\n");
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_CAMPAIGN_LIMIT", "1/10m"),
            ("FLOODGATE_KEYWORDS_FILE", keywords.to_str().unwrap()),
        ],
    )
    .await;
    let redis = server(&app);
    let warmup = [
        support::friend_request_body("warm", "up", "x"),
        support::invite_body("warm", 1),
    ];
    for body in &warmup {
        assert!(app.callback(body).await.is_allow());
    }
    let payload = "add me: wa.me/15550100";
    let cases = [
        (
            "friend request with a payload",
            support::friend_request_body("alice", "bob", payload),
            0,
        ),
        (
            "the same payload: campaign",
            support::friend_request_body("carol", "bob", payload),
            5004,
        ),
        (
            "join application",
            support::join_group_body("alice", "g", "hi"),
            0,
        ),
        (
            "group created",
            support::create_group_body("alice", "club"),
            0,
        ),
        ("invitation", support::invite_body("g", 3), 0),
        (
            "profile edit",
            support::update_user_body("alice", "Alice", true),
            0,
        ),
        (
            "keyword in a nickname: a strike",
            support::update_user_body("dave", "free money", false),
            5008,
        ),
    ];
    for (case, body, code) in cases {
        redis.cli(&["CONFIG", "RESETSTAT"]);
        assert_eq!(app.callback(&body).await.err_code(), code, "{case}");
        assert_eq!(calls(redis), vec![("fcall".to_string(), 1)], "{case}");
    }
    // A group edit names nobody and counts nothing: texts only, no call at all.
    redis.cli(&["CONFIG", "RESETSTAT"]);
    let edit = serde_json::json!({"callbackCommand": "callbackBeforeSetGroupInfoCommand", "groupName": "club"});
    assert_eq!(app.callback(&edit).await.err_code(), 0);
    assert_eq!(calls(redis), vec![], "a group edit");
    app.assert_store_healthy().await;
}

#[tokio::test]
async fn a_locally_rejected_message_costs_no_redis_call() {
    let app = TestApp::on(
        Backend::Redis,
        &[("FLOODGATE_BURST", "2/1m"), ("FLOODGATE_STRIKES", "off")],
    )
    .await;
    let redis = server(&app);
    assert!(app.single("alice", "bob", "one").await.is_allow());
    assert!(app.single("alice", "bob", "two").await.is_allow());
    redis.cli(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        assert_eq!(app.single("alice", "bob", "burst").await.err_code(), 5001);
    }
    assert_eq!(calls(redis), vec![], "burst rejections never reach Redis");
}

#[tokio::test]
async fn a_sender_known_to_be_blocked_costs_no_redis_call() {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_MENTION_LIMIT", "1"),
            ("FLOODGATE_STRIKES", "1/1h"),
        ],
    )
    .await;
    let redis = server(&app);
    assert_eq!(
        app.group("alice", "g", "hi", &["a", "b"]).await.err_code(),
        5007
    );
    redis.cli(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        assert_eq!(app.group("alice", "g", "hi", &[]).await.err_code(), 5006);
    }
    // The replica remembers the block until it ends (its clock stands still here).
    assert_eq!(calls(redis), vec![]);
}

#[tokio::test]
async fn decisions_survive_a_function_and_script_flush() {
    let app = TestApp::on(Backend::Redis, &[("FLOODGATE_RATE_LIMITS", "2/1h")]).await;
    let redis = server(&app);
    assert!(app.single("alice", "bob", "first").await.is_allow());
    redis.cli(&["FUNCTION", "FLUSH"]);
    redis.cli(&["SCRIPT", "FLUSH"]);
    assert!(app.single("alice", "bob", "second").await.is_allow());
    assert_eq!(
        app.single("alice", "bob", "third").await.err_code(),
        5002,
        "state survived, scripts reloaded"
    );
    app.assert_store_healthy().await;
}

#[tokio::test]
async fn a_server_without_functions_gets_the_same_decisions_as_scripts() {
    // FCALL renamed away: what Redis 6, or a Redis-compatible server without Functions, answers.
    let redis = RedisServer::start_with(&["--rename-command", "FCALL", ""]);
    let app = TestApp::with_vars(&[
        ("FLOODGATE_REDIS_URL", &redis.url()),
        ("FLOODGATE_RATE_LIMITS", "2/1h"),
        ("FLOODGATE_REDIS_TIMEOUT", "2s"),
    ])
    .await;
    redis.cli(&["CONFIG", "RESETSTAT"]);
    assert!(app.single("alice", "bob", "first").await.is_allow());
    // The script cache emptied (a restart, a failover): NOSCRIPT, then the script sent whole.
    redis.cli(&["SCRIPT", "FLUSH"]);
    assert!(app.single("alice", "bob", "second").await.is_allow());
    assert_eq!(app.single("alice", "bob", "third").await.err_code(), 5002);
    let request = support::friend_request_body("alice", "bob", "hi");
    assert!(app.callback(&request).await.is_allow());
    let calls = calls(&redis);
    let count = |command: &str| {
        calls
            .iter()
            .find(|(name, _)| name == command)
            .map_or(0, |(_, n)| *n)
    };
    assert!(count("evalsha") >= 4, "decided by the scripts: {calls:?}");
    assert!(count("eval") >= 1, "sent whole after the flush: {calls:?}");
    app.assert_store_healthy().await;
}

/// An app on the Redis at `url` (limit 1/1h) that admits one message and rejects the next.
async fn decides_through(url: &str) -> TestApp {
    let app = TestApp::with_vars(&[
        ("FLOODGATE_REDIS_URL", url),
        ("FLOODGATE_RATE_LIMITS", "1/1h"),
        ("FLOODGATE_REDIS_TIMEOUT", "2s"),
    ])
    .await;
    assert!(app.single("alice", "bob", "first").await.is_allow());
    assert_eq!(app.single("alice", "bob", "second").await.err_code(), 5002);
    app
}

/// Waits until a replica follows the unblock notices on a Redis (`cli` runs redis-cli there,
/// with whatever credentials it needs): the subscription uses the store's URL too.
async fn wait_for_a_subscriber(cli: impl Fn(&[&str]) -> String) {
    support::wait_for_subscribers(1, || support::redis::pubsub_clients(&cli)).await;
}

#[tokio::test]
async fn a_password_in_the_url_is_used() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    let url = format!("redis://:s3cret-pass@127.0.0.1:{}", redis.port);
    let app = decides_through(&url).await;
    let keys = redis.cli(&["-a", "s3cret-pass", "--no-auth-warning", "DBSIZE"]);
    assert_ne!(keys.trim(), "0", "state is in Redis");
    wait_for_a_subscriber(|args| {
        redis.cli(&[&["-a", "s3cret-pass", "--no-auth-warning"], args].concat())
    })
    .await;
    app.assert_store_healthy().await;
}

#[tokio::test]
async fn rediss_urls_speak_tls() {
    let dir = std::env::temp_dir().join(format!("floodgate-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let tls_port = support::redis::free_port().to_string();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let redis = RedisServer::start_with(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &cert,
        "--tls-auth-clients",
        "no",
    ]);
    // A self-signed certificate: `#insecure` skips verification (a real deployment's CA verifies).
    let url = format!("rediss://localhost:{tls_port}/#insecure");
    let app = decides_through(&url).await;
    app.assert_store_healthy().await;
    assert_ne!(
        redis.cli(&["DBSIZE"]).trim(),
        "0",
        "state is in Redis, reached over TLS"
    );
    wait_for_a_subscriber(|args| redis.cli(args)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn odd_and_giant_sender_ids_get_their_own_bounded_keys_on_a_cluster() {
    let app = TestApp::on(Backend::Cluster, &[("FLOODGATE_RATE_LIMITS", "2/1h")]).await;
    let giant = "x".repeat(10_000);
    let braces = "{tag}".repeat(2_000);
    let ids = [
        "{",
        "}",
        "{a}",
        ":",
        "a:b:c",
        "line\nbreak",
        "tab\there",
        "😀🔥",
        "\u{0000}nul",
        &giant,
        &braces,
    ];
    for id in ids {
        assert!(app.single(id, "bob", "one").await.is_allow(), "{id:.20}");
        assert!(app.single(id, "bob", "two").await.is_allow(), "{id:.20}");
        assert_eq!(
            app.single(id, "bob", "three").await.err_code(),
            5002,
            "{id:.20}"
        );
    }
    app.assert_store_healthy().await;
    let SharedStore::Cluster(cluster) = &app.store else {
        unreachable!()
    };
    let keys: Vec<String> = cluster
        .nodes
        .iter()
        .flat_map(|node| {
            node.cli(&["--scan"])
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| k.len() < 64), "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.matches('{').count() == 1 && k.matches('}').count() == 1),
        "{keys:?}"
    );
}

#[tokio::test]
async fn every_key_floodgate_writes_has_a_ttl() {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_RATE_LIMITS", "3/1m"),
            ("FLOODGATE_STRIKES", "2/1h"),
            ("FLOODGATE_MENTION_LIMIT", "1"),
        ],
    )
    .await;
    for i in 0..5 {
        app.single("alice", &format!("r{i}"), "a long enough repeated text")
            .await;
        app.single(&format!("bot{i}"), "victim", "join the campaign now please")
            .await;
    }
    app.group("carol", "g", "hello", &["a", "b"]).await; // a strike without any check first
    app.advance(std::time::Duration::from_secs(600));
    app.single("alice", "r9", "after the sweep interval").await;
    let redis = server(&app);
    let keys: Vec<String> = redis.cli(&["--scan"]).lines().map(String::from).collect();
    assert!(keys.len() >= 8, "{keys:?}");
    for key in keys {
        let ttl: i64 = redis.cli(&["PTTL", &key]).trim().parse().unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
}

#[tokio::test]
async fn entries_that_left_their_window_are_swept() {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_RATE_LIMITS", "30/10s,120/1m"),
            ("FLOODGATE_REPEAT_LIMIT", "3/1m"),
            ("FLOODGATE_FANOUT_LIMIT", "30/1m"),
            // Its 1 h window would make the sweep interval 6 minutes.
            ("FLOODGATE_AT_ALL_LIMIT", "off"),
        ],
    )
    .await;
    for i in 0..5 {
        let text = format!("old message number {i} with some words");
        app.single("alice", &format!("r{i}"), &text).await;
    }
    let redis = server(&app);
    let state = |redis: &RedisServer| {
        // The sender's state (its conversation memory is `…}:m`).
        let keys = redis.cli(&["--scan", "--pattern", "*{s:*}"]);
        let hash = keys.lines().next().unwrap().to_string();
        // Quoted and escaped (--no-raw): a fingerprint's bytes may include a newline.
        let fields = redis.cli(&["--no-raw", "HKEYS", &hash]);
        let count = |kind: &str| fields.lines().filter(|f| f.contains(kind)).count();
        (count(") \"r"), count(") \"t"))
    };
    assert_eq!(state(redis), (5, 5));
    // Past both windows and the sweep interval (a tenth of the longest window, plus a bit).
    app.advance(std::time::Duration::from_secs(120));
    app.single("alice", "r9", "a new message after two minutes")
        .await;
    assert_eq!(state(redis), (1, 1));
}

#[tokio::test]
async fn state_left_by_an_earlier_layout_is_ignored_then_swept() {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_RATE_LIMITS", "3/10s,100/1m"),
            ("FLOODGATE_KEY_PREFIX", "upgraded"),
            ("FLOODGATE_AT_ALL_LIMIT", "off"),
        ],
    )
    .await;
    let redis = server(&app);
    // What the previous version kept in a sender's hash: msgpack bucket lists under `w…`, a
    // block in `bu`/`bl`/`bn`, strikes as text. None of it may break a call or block anyone.
    let key = format!(
        "upgraded:{{s:{:032x}}}",
        floodgate::store::SenderKey::of("alice").0
    );
    let now = app.clock.now_ms();
    let until = (now + 3_600_000).to_string();
    redis.cli(&[
        "HSET",
        &key,
        "w10000",
        "not a ring",
        "w60000",
        "x",
        "bu",
        &until,
        "bl",
        "3600000",
        "bn",
        "1",
        "st",
        "1,2,3",
        "mt",
        &now.to_string(),
    ]);
    redis.cli(&["PEXPIRE", &key, "7200000"]);

    for i in 0..3 {
        let reply = app.single("alice", "bob", &format!("message {i}")).await;
        assert!(reply.is_allow(), "{reply:?}");
    }
    assert_eq!(
        app.single("alice", "bob", "one too many").await.err_code(),
        5002
    );
    app.assert_store_healthy().await;
    // Past the sweep interval: a tenth of the longest window (the 10-minute defaults), and more.
    app.advance(std::time::Duration::from_secs(70));
    assert!(
        app.single("alice", "bob", "after the sweep interval")
            .await
            .is_allow()
    );
    let fields = redis.cli(&["HKEYS", &key]);
    for old in ["w10000", "w60000", "bu", "bl", "bn", "st"] {
        assert!(
            !fields.lines().any(|f| f == old),
            "{old} still there: {fields}"
        );
    }
    app.assert_store_healthy().await;
}

/// The text `seeded_campaign_key` seeds: one payload key (a messenger ID), no bands.
const SEEDED_SPAM: &str = "加我微信领红包 限时优惠 vx123456";

/// An app on standalone Redis (campaign limit 2/10m, key prefix `prefix`) where one copy of
/// [`SEEDED_SPAM`] was admitted, and the name of its campaign key's copies (`:c`, not the
/// moderators' records of the key).
async fn seeded_campaign_key(prefix: &str) -> (TestApp, String) {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
            ("FLOODGATE_KEY_PREFIX", prefix),
        ],
    )
    .await;
    assert!(app.single("seed", "v", SEEDED_SPAM).await.is_allow());
    let key = server(&app).cli(&["--scan", "--pattern", &format!("{prefix}:{{f:*}}:c")]);
    let key = key.trim().to_string();
    assert!(!key.is_empty() && !key.contains('\n'), "{key:?}");
    (app, key)
}

#[tokio::test]
async fn a_campaign_key_holding_something_else_is_counted_afresh() {
    // A key written by something else (a tool, a half-restored backup): no script error, no
    // refused message; the next copy replaces it.
    let (app, key) = seeded_campaign_key("garbled").await;
    let (redis, key, spam) = (server(&app), key.as_str(), SEEDED_SPAM);
    for garbage in [
        "x",
        "0123456789abcdef",
        "\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}",
    ] {
        redis.cli(&["SET", key, garbage]);
        let reply = app
            .single(&format!("next{}", garbage.len()), "w", spam)
            .await;
        assert!(reply.is_allow(), "{garbage:?}: {reply:?}");
    }
    app.assert_store_healthy().await;
}

#[tokio::test]
async fn a_campaign_key_fuller_than_the_limit_still_refuses() {
    // Left by replicas with a higher limit, before it was lowered to 2: one sender who left the
    // window and three inside it. The first counts for nothing; the retry comes from the oldest
    // sender still inside the window.
    let (app, key) = seeded_campaign_key("lowered").await;
    let (redis, spam) = (server(&app), SEEDED_SPAM);
    let now = app.clock.now_ms();
    let minutes_ago = |m: u64| (now - m * 60_000) as f64;
    // Its copies rewritten (lua/campaign_check.lua): four senders, the recipient the seed
    // reached, and the counts.
    let mut copies = Vec::new();
    for (who, at) in [(1u8, 11), (2, 3), (3, 2), (4, 1)] {
        copies.extend_from_slice(&[who; 16]);
        copies.extend_from_slice(&minutes_ago(at).to_be_bytes());
    }
    copies.extend_from_slice(&[9u8; 8]);
    copies.extend_from_slice(&minutes_ago(1).to_be_bytes());
    copies.extend_from_slice(&4u32.to_be_bytes());
    copies.extend_from_slice(&1u32.to_be_bytes());
    let mut con = redis::Client::open(redis.url())
        .and_then(|client| client.get_connection())
        .expect("a connection");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(copies.as_slice())
        .arg("PX")
        .arg(600_000)
        .query(&mut con)
        .expect("SET");

    // (v3) To another recipient: a campaign reaches more than one.
    let refused = app.single("newbie", "w", spam).await;
    assert_eq!(refused.err_code(), 5004, "{refused:?}");
    assert!(
        refused.detail().ends_with("retry after 7m"),
        "{}",
        refused.detail()
    );
    app.assert_store_healthy().await;
}

/// `friend` writes to `user`, who answers with a link to promo-v.shop: an established message
/// that vouches for the domain.
async fn vouch_through(app: &TestApp, user: &str, friend: &str) {
    assert!(app.single(friend, user, "hey there").await.is_allow());
    let text = format!("look at promo-v.shop/{user}");
    assert!(app.single(user, friend, &text).await.is_allow());
}

/// A replica whose clock is hours ahead vouches for a domain in its future. Vouchers all
/// within the slack are left as they are (a vetted big site is not written by every message
/// that links it), but not future ones: the replicas on time replace them as before, so the
/// domain is vetted a memory after its vouchers on time, not hours past it.
#[tokio::test]
async fn vouchers_from_a_replica_with_a_clock_ahead_are_replaced() {
    use std::time::Duration;
    for backend in [Backend::Redis, Backend::Cluster] {
        let vars = [
            ("FLOODGATE_CAMPAIGN_LIMIT", "3/10m"),
            ("FLOODGATE_CONTACT_MEMORY", "32h"),
        ];
        let (on_time, ahead) = TestApp::pair(backend, &vars).await;
        ahead.advance(Duration::from_secs(3 * 3600));
        for (user, friend) in [("ann", "bea"), ("cal", "dan"), ("eve", "fay")] {
            vouch_through(&ahead, user, friend).await;
        }
        for (user, friend) in [("gil", "hal"), ("ivy", "jon"), ("kim", "lou")] {
            vouch_through(&on_time, user, friend).await;
        }
        // A memory and a minute later on time: the vouchers on time have left it, and so would
        // have the future ones they replaced.
        on_time.advance(Duration::from_secs(32 * 3600 + 60));
        let mut allowed = Vec::new();
        for i in 0..5 {
            let text = format!("new deals: promo-v.shop/{:x}", 0xfeed + i * 31);
            let reply = on_time
                .single(&format!("bot{i}"), &format!("victim{i}"), &text)
                .await;
            if reply.is_allow() {
                allowed.push(i);
            }
        }
        assert_eq!(allowed, [0, 1, 2], "{backend:?}: vetted past its memory");
    }
}

/// A replica whose clock is hours ahead writes buckets, strikes and a block in its future. The
/// replicas on time must not refuse the sender until that future comes: at most for the window
/// (or the block's own length) from when they first see it.
#[tokio::test]
async fn a_replica_with_a_clock_hours_ahead_cannot_wedge_a_sender() {
    use std::time::Duration;
    for backend in [Backend::Redis, Backend::Cluster] {
        let (on_time, ahead) = TestApp::pair(
            backend,
            &[
                ("FLOODGATE_RATE_LIMITS", "2/1m"),
                ("FLOODGATE_STRIKES", "2/10m"),
                ("FLOODGATE_BLOCK_FOR", "10m"),
                ("FLOODGATE_REPEAT_LIMIT", "off"),
            ],
        )
        .await;
        ahead.advance(Duration::from_secs(3 * 3600));
        assert!(ahead.single("alice", "bob", "one").await.is_allow());
        assert!(ahead.single("alice", "bob", "two").await.is_allow());
        assert_eq!(ahead.single("alice", "bob", "three").await.err_code(), 5002);
        let blocking = ahead.single("alice", "bob", "four").await;
        assert!(
            blocking.detail().contains("blocked for 10m"),
            "{blocking:?}"
        );

        // On time: the block lasts its own length from now, then the window's worth of
        // the future counts, then alice writes again.
        assert_eq!(
            on_time.single("alice", "bob", "now?").await.err_code(),
            5006
        );
        on_time.advance(Duration::from_secs(11 * 60));
        assert_eq!(
            on_time.single("alice", "bob", "now?").await.err_code(),
            5002
        );
        on_time.advance(Duration::from_secs(70));
        let reply = on_time.single("alice", "bob", "finally").await;
        assert!(reply.is_allow(), "{backend:?}: {reply:?}");
        on_time.assert_store_healthy().await;
    }
}

/// A popular user's memory of strangers stays bounded: past the cap, the least recently active
/// are forgotten (past 512 pending strangers, down to 384), and the key expires once they no
/// longer matter (the pending time: an hour here, longer than the fanout and campaign windows),
/// not after the whole memory.
#[tokio::test]
async fn a_users_conversation_memory_is_capped() {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_CONTACT_MEMORY", "1d"),
            ("FLOODGATE_FANOUT_LIMIT", "5/10m"),
        ],
    )
    .await;
    for i in 0..600 {
        let fan = format!("fan{i}");
        assert!(app.single(&fan, "star", "love your work!").await.is_allow());
        app.advance(std::time::Duration::from_millis(10));
    }
    let redis = server(&app);
    // Strangers' cold messages are pending: nobody's memory (`:m`) holds them.
    assert_eq!(redis.cli(&["--scan", "--pattern", "*}:m"]).trim(), "");
    let keys = redis.cli(&["--scan", "--pattern", "*}:p"]);
    let key = keys.trim();
    assert!(!key.is_empty() && !key.contains('\n'), "{key:?}");
    let held: usize = redis.cli(&["HLEN", key]).trim().parse().unwrap();
    assert!((384..=512).contains(&held), "{held} entries");
    let ttl: i64 = redis.cli(&["PTTL", key]).trim().parse().unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "{ttl}");
    let status = app.sender("star").await;
    assert_eq!(status["establishedContacts"], held as u64, "{status}");
    // The latest fans are remembered: star's answer to them is established (no fanout).
    for i in 570..600 {
        let reply = app.single("star", &format!("fan{i}"), "thank you!").await;
        assert!(reply.is_allow(), "fan{i}: {reply:?}");
    }
    app.assert_store_healthy().await;
}

/// The sender program keeps its counters' tables from one call to the next (built once per
/// library load and refilled by each call, which saves Redis time): nothing a call leaves in
/// them may reach the next. Here rings moved back from a replica's clock hours ahead, which a
/// call writes back even when it rejects, must not make the next sender's rejected message
/// write rings it never counted in: a campaign rejection leaves only its strike and sweep time.
#[tokio::test]
async fn a_call_leaves_nothing_in_the_programs_tables_for_the_next() {
    use std::time::Duration;
    let (on_time, ahead) = TestApp::pair(
        Backend::Redis,
        &[
            ("FLOODGATE_RATE_LIMITS", "30/10s,120/1m"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "1/10m"),
        ],
    )
    .await;
    let text = "a message with a link: example.com/offer";
    assert!(on_time.single("dave", "bob", text).await.is_allow());
    ahead.advance(Duration::from_secs(3 * 3600));
    assert!(ahead.single("alice", "bob", "hello").await.is_allow());
    // Alice's rings, hours ahead, are moved back by this call.
    assert!(
        on_time
            .single("alice", "bob", "hello again")
            .await
            .is_allow()
    );
    assert_eq!(on_time.single("carol", "erin", text).await.err_code(), 5004);

    let redis = server(&on_time);
    // The senders' state hashes (not their `…}:m`, `…}:p`, … keys); only carol was struck.
    let struck: Vec<String> = redis
        .cli(&["--scan", "--pattern", "*{s:*}"])
        .lines()
        .filter(|key| redis.cli(&["HEXISTS", key, "b"]).trim() == "1")
        .map(String::from)
        .collect();
    assert_eq!(struck.len(), 1, "{struck:?}");
    let mut fields: Vec<String> = redis
        .cli(&["HKEYS", &struck[0]])
        .lines()
        .map(String::from)
        .collect();
    fields.sort();
    assert_eq!(fields, ["b", "mt"], "the rejected sender's state");
    on_time.assert_store_healthy().await;
}

/// The same for the fields a call reads: a call that counts in fewer counters than the one
/// before reads (and so keeps from the sweep) only its own. Alice's recipient left the fanout
/// window; carol's message to the same person just before must not keep it in alice's state.
#[tokio::test]
async fn a_call_reads_only_its_own_fields_after_a_call_that_read_more() {
    let app = TestApp::on(
        Backend::Redis,
        &[
            ("FLOODGATE_RATE_LIMITS", "30/10s,120/1m"),
            ("FLOODGATE_REPEAT_LIMIT", "3/1m"),
            ("FLOODGATE_FANOUT_LIMIT", "30/1m"),
            ("FLOODGATE_AT_ALL_LIMIT", "off"),
        ],
    )
    .await;
    let recipients = |redis: &RedisServer| {
        // The recipients' last times (`t…`) in every sender's state, quoted (--no-raw).
        let keys = redis.cli(&["--scan", "--pattern", "*{s:*}"]);
        keys.lines()
            .map(|hash| {
                let fields = redis.cli(&["--no-raw", "HKEYS", hash]);
                fields.lines().filter(|f| f.contains(") \"t")).count()
            })
            .sum::<usize>()
    };
    assert!(
        app.single("alice", "r1", "an old message with some words")
            .await
            .is_allow()
    );
    app.advance(std::time::Duration::from_secs(120));
    // Carol's call reads a fingerprint's copies and r1's time; alice's next (too short for a
    // fingerprint) reads r2's time only, and sweeps her r1.
    assert!(
        app.single("carol", "r1", "another message with some words")
            .await
            .is_allow()
    );
    assert!(app.single("alice", "r2", "ok").await.is_allow());
    assert_eq!(recipients(server(&app)), 2, "carol's r1 and alice's r2");
    app.assert_store_healthy().await;
}
