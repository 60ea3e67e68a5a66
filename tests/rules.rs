//! Each rule (README, "Rules and error codes") over HTTP: it rejects with its code at exactly the threshold and not
//! one message before; exemptions and shadow modes; only admitted messages consume quota.

#[macro_use]
mod support;

on_every_store!(
    a_burst_over_the_limit_is_rejected_with_5001_and_refills,
    a_sender_over_a_window_is_rejected_with_5002_until_the_window_passes,
    rejected_messages_consume_no_quota,
    the_same_content_more_than_n_times_is_rejected_with_5003,
    short_and_emoji_content_never_trips_repeat_or_campaign,
    the_same_content_from_more_than_m_senders_is_rejected_with_5004,
    a_campaign_rejection_releases_the_senders_quota,
    writing_to_more_than_k_recipients_is_rejected_with_5005,
    a_group_message_with_too_many_mentions_is_rejected_with_5007,
    at_all_counts_as_one_mention_and_its_uses_are_limited_per_sender,
    a_keyword_in_any_disguise_is_rejected_with_5008_and_counts_as_a_strike,
    a_link_to_a_denied_domain_is_rejected_with_5009,
    repeated_violations_start_a_block_that_doubles,
    a_mentions_violation_counts_as_a_strike,
    exempt_senders_and_notifications_are_never_checked_but_msg_from_200_is,
    global_shadow_mode_allows_everything_but_counts_what_it_would_reject,
    one_rule_in_shadow_while_the_others_enforce,
    greetings_are_never_a_campaign_and_friends_get_their_own_repeats,
    established_conversations_skip_fanout_and_campaign,
    a_conversation_is_forgotten_after_the_contact_memory,
    group_messages_are_established_once_the_sender_is_seasoned,
    spam_runs_that_vary_their_words_are_one_campaign,
);

use std::time::Duration;

use support::{Backend, TestApp};

async fn a_burst_over_the_limit_is_rejected_with_5001_and_refills(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_BURST", "10/1s")]).await;
    for i in 0..10 {
        assert!(
            app.single("alice", "bob", &format!("hello {i}"))
                .await
                .is_allow(),
            "message {i}"
        );
    }
    let refused = app.single("alice", "bob", "one too many").await;
    assert_eq!(refused.err_code(), 5001);
    assert_eq!(refused.body["nextCode"], 1);
    assert_eq!(refused.detail(), "limit 10 per 1s; retry after 100ms");
    app.advance(Duration::from_millis(100));
    assert!(app.single("alice", "bob", "refilled").await.is_allow());
    assert!(
        app.single("carol", "bob", "another sender")
            .await
            .is_allow()
    );
    app
}

async fn a_sender_over_a_window_is_rejected_with_5002_until_the_window_passes(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_RATE_LIMITS", "5/10s,8/1m")]).await;
    for i in 0..5 {
        assert!(
            app.single("alice", "bob", &format!("m{i}"))
                .await
                .is_allow(),
            "message {i}"
        );
        app.advance(Duration::from_millis(10));
    }
    let refused = app.single("alice", "bob", "sixth").await;
    assert_eq!(refused.err_code(), 5002);
    assert!(
        refused
            .detail()
            .starts_with("limit 5 per 10s; retry after "),
        "{}",
        refused.detail()
    );

    // The 10 s window passes (plus one sub-bucket, counted in full); the 1 m window still holds 5.
    app.advance(Duration::from_secs(11));
    for i in 0..3 {
        assert!(
            app.single("alice", "bob", &format!("n{i}"))
                .await
                .is_allow(),
            "message {i}"
        );
    }
    let refused = app.single("alice", "bob", "ninth in a minute").await;
    assert_eq!(refused.err_code(), 5002);
    assert!(
        refused.detail().starts_with("limit 8 per 1m;"),
        "{}",
        refused.detail()
    );
    app
}

async fn rejected_messages_consume_no_quota(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_RATE_LIMITS", "3/1m"),
            ("FLOODGATE_STRIKES", "off"),
        ],
    )
    .await;
    for _ in 0..3 {
        assert!(app.single("alice", "bob", "hi").await.is_allow());
    }
    for _ in 0..20 {
        assert_eq!(app.single("alice", "bob", "hi").await.err_code(), 5002);
    }
    let status = app.sender("alice").await;
    assert_eq!(status["windows"][0]["count"], 3, "{status}");
    assert_eq!(status["windows"][0]["limit"], 3);
    assert_eq!(status["windows"][0]["window"], "1m");
    app
}

