//! The windowed rules over HTTP (README, "Rules and error codes"): burst (5001), rate (5002),
//! repeat (5003), fanout (5005), mentions and @all (5007). Each rejects with its code at exactly
//! the threshold and not one message before, and only admitted messages consume quota.

#[macro_use]
mod support;

on_every_store!(
    a_burst_over_the_limit_is_rejected_with_5001_and_refills,
    a_sender_over_a_window_is_rejected_with_5002_until_the_window_passes,
    rejected_messages_consume_no_quota,
    the_same_content_more_than_n_times_is_rejected_with_5003,
    short_and_emoji_content_never_trips_repeat_or_campaign,
    writing_to_more_than_k_recipients_is_rejected_with_5005,
    a_group_message_with_too_many_mentions_is_rejected_with_5007,
    at_all_counts_as_one_mention_and_its_uses_are_limited_per_sender,
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
