//! Hot-path benchmarks: fingerprinting per script and length, the burst check, and a whole
//! decision on the embedded store. Compare runs by ratio; this machine's timings are noisy.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use floodgate::engine::burst::BurstLimiter;
use floodgate::engine::{Chat, Engine, Message, content, fingerprint};
use floodgate::policy::Limit;
use floodgate::store::SenderKey;

fn text(kind: &str, chars: usize) -> String {
    let pattern = match kind {
        "ascii" => "Buy cheap followers now, visit our shop today! ",
        "mixed" => "Bυy chеap fоllowers now, vіsit our shop todаy! ",
        _ => "加我微信领红包，限时优惠，点击链接立即参与活动。",
    };
    pattern.chars().cycle().take(chars).collect()
}

/// A straightforward normalisation, for scale: each step its own pass and its own String
/// (NFKC, NFD without marks, lowercase, letters and digits, collapse), then the same hash.
fn straightforward(text: &str) -> u64 {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    let nfkc: String = text.nfkc().collect();
    let unmarked: String = nfkc.nfd().filter(|c| !is_combining_mark(*c)).collect();
    let lower = unmarked.to_lowercase();
    let mut kept: Vec<char> = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    kept.dedup();
    let kept: String = kept.into_iter().collect();
    xxhash_rust::xxh3::xxh3_64(kept.as_bytes())
}

fn fingerprints(c: &mut Criterion) {
    let mut group = c.benchmark_group("fingerprint");
    for kind in ["ascii", "mixed", "chinese"] {
        for chars in [10, 100, 500] {
            let message = text(kind, chars);
            let content = serde_json::json!({ "content": message }).to_string();
            group.bench_with_input(BenchmarkId::new(kind, chars), &content, |b, content| {
                b.iter(|| {
                    let judged = content::judged_text(101, black_box(content));
                    judged.and_then(|t| fingerprint::fingerprint(&t, 10))
                })
            });
        }
    }
    for kind in ["mixed", "chinese"] {
        let message = text(kind, 100);
        group.bench_with_input(
            BenchmarkId::new(format!("straightforward_{kind}"), 100),
            &message,
            |b, m| b.iter(|| straightforward(black_box(m))),
        );
    }
    group.finish();
}

fn burst(c: &mut Criterion) {
    let limit = Limit::new(u32::MAX, std::time::Duration::from_secs(1)).unwrap();
    let limiter = BurstLimiter::new(limit, Clock::System, 1_000_000);
    let senders: Vec<SenderKey> = (0..10_000)
        .map(|i| SenderKey::of(&format!("user{i}")))
        .collect();
    let mut i = 0;
    c.bench_function("burst_check", |b| {
        b.iter(|| {
            i = (i + 1) % senders.len();
            black_box(limiter.check(senders[i]).is_ok())
        })
    });
}

fn decision(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let config = Config::for_tests();
    let clock = ManualClock::default();
    let (engine, _) = Engine::embedded(&config, Clock::Manual(clock.clone()));
    let senders: Vec<String> = (0..10_000).map(|i| format!("user{i}")).collect();
    let content = serde_json::json!({ "content": text("mixed", 100) }).to_string();
    let mut i = 0;
    c.bench_function("decision_embedded_100_chars", |b| {
        b.iter(|| {
            i = (i + 1) % senders.len();
            clock.advance(std::time::Duration::from_millis(1));
            let message = Message {
                chat: Chat::Single,
                send_id: &senders[i],
                recv_id: "bob",
                at_all: false,
                content_type: 101,
                content: &content,
                mentions: 0,
            };
            black_box(runtime.block_on(engine.decide(&message)))
        })
    });
}

criterion_group!(benches, fingerprints, burst, decision);
criterion_main!(benches);