async fn the_same_content_more_than_n_times_is_rejected_with_5003(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_REPEAT_LIMIT", "3/10m")]).await;
    // A pitch (it carries a link) counts across recipients.
    let copies = [
        "Buy cheap followers now at example-shop.com",
        "BUY CHEAP FOLLOWERS NOW at example-shop.com!!!",
        "Bυy cheap fоllowers nooow at exаmple-shop.com",
    ];
    for (i, copy) in copies.into_iter().enumerate() {
        let to = format!("mark{i}");
        assert!(app.single("alice", &to, copy).await.is_allow(), "{copy}");
    }
    let refused = app
        .single(
            "alice",
            "carol",
            "buy cheap followers now at example-shop.com",
        )
        .await;
    assert_eq!(refused.err_code(), 5003);
    assert!(
        refused.detail().starts_with("limit 3 per 10m;"),
        "{}",
        refused.detail()
    );
    assert!(
        app.single("alice", "bob", "something else entirely")
            .await
            .is_allow()
    );
    assert!(
        app.single("dave", "bob", "Buy cheap followers now at example-shop.com")
            .await
            .is_allow(),
        "repeat is per sender"
    );
    // Small talk (short, no payload) counts per recipient: a buyer may ask every seller.
    for i in 0..6 {
        let seller = format!("seller{i}");
        let reply = app
            .single("erin", &seller, "Hi, is this still available?")
            .await;
        assert!(reply.is_allow(), "{seller}: {reply:?}");
    }
    for _ in 0..2 {
        assert!(
            app.single("erin", "seller0", "Hi, is this still available?")
                .await
                .is_allow()
        );
    }
    let refused = app
        .single("erin", "seller0", "Hi, is this still available?")
        .await;
    assert_eq!(refused.err_code(), 5003, "the same recipient a fourth time");
    app
}

async fn short_and_emoji_content_never_trips_repeat_or_campaign(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_REPEAT_LIMIT", "2/10m"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
        ],
    )
    .await;
    for sender in ["a", "b", "c", "d"] {
        for text in ["ok", "好的", "thanks!", "👍👍👍👍👍👍👍👍👍👍👍👍"]
        {
            for _ in 0..3 {
                assert!(
                    app.single(sender, "bob", text).await.is_allow(),
                    "{sender}: {text}"
                );
            }
        }
    }
    app
}

async fn the_same_content_from_more_than_m_senders_is_rejected_with_5004(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_CAMPAIGN_LIMIT", "5/10m")]).await;
    let spam = "加我微信领红包 限时优惠 vx123456";
    for i in 0..5 {
        assert!(
            app.single(&format!("bot{i}"), &format!("victim{i}"), spam)
                .await
                .is_allow(),
            "sender {i}"
        );
    }
    let refused = app.single("bot5", "victim5", spam).await;
    assert_eq!(refused.err_code(), 5004);
    assert!(
        refused.detail().starts_with("limit 5 per 10m;"),
        "{}",
        refused.detail()
    );
    assert!(
        app.single("bot0", "victim9", spam).await.is_allow(),
        "a counted sender is not a new one"
    );
    assert_eq!(
        app.single("bot6", "victim6", "加我微信领红旗 限时优惠 vx123456")
            .await
            .err_code(),
        5004,
        "one character differs, the payload (the messenger ID) is the same"
    );
    assert!(
        app.single("bot7", "victim7", "加我微信领红包 限时优惠 vx654321")
            .await
            .is_allow(),
        "another payload is another campaign"
    );
    app
}

async fn a_campaign_rejection_releases_the_senders_quota(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_CAMPAIGN_LIMIT", "1/10m"),
            ("FLOODGATE_RATE_LIMITS", "10/1m"),
        ],
    )
    .await;
    let spam = "visit example.com/prizes for prizes";
    // (v3) A campaign reaches more than one recipient: copies to one account are not one.
    assert!(app.single("bot0", "v0", spam).await.is_allow());
    assert_eq!(app.single("bot1", "v1", spam).await.err_code(), 5004);
    let status = app.sender("bot1").await;
    assert_eq!(status["windows"][0]["count"], 0, "{status}");
    assert_eq!(status["strikes"], 1, "{status}");
    app
}

