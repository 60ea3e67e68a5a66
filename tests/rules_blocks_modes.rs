//! What the rules do beyond one rejection, over HTTP: strikes that start doubling blocks (5006),
//! senders and messages that are never checked, and rules in shadow mode.

#[macro_use]
mod support;

on_every_store!(
    repeated_violations_start_a_block_that_doubles,
    a_mentions_violation_counts_as_a_strike,
    exempt_senders_and_notifications_are_never_checked_but_msg_from_200_is,
    global_shadow_mode_allows_everything_but_counts_what_it_would_reject,
    one_rule_in_shadow_while_the_others_enforce,
);

use std::time::Duration;

use support::{Backend, TestApp};

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
