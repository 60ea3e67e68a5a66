//! The operators' view, checked against a real Prometheus: it scrapes two replicas under a
//! short mixed load, the shipped Prometheus config passes `promtool check config`, and every
//! expression of the Grafana dashboard parses and returns data.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::prometheus::{Prometheus, binary};
use support::replica::Replica;
use support::{GROUP, SINGLE, SharedStore, single_body};

const DASHBOARD: &str = include_str!("../grafana/dashboards/floodgate.json");

/// The published metric names (README, "Admin listener"), and what Prometheus adds (`up`, the process collector).
const PUBLISHED_METRICS: [&str; 19] = [
    "floodgate_callbacks_total",
    "floodgate_rejections_total",
    "floodgate_decision_seconds",
    "floodgate_store_seconds",
    "floodgate_store_errors_total",
    "floodgate_degraded",
    "floodgate_blocks_total",
    "floodgate_tracked_senders",
    "floodgate_build_info",
    "floodgate_upstream_seconds",
    "floodgate_upstream_errors_total",
    "floodgate_keywords",
    "floodgate_reloads_total",
    "floodgate_connections",
    "floodgate_connections_shed_total",
    "floodgate_moderation_actions_total",
    "floodgate_reported_keys",
    "floodgate_replays_total",
    // Added beside the contract's list (README, "Where the contract needed a decision").
    "floodgate_moderation_records_dropped_total",
];

fn dashboard_expressions() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|panel| panel["type"] != "row")
        .flat_map(|panel| panel["targets"].as_array().unwrap().iter())
        .map(|target| target["expr"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_shipped_prometheus_config_passes_promtool() {
    let output = std::process::Command::new(binary("promtool"))
        .args(["check", "config", "deploy/prometheus/prometheus.yml"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_dashboard_is_valid_for_grafana_10_and_uses_only_contract_metrics() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    assert!(
        dashboard["schemaVersion"].as_u64().unwrap() >= 36,
        "Grafana 10+ schema"
    );
    assert_eq!(dashboard["uid"], "floodgate");
    let provisioning =
        std::fs::read_to_string("grafana/provisioning/datasources/prometheus.yml").unwrap();
    assert!(provisioning.contains("uid: prometheus"));
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["name"] == "instance"),
        "a replica variable"
    );
    let mut ids = std::collections::HashSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "unique panel ids"
        );
        if panel["type"] == "row" {
            continue; // a heading: no query
        }
        assert!(
            ["timeseries", "stat"].contains(&panel["type"].as_str().unwrap()),
            "{panel}"
        );
        assert_eq!(panel["datasource"]["uid"], "prometheus");
        assert!(panel["gridPos"]["w"].as_u64().unwrap() > 0);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "prometheus");
        }
    }
    for expr in dashboard_expressions() {
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("floodgate_") || w.starts_with("process_"))
        {
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum");
            assert!(
                PUBLISHED_METRICS.contains(&base) || base.starts_with("process_"),
                "{name} in {expr}"
            );
        }
        assert!(
            expr.contains("$instance"),
            "every panel follows the replica variable: {expr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_expression_returns_data_from_a_real_prometheus() {
    let store = SharedStore::start(support::Backend::Redis);
    let mut vars = store.vars();
    vars.extend([
        ("FLOODGATE_RATE_LIMITS".to_string(), "5/1m".to_string()),
        // Its bodies share one clientMsgID: without this, each would replay the first.
        ("FLOODGATE_REPLAY_WINDOW".to_string(), "off".to_string()),
        ("FLOODGATE_REPEAT_MODE".to_string(), "shadow".to_string()),
        ("FLOODGATE_REPEAT_LIMIT".to_string(), "1/10m".to_string()),
        ("FLOODGATE_STRIKES".to_string(), "3/10m".to_string()),
    ]);
    let replicas = [Replica::start(&vars), Replica::start(&vars)];
    let targets: Vec<String> = replicas
        .iter()
        .map(|r| r.admin.trim_start_matches("http://").to_string())
        .collect();
    let prometheus = Prometheus::start(&targets);
    let client = reqwest::Client::new();

    // A short mixed load over a few seconds, so rates have several scrapes to work with.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut round = 0;
    while Instant::now() < deadline {
        round += 1;
        for (i, replica) in replicas.iter().enumerate() {
            let single = format!("{}/openim/{SINGLE}", replica.webhook);
            let body = single_body(
                &format!("repeater{i}"),
                "friend",
                "the same words every time",
            );
            client.post(&single).json(&body).send().await.unwrap();
            let flood = single_body(&format!("flooder{i}"), "victim", &format!("flood {round}"));
            client.post(&single).json(&flood).send().await.unwrap();
            client.post(&single).body("not json").send().await.unwrap();
            let group = json!({"callbackCommand": GROUP, "sendID": format!("g{round}"), "groupID": "g", "content": "{\"content\":\"hello all\"}"});
            client
                .post(format!("{}/openim/{GROUP}", replica.webhook))
                .json(&group)
                .send()
                .await
                .unwrap();
            let friend = support::friend_request_body(&format!("adder{round}"), "u", "hi");
            client
                .post(format!("{}/openim/x", replica.webhook))
                .json(&friend)
                .send()
                .await
                .unwrap();
            let other = json!({"callbackCommand": "callbackAfterUserOnlineCommand", "userID": "u"});
            client
                .post(format!("{}/openim/x", replica.webhook))
                .json(&other)
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Both replicas scraped, with enough samples for rate().
    let scraped = Instant::now() + Duration::from_secs(30);
    while prometheus
        .query(&client, "count_over_time(up{job=\"floodgate\"}[1m]) >= 4")
        .await
        .len()
        < 2
    {
        assert!(
            Instant::now() < scraped,
            "prometheus did not scrape both replicas"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for expr in dashboard_expressions() {
        // What Grafana substitutes before it sends a query.
        let query = expr
            .replace("$__rate_interval", "30s")
            .replace("$__range", "5m")
            .replace("$instance", ".*");
        let result = prometheus.query(&client, &query).await;
        assert!(!result.is_empty(), "no data for {query}");
    }
    let shadow = prometheus
        .query(
            &client,
            "sum(floodgate_rejections_total{mode=\"shadow\",rule=\"repeat\"}) > 0",
        )
        .await;
    assert!(
        !shadow.is_empty(),
        "the shadow rule's would-be rejections reached Prometheus"
    );
}