async fn writing_to_more_than_k_recipients_is_rejected_with_5005(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_FANOUT_LIMIT", "3/10m")]).await;
    for to in ["r1", "r2", "r3"] {
        assert!(
            app.single("alice", to, &format!("hi {to}"))
                .await
                .is_allow()
        );
    }
    let refused = app.single("alice", "r4", "hi r4").await;
    assert_eq!(refused.err_code(), 5005);
    assert!(
        app.single("alice", "r1", "a known recipient is fine")
            .await
            .is_allow()
    );
    for i in 0..10 {
        let reply = app
            .group(
                "alice",
                &format!("g{i}"),
                &format!("groups do not count {i}"),
                &[],
            )
            .await;
        assert!(reply.is_allow(), "fanout is one-to-one only");
    }
    // Recipients count like messages in a window: the oldest sub-bucket (a minute) in full.
    app.advance(Duration::from_secs(601));
    assert_eq!(app.single("alice", "r4", "hi r4").await.err_code(), 5005);
    app.advance(Duration::from_secs(60));
    assert!(
        app.single("alice", "r4", "the window passed")
            .await
            .is_allow()
    );
    app
}

async fn a_group_message_with_too_many_mentions_is_rejected_with_5007(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_MENTION_LIMIT", "3")]).await;
    let three = ["u1", "u2", "u3"];
    let four = ["u1", "u2", "u3", "u4"];
    assert!(app.group("alice", "g", "hey", &three).await.is_allow());
    assert!(
        app.group("alice", "g", "hey", &["u1", "u1", "u2", "u2", "u3"])
            .await
            .is_allow(),
        "distinct users"
    );
    let refused = app.group("alice", "g", "hey", &four).await;
    assert_eq!(refused.err_code(), 5007);
    assert!(
        refused
            .detail()
            .contains("limit 3 mentions per message; message has 4"),
        "{}",
        refused.detail()
    );

    let mut single = support::single_body("alice", "bob", "hey");
    single["atUserList"] = serde_json::json!(four);
    let reply = app.post(&format!("/cb/{}", support::SINGLE), &single).await;
    assert!(
        reply.is_allow(),
        "OpenIM ignores atUserList in one-to-one chats"
    );
    app
}

async fn at_all_counts_as_one_mention_and_its_uses_are_limited_per_sender(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_MENTION_LIMIT", "2"),
            ("FLOODGATE_AT_ALL_LIMIT", "2/1h"),
            ("FLOODGATE_STRIKES", "off"),
        ],
    )
    .await;
    let all = ["AtAllTag", "u1"];
    assert!(
        app.group("alice", "g", "meeting now", &all)
            .await
            .is_allow()
    );
    assert!(
        app.group("alice", "g2", "meeting again", &all)
            .await
            .is_allow()
    );
    let third = app.group("alice", "g", "and again", &["AtAllTag"]).await;
    assert_eq!(third.err_code(), 5007, "{third:?}");
    assert!(
        third
            .detail()
            .starts_with("limit 2 @all per 1h; retry after"),
        "{}",
        third.detail()
    );
    assert!(
        third.body["errMsg"]
            .as_str()
            .unwrap()
            .starts_with("too many mentions; retry after")
    );
    // Ordinary mentions and other senders are not held back.
    assert!(app.group("alice", "g", "hi u1", &["u1"]).await.is_allow());
    assert!(
        app.group("bob", "g", "hello all", &["AtAllTag"])
            .await
            .is_allow()
    );
    // The window (and its oldest sub-bucket, a tenth of it, counted in full) frees the sender.
    app.advance(Duration::from_secs(4000));
    assert!(
        app.group("alice", "g", "weekly call", &["AtAllTag"])
            .await
            .is_allow()
    );
    app
}

