//! The rules that read what a message says, over HTTP (README, "Rules and error codes"): the
//! campaign rule (5004) over exact copies, payloads and near-duplicates, the keyword list (5008)
//! and denied link domains (5009).

#[macro_use]
mod support;

on_every_store!(
    the_same_content_from_more_than_m_senders_is_rejected_with_5004,
    a_campaign_rejection_releases_the_senders_quota,
    a_keyword_in_any_disguise_is_rejected_with_5008_and_counts_as_a_strike,
    a_link_to_a_denied_domain_is_rejected_with_5009,
    spam_runs_that_vary_their_words_are_one_campaign,
);

use support::{Backend, TestApp};

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
