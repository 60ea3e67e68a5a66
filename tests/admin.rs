//! The admin listener (README, "Admin listener"): health, readiness, metrics and the sender API.

mod support;

use serde_json::json;
use support::{SINGLE, TestApp};

#[tokio::test]
async fn health_and_readiness_answer_200_on_the_embedded_store() {
    let app = TestApp::with_vars(&[]).await;
    assert_eq!(app.admin_get("/healthz").await.0, 200);
    assert_eq!(app.admin_get("/readyz").await.0, 200);
}

#[tokio::test]
async fn metrics_export_every_closed_series_from_start_up() {
    let app = TestApp::with_vars(&[]).await;
    let text = app.metrics().await;
    for rule in [
        "burst",
        "rate",
        "repeat",
        "campaign",
        "fanout",
        "blocked",
        "mentions",
        "keyword",
        "link",
        "upstream",
        "unavailable",
    ] {
        for mode in ["enforce", "shadow"] {
            let series = format!("floodgate_rejections_total{{mode=\"{mode}\",rule=\"{rule}\"}} 0");
            assert!(text.contains(&series), "missing {series}");
        }
    }
    for command in [SINGLE, support::GROUP] {
        for verdict in ["allow", "reject", "shadow_reject", "invalid"] {
            let series = format!(
                "floodgate_callbacks_total{{command=\"{command}\",verdict=\"{verdict}\"}} 0"
            );
            assert!(text.contains(&series), "missing {series}");
        }
    }
    for name in [
        "floodgate_degraded 0",
        "floodgate_blocks_total 0",
        "floodgate_tracked_senders",
        "floodgate_build_info{version=",
        "floodgate_decision_seconds_bucket",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
}

#[tokio::test]
async fn tracked_senders_is_the_state_at_the_scrape_not_at_the_last_housekeeping() {
    let app = TestApp::with_vars(&[("FLOODGATE_BURST", "10/1s")]).await;
    for sender in ["alice", "bob", "carol"] {
        assert!(app.single(sender, "dave", "hello").await.is_allow());
    }
    assert_eq!(app.metric("floodgate_tracked_senders").await, 3.0);
}

#[tokio::test]
async fn decisions_are_counted_by_command_and_verdict() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "1/1m")]).await;
    app.single("alice", "bob", "one").await;
    app.single("alice", "bob", "two").await;
    let series = |verdict: &str| {
        format!("floodgate_callbacks_total{{command=\"{SINGLE}\",verdict=\"{verdict}\"}}")
    };
    assert_eq!(app.metric(&series("allow")).await, 1.0);
    assert_eq!(app.metric(&series("reject")).await, 1.0);
    assert_eq!(
        app.metric("floodgate_rejections_total{mode=\"enforce\",rule=\"rate\"}")
            .await,
        1.0
    );
    assert_eq!(
        app.metric(&format!(
            "floodgate_decision_seconds_count{{command=\"{SINGLE}\"}}"
        ))
        .await,
        2.0
    );
    let text = app.metrics().await;
    assert!(!text.contains("alice"), "no label ever holds a user ID");
}

#[tokio::test]
async fn a_sender_never_seen_gets_zeros() {
    let app = TestApp::with_vars(&[("FLOODGATE_RATE_LIMITS", "30/10s,120/1m")]).await;
    let status = app.sender("nobody%2Fwith%20odd%7Bchars%7D").await;
    assert_eq!(
        status,
        json!({
            "sendID": "nobody/with odd{chars}",
            "windows": [{"limit": 30, "window": "10s", "count": 0}, {"limit": 120, "window": "1m", "count": 0}],
            "friendRequests": [{"limit": 10, "window": "1h", "count": 0}, {"limit": 30, "window": "1d", "count": 0}],
            "groupsCreated": [{"limit": 5, "window": "1h", "count": 0}, {"limit": 20, "window": "1d", "count": 0}],
            "groupApplications": [{"limit": 10, "window": "1h", "count": 0}, {"limit": 50, "window": "1d", "count": 0}],
            "groupMembers": [{"limit": 500, "window": "1h", "count": 0}, {"limit": 2000, "window": "1d", "count": 0}],
            "strikes": 0,
            "blockedForSeconds": 0,
            "blocks": 0,
            "establishedContacts": 0,
            "establishedGroups": 0
        })
    );
    assert_eq!(
        app.unblock("nobody").await,
        json!({"sendID": "nobody", "unblocked": false})
    );
}

#[tokio::test]
async fn the_admin_api_requires_the_admin_token_when_set() {
    let app = TestApp::with_vars(&[("FLOODGATE_ADMIN_TOKEN", "adm1n-token")]).await;
    assert_eq!(app.admin_get("/v1/senders/alice").await.0, 401);
    let response = app
        .client
        .delete(format!("{}/v1/senders/alice/block", app.admin))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .get(format!("{}/v1/senders/alice", app.admin))
        .bearer_auth("adm1n-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for open in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(app.admin_get(open).await.0, 200, "{open} stays open");
    }
}