/// A keyword file of this test's own.
async fn a_keyword_in_any_disguise_is_rejected_with_5008_and_counts_as_a_strike(
    backend: Backend,
) -> TestApp {
    let file = support::keyword_file("# the operator's list\nfree money\n微信\nass\n");
    let path = file.display().to_string();
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_KEYWORDS_FILE", &path),
            ("FLOODGATE_STRIKES", "3/10m"),
        ],
    )
    .await;
    for (i, text) in ["Free   MONEY!", "f.r.e.e m-o-n-e-y"].iter().enumerate() {
        let reply = app.single(&format!("s{i}"), "bob", text).await;
        assert_eq!(reply.err_code(), 5008, "{text}: {reply:?}");
        let message = reply.body["errMsg"].as_str().unwrap();
        assert_eq!(
            message, "message contains blocked content",
            "never the entry"
        );
    }
    assert_eq!(
        app.group("s3", "g", "加我微信领红包", &[]).await.err_code(),
        5008
    );
    for text in ["first class passport", "freedom money", "see you at 5"] {
        assert!(app.single("fine", "bob", text).await.is_allow(), "{text}");
    }
    // Each is a strike: the third starts a block.
    app.single("mallory", "bob", "you ass").await;
    app.single("mallory", "bob", "free money").await;
    let third = app.single("mallory", "bob", "FREE money").await;
    assert!(third.detail().contains("blocked for"), "{third:?}");
    assert_eq!(app.single("mallory", "bob", "hello").await.err_code(), 5006);
    assert_eq!(app.metric("floodgate_keywords").await, 3.0);
    let _ = std::fs::remove_file(file);
    app
}

async fn a_link_to_a_denied_domain_is_rejected_with_5009(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_LINK_DENY", "evil.example"),
            ("FLOODGATE_LINK_ALLOW", "docs.evil.example"),
        ],
    )
    .await;
    for text in [
        "see https://evil.example/offer",
        "see www.evil.example:8080/x",
        "see ｅｖｉｌ．ｅｘａｍｐｌｅ／ｘ",
    ] {
        let reply = app.single("alice", "bob", text).await;
        assert_eq!(reply.err_code(), 5009, "{text}");
        assert_eq!(reply.body["errMsg"], "message links to a blocked site");
    }
    assert!(
        app.single("alice", "bob", "see docs.evil.example/guide")
            .await
            .is_allow()
    );
    assert!(
        app.single("alice", "bob", "see notevil.example")
            .await
            .is_allow()
    );
    app
}

async fn repeated_violations_start_a_block_that_doubles(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_RATE_LIMITS", "1/1m"),
            ("FLOODGATE_STRIKES", "3/10m"),
            ("FLOODGATE_BLOCK_FOR", "5m"),
            ("FLOODGATE_BLOCK_MAX", "15m"),
        ],
    )
    .await;
    assert!(app.single("alice", "bob", "first").await.is_allow());
    assert_eq!(
        app.single("alice", "bob", "strike 1").await.err_code(),
        5002
    );
    assert_eq!(
        app.single("alice", "bob", "strike 2").await.err_code(),
        5002
    );
    let third = app.single("alice", "bob", "strike 3").await;
    assert_eq!(
        third.err_code(),
        5002,
        "the violation that reaches the limit keeps its own code"
    );
    assert!(
        third.detail().ends_with("retry after 5m; blocked for 5m"),
        "{}",
        third.detail()
    );
    let blocked = app.single("alice", "bob", "while blocked").await;
    assert_eq!(blocked.err_code(), 5006);
    assert_eq!(
        blocked.detail(),
        "blocked for 5m after repeated violations; retry after 5m"
    );
    assert_eq!(app.metric("floodgate_blocks_total").await, 1.0);

    let status = app.sender("alice").await;
    assert_eq!(status["blockedForSeconds"], 300);
    assert_eq!(status["blocks"], 1);
    assert_eq!(
        status["strikes"], 0,
        "rejections during a block add no strikes"
    );

    app.advance(Duration::from_secs(300));
    assert!(
        app.single("alice", "bob", "served my time")
            .await
            .is_allow()
    );
    for _ in 0..2 {
        assert_eq!(app.single("alice", "bob", "again").await.err_code(), 5002);
    }
    let second = app.single("alice", "bob", "again").await;
    assert!(
        second.detail().ends_with("blocked for 10m"),
        "the second block doubles: {}",
        second.detail()
    );
    app.advance(Duration::from_secs(599));
    assert_eq!(
        app.single("alice", "bob", "still blocked").await.err_code(),
        5006
    );

    let lifted = app.unblock("alice").await;
    assert_eq!(
        lifted,
        serde_json::json!({"sendID": "alice", "unblocked": true})
    );
    assert_eq!(app.unblock("alice").await["unblocked"], false);
    app.advance(Duration::from_secs(60));
    assert!(app.single("alice", "bob", "free again").await.is_allow());
    app
}

