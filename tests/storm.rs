//! A storm of distinct senders: 1,000,000 of them through the embedded store (the state a
//! fail-open replica keeps, and the default store). The replica's own state is capped by
//! `FLOODGATE_LOCAL_MAX_SENDERS`, so resident memory stays bounded however many IDs arrive.
//! Alone in its binary, so the resident-memory figures are this test's own.

use std::time::Duration;

use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use floodgate::engine::{Chat, Engine, Message};

const SENDERS: usize = 1_000_000;
const CAP: &str = "50000";
/// Generous for 50,000 senders and 50,000 fingerprints (about 1.5 KiB and 0.2 KiB each,
/// `examples/memory_per_sender.rs`), far below what a million would take (over 1 GiB).
const RESIDENT_BUDGET_MIB: u64 = 256;

fn resident_mib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("linux");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    (pages * 4096) >> 20
}

#[tokio::test]
async fn a_million_distinct_senders_stay_within_the_memory_cap() {
    let config = Config::from_vars([("FLOODGATE_LOCAL_MAX_SENDERS", CAP)]).unwrap();
    let clock = ManualClock::default();
    let (engine, memory) = Engine::embedded(&config, Clock::Manual(clock.clone()));
    let before = resident_mib();
    let mut peak = before;
    for i in 0..SENDERS {
        let send_id = format!("storm-{i:07}");
        let content = format!("{{\"content\":\"spam wave number {i} join now\"}}");
        let message = Message {
            recv_id: "victim",
            content_type: 101,
            content: &content,
            ..Message::new(Chat::Single, &send_id)
        };
        let decision = engine.decide(&message).await;
        assert_eq!(
            decision.verdict,
            floodgate::engine::Verdict::Allow,
            "sender {i}"
        );
        if i % 100_000 == 0 {
            peak = peak.max(resident_mib());
            clock.advance(Duration::from_millis(1));
        }
    }
    peak = peak.max(resident_mib());
    let cap: usize = CAP.parse().unwrap();
    println!(
        "storm: {SENDERS} senders, store holds {}, burst limiter holds {}; resident {before} MiB before, peak {peak} MiB",
        memory.tracked_senders(),
        engine.forget_idle()
    );
    assert!(
        memory.tracked_senders() <= cap + 64,
        "{}",
        memory.tracked_senders()
    );
    assert!(
        peak - before < RESIDENT_BUDGET_MIB,
        "grew by {} MiB",
        peak - before
    );
}
