//! Measures the resident memory the embedded store and burst limiter hold per active sender:
//! `cargo run --release --example memory_per_sender [senders]`.

use std::time::Duration;

use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use floodgate::engine::{Chat, Engine, Message};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let senders: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let config = Config::for_tests();
    let clock = ManualClock::default();
    let (engine, memory) = Engine::embedded(&config, Clock::Manual(clock.clone()));
    let before = resident_bytes();
    for i in 0..senders {
        let send_id = format!("user-{i:08}");
        let recv_id = format!("friend-{}", i % 1000);
        // Three messages each: windows, a fingerprint for repeat, a recipient for fanout.
        for n in 0..3 {
            let content = format!("{{\"content\":\"message number {n} from {send_id}\"}}");
            let message = Message {
                recv_id: &recv_id,
                content_type: 101,
                content: &content,
                ..Message::new(Chat::Single, &send_id)
            };
            engine.decide(&message).await;
        }
        clock.advance(Duration::from_micros(10));
    }
    let after = resident_bytes();
    let per_sender = (after - before) as f64 / senders as f64;
    println!("senders: {senders}");
    println!("tracked by the store: {}", memory.tracked_senders());
    println!(
        "resident before: {} MiB, after: {} MiB",
        before >> 20,
        after >> 20
    );
    println!(
        "resident bytes per active sender (store + burst limiter + campaign sets): {per_sender:.0}"
    );
}