async fn a_mentions_violation_counts_as_a_strike(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_MENTION_LIMIT", "1"),
            ("FLOODGATE_STRIKES", "2/10m"),
        ],
    )
    .await;
    assert_eq!(
        app.group("alice", "g", "hey", &["a", "b"]).await.err_code(),
        5007
    );
    let second = app.group("alice", "g", "hey", &["a", "b"]).await;
    assert_eq!(second.err_code(), 5007);
    assert!(
        second.detail().ends_with("blocked for 10m"),
        "{}",
        second.detail()
    );
    assert_eq!(app.group("alice", "g", "hey", &[]).await.err_code(), 5006);
    app
}

async fn exempt_senders_and_notifications_are_never_checked_but_msg_from_200_is(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_RATE_LIMITS", "1/1m"),
            ("FLOODGATE_EXEMPT_SENDERS", "imAdmin, ops"),
        ],
    )
    .await;
    for sender in ["imAdmin", "ops"] {
        for _ in 0..5 {
            assert!(
                app.single(sender, "bob", "maintenance tonight")
                    .await
                    .is_allow(),
                "{sender}"
            );
        }
    }
    // A notification (contentType 1000-5000, which OpenIM's group callback still sends).
    let mut system = support::single_body("notifier", "bob", "your order shipped");
    system["contentType"] = serde_json::json!(1400);
    for _ in 0..5 {
        assert!(
            app.post(&format!("/cb/{}", support::SINGLE), &system)
                .await
                .is_allow()
        );
    }
    // msgFrom 200 alone exempts nothing: any modified client can set it.
    let mut forged = support::single_body("mallory", "bob", "not really the system");
    forged["msgFrom"] = serde_json::json!(200);
    let path = format!("/cb/{}", support::SINGLE);
    assert!(app.post(&path, &forged).await.is_allow());
    assert_eq!(app.post(&path, &forged).await.err_code(), 5002);

    let checked = TestApp::on(
        backend,
        &[
            ("FLOODGATE_RATE_LIMITS", "1/1m"),
            ("FLOODGATE_CHECK_SYSTEM", "true"),
        ],
    )
    .await;
    assert!(
        checked
            .post(&format!("/cb/{}", support::SINGLE), &system)
            .await
            .is_allow()
    );
    let refused = checked
        .post(&format!("/cb/{}", support::SINGLE), &system)
        .await;
    assert_eq!(refused.err_code(), 5002);
    app
}

async fn global_shadow_mode_allows_everything_but_counts_what_it_would_reject(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_MODE", "shadow"),
            ("FLOODGATE_RATE_LIMITS", "2/1m"),
            ("FLOODGATE_BURST", "3/1s"),
        ],
    )
    .await;
    for _ in 0..6 {
        assert!(app.single("alice", "bob", "hello there").await.is_allow());
    }
    let series =
        |rule: &str| format!("floodgate_rejections_total{{mode=\"shadow\",rule=\"{rule}\"}}");
    assert_eq!(app.metric(&series("burst")).await, 3.0);
    assert_eq!(app.metric(&series("rate")).await, 4.0);
    let verdict = |v: &str| {
        format!(
            "floodgate_callbacks_total{{command=\"{}\",verdict=\"{v}\"}}",
            support::SINGLE
        )
    };
    assert_eq!(app.metric(&verdict("allow")).await, 2.0);
    assert_eq!(app.metric(&verdict("shadow_reject")).await, 4.0);
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"enforce\",rule=\"rate\"}")
            .await,
        0.0
    );
    assert_eq!(
        app.sender("alice").await["windows"][0]["count"],
        6,
        "shadow-admitted messages are delivered, so they count"
    );
    app
}

async fn one_rule_in_shadow_while_the_others_enforce(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_REPEAT_MODE", "shadow"),
            ("FLOODGATE_REPEAT_LIMIT", "1/10m"),
            ("FLOODGATE_RATE_LIMITS", "3/1m"),
        ],
    )
    .await;
    let spam = "the very same message again";
    for _ in 0..3 {
        assert!(app.single("alice", "bob", spam).await.is_allow());
    }
    assert_eq!(
        app.single("alice", "bob", spam).await.err_code(),
        5002,
        "rate still enforces"
    );
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"shadow\",rule=\"repeat\"}")
            .await,
        3.0
    );
    app
}

