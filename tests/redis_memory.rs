//! Redis memory per active sender and per fingerprint, measured with `INFO memory` before and
//! after N of them on a real server (run with `--nocapture` to see the figures). The budget:
//! at most 4 KiB per fully active sender at the default limits.

mod support;

use std::sync::Arc;
use std::time::Duration;

use floodgate::config::{RedisConfig, Secret};
use floodgate::policy::Policy;
use floodgate::store::{
    CampaignCheck, Fingerprint, RecipientKey, RedisStore, SenderCheck, SenderKey, SenderOutcome,
};
use support::redis::RedisServer;

const SENDERS: u64 = 2000;

fn used_memory(redis: &RedisServer) -> i64 {
    let info = redis.cli(&["INFO", "memory"]);
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

async fn store(redis: &RedisServer) -> RedisStore {
    let config = RedisConfig {
        urls: vec![Secret::new(redis.url())],
        cluster: false,
    };
    RedisStore::connect(
        &config,
        "fg",
        Arc::new(Policy::default()),
        Duration::from_secs(2),
    )
    .await
    .expect("connects")
}

#[tokio::test]
async fn a_fully_active_sender_costs_at_most_4_kib_of_redis() {
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let now = 1_767_225_600_000u64;
    let before = used_memory(&redis);
    for s in 0..SENDERS {
        let sender = SenderKey::of(&format!("sender-{s}"));
        // At the default limits: 30 messages in 10 s (the first window full), each with its own
        // text and recipient (the fanout limit full), then 4 rejected ones (4 strikes, no block).
        for m in 0..34u64 {
            let check = SenderCheck {
                sender,
                now_ms: now + m * 250,
                fingerprint: Some(Fingerprint(s * 1000 + m)),
                recipient: Some(RecipientKey(m)),
                at_all: false,
            };
            let outcome = store
                .check_message(&check, None)
                .await
                .expect("store answers");
            assert_eq!(
                matches!(outcome, SenderOutcome::Admitted { .. }),
                m < 30,
                "message {m}: {outcome:?}"
            );
        }
    }
    let per_sender = (used_memory(&redis) - before) as f64 / SENDERS as f64;
    println!(
        "redis bytes per fully active sender (30 texts, 30 recipients, 4 strikes): {per_sender:.0}"
    );
    assert!(per_sender <= 4096.0, "{per_sender} bytes per sender");

    let quiet_before = used_memory(&redis);
    for s in 0..SENDERS {
        let check = SenderCheck {
            sender: SenderKey::of(&format!("quiet-{s}")),
            now_ms: now,
            fingerprint: Some(Fingerprint(s)),
            recipient: Some(RecipientKey(1)),
            at_all: false,
        };
        store
            .check_message(&check, None)
            .await
            .expect("store answers");
    }
    let per_quiet = (used_memory(&redis) - quiet_before) as f64 / SENDERS as f64;
    println!("redis bytes per sender after one message: {per_quiet:.0}");
    // Measured at about 0.45 KiB: one small hash (a ring per window, the fanout entries).
    assert!(per_quiet <= 1024.0, "{per_quiet} bytes per quiet sender");
}

#[tokio::test]
async fn campaign_state_per_fingerprint_is_small() {
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let now = 1_767_225_600_000u64;
    for senders in [1u64, 5] {
        let before = used_memory(&redis);
        for f in 0..SENDERS {
            for s in 0..senders {
                let check = CampaignCheck {
                    fingerprint: Fingerprint(senders * 1_000_000 + f),
                    sender: SenderKey(u128::from(s)),
                    now_ms: now,
                };
                store.check_campaign(&check).await.expect("store answers");
            }
        }
        let per_fingerprint = (used_memory(&redis) - before) as f64 / SENDERS as f64;
        println!("redis bytes per fingerprint sent by {senders} sender(s): {per_fingerprint:.0}");
        assert!(per_fingerprint < 1024.0, "{per_fingerprint}");
    }
}