/// Has each of `friends` write to `user`: their conversations become established.
async fn befriend(app: &TestApp, user: &str, friends: &[String]) {
    for friend in friends {
        assert!(
            app.single(friend, user, "hey, how are you?")
                .await
                .is_allow()
        );
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

async fn greetings_are_never_a_campaign_and_friends_get_their_own_repeats(
    backend: Backend,
) -> TestApp {
    let app = TestApp::on(backend, &[]).await;
    // The first week of December: 20 users, each greeting a friend they never wrote to.
    for i in 0..20 {
        for greeting in [
            "Merry Christmas!!",
            "Happy birthday to you, my dear friend!",
        ] {
            let reply = app
                .single(&format!("user{i}"), &format!("friend{i}"), greeting)
                .await;
            assert!(reply.is_allow(), "user{i}: {greeting}: {reply:?}");
        }
    }
    // One greeting to six friends who write to this user: each conversation has its own count.
    let friends = names("pal", 6);
    befriend(&app, "greeter", &friends).await;
    for friend in &friends {
        let reply = app
            .single("greeter", friend, "Happy new year to you and yours!")
            .await;
        assert!(reply.is_allow(), "{friend}: {reply:?}");
    }
    // Small talk to strangers is counted per stranger too (fanout still counts the strangers).
    for i in 0..6 {
        let to = format!("stranger{i}");
        let reply = app
            .single("greeter", &to, "Happy new year to you and yours!")
            .await;
        assert!(reply.is_allow(), "{to}: {reply:?}");
    }
    // …and a friend still gets no more than 3 copies of one text.
    for _ in 0..2 {
        assert!(
            app.single("greeter", "pal0", "Happy new year to you and yours!")
                .await
                .is_allow()
        );
    }
    let refused = app
        .single("greeter", "pal0", "Happy new year to you and yours!")
        .await;
    assert_eq!(refused.err_code(), 5003, "repeat within one conversation");
    app
}

async fn established_conversations_skip_fanout_and_campaign(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_FANOUT_LIMIT", "3/10m"),
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
        ],
    )
    .await;
    let contacts = names("contact", 6);
    befriend(&app, "alice", &contacts).await;
    let status = app.sender("alice").await;
    assert_eq!(status["establishedContacts"], 6, "{status}");
    for contact in &contacts {
        let text = format!("the party is at example.com/party, see you {contact}");
        let reply = app.single("alice", contact, &text).await;
        assert!(reply.is_allow(), "{contact}: {reply:?}");
    }
    // Strangers are cold: fanout counts them.
    for i in 0..3 {
        assert!(
            app.single("alice", &format!("s{i}"), "hi there")
                .await
                .is_allow()
        );
    }
    assert_eq!(app.single("alice", "s3", "hi there").await.err_code(), 5005);

    // The same link from many senders, each to someone who wrote to them: not a campaign.
    let invite = "Join the party tonight: example.com/party";
    for i in 0..5 {
        let (host, guest) = (format!("host{i}"), format!("guest{i}"));
        befriend(&app, &host, std::slice::from_ref(&guest)).await;
        assert!(
            app.single(&host, &guest, invite).await.is_allow(),
            "host{i}"
        );
    }
    // From senders to strangers it is: the third cold sender is over the limit of 2.
    for i in 0..2 {
        let reply = app
            .single(&format!("bot{i}"), &format!("mark{i}"), invite)
            .await;
        assert!(reply.is_allow(), "bot{i}: {reply:?}");
    }
    assert_eq!(app.single("bot2", "mark2", invite).await.err_code(), 5004);
    app
}

async fn a_conversation_is_forgotten_after_the_contact_memory(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_FANOUT_LIMIT", "2/10m"),
            ("FLOODGATE_CONTACT_MEMORY", "1h"),
        ],
    )
    .await;
    let contacts = names("c", 3);
    befriend(&app, "bob", &contacts).await;
    for contact in &contacts {
        assert!(app.single("bob", contact, "thanks!").await.is_allow());
    }
    app.advance(Duration::from_secs(3601));
    // Forgotten: bob's messages to them are cold again, and fanout counts them.
    for contact in &contacts[..2] {
        assert!(app.single("bob", contact, "still there?").await.is_allow());
    }
    let refused = app.single("bob", &contacts[2], "still there?").await;
    assert_eq!(refused.err_code(), 5005);
    let status = app.sender("bob").await;
    assert_eq!(status["establishedContacts"], 0, "{status}");
    app
}

async fn group_messages_are_established_once_the_sender_is_seasoned(backend: Backend) -> TestApp {
    let app = TestApp::on(
        backend,
        &[
            ("FLOODGATE_CAMPAIGN_LIMIT", "2/10m"),
            ("FLOODGATE_GROUP_SEASONING", "1h"),
        ],
    )
    .await;
    let members = names("member", 5);
    for member in &members {
        assert!(
            app.group(member, "hiking", "hello everyone", &[])
                .await
                .is_allow()
        );
    }
    app.advance(Duration::from_secs(1800));
    for member in &members {
        assert!(
            app.group(member, "hiking", "half an hour in", &[])
                .await
                .is_allow()
        );
    }
    app.advance(Duration::from_secs(1801));
    // Everyone shares the route link: members who have posted here for an hour are not a campaign.
    let route = "Route for Sunday: maps.example.com/route/42";
    for member in &members {
        let reply = app.group(member, "hiking", route, &[]).await;
        assert!(reply.is_allow(), "{member}: {reply:?}");
    }
    let status = app.sender("member0").await;
    assert_eq!(status["establishedGroups"], 1, "{status}");
    // Newcomers posting the same link are cold: the third is over the limit.
    for i in 0..2 {
        let reply = app.group(&format!("new{i}"), "hiking", route, &[]).await;
        assert!(reply.is_allow(), "new{i}: {reply:?}");
    }
    assert_eq!(
        app.group("new2", "hiking", route, &[]).await.err_code(),
        5004
    );
    app
}

async fn spam_runs_that_vary_their_words_are_one_campaign(backend: Backend) -> TestApp {
    let app = TestApp::on(backend, &[("FLOODGATE_CAMPAIGN_LIMIT", "3/10m")]).await;
    let runs: [&dyn Fn(usize) -> String; 4] = [
        // A reference number in each copy of a long text.
        &|i| {
            format!(
                "Congratulations! You have been selected for a free iPhone, reply now to claim it. Ref {}",
                48_213 + i * 7919
            )
        },
        // A rotated short link in a long text.
        &|i| {
            format!(
                "Your parcel is held at the depot, pay the small customs fee here bit.ly/p{i} today"
            )
        },
        // A messenger ID behind changing words.
        &|i| {
            [
                "加我微信：deal_8888",
                "优惠多多 微信 deal_8888",
                "找我 微信:deal_8888 有惊喜",
                "微信號deal_8888",
            ][i % 4]
                .to_string()
        },
        // A phone number written differently.
        &|i| {
            [
                "call 555-010-9999 now",
                "Call (555) 010 9999!",
                "ring 5550109999",
                "tel: 555.010.9999",
            ][i % 4]
                .to_string()
        },
    ];
    // Near-duplicate keys are probabilistic (LSH bands): a run is stopped soon after the limit
    // rather than at exactly the limit, and then every further copy is refused.
    for (run, copy) in runs.iter().enumerate() {
        let mut allowed = Vec::new();
        for i in 0..12 {
            let reply = app
                .single(
                    &format!("run{run}bot{i}"),
                    &format!("run{run}v{i}"),
                    &copy(i),
                )
                .await;
            if reply.is_allow() {
                allowed.push(i);
            } else {
                assert_eq!(reply.err_code(), 5004, "run {run}, copy {i}: {reply:?}");
            }
        }
        assert!(allowed.starts_with(&[0, 1, 2]), "run {run}: {allowed:?}");
        assert!(allowed.len() <= 6, "run {run} allowed {allowed:?}");
        assert!(
            allowed.iter().all(|&i| i < 8),
            "run {run} allowed {allowed:?}"
        );
    }
    // Two different short texts are never merged.
    for i in 0..6 {
        let text = format!("see you at {}", 5 + i % 2);
        assert!(
            app.single(&format!("pal{i}"), &format!("mate{i}"), &text)
                .await
                .is_allow()
        );
    }
    app
}
