//! The Lua scripts against the embedded store: the same pseudo-random traffic, on the same
//! manual clock, must get the same reply — code, limit and retry time — from every backend.
//! The rule tests pin each rule at its threshold; this catches the arithmetic drifting apart
//! anywhere else (bucket edges, retry times, releases, strikes and blocks interleaving).

mod support;

use std::time::Duration;

use support::{Backend, TestApp};

/// Small limits, so that a few hundred messages cross every rule many times.
const VARS: &[(&str, &str)] = &[
    ("FLOODGATE_RATE_LIMITS", "6/2s,15/10s"),
    ("FLOODGATE_REPEAT_LIMIT", "2/5s"),
    ("FLOODGATE_REPEAT_MIN_CHARS", "4"),
    ("FLOODGATE_CAMPAIGN_LIMIT", "3/8s"),
    ("FLOODGATE_FANOUT_LIMIT", "5/6s"),
    ("FLOODGATE_MENTION_LIMIT", "2"),
    ("FLOODGATE_STRIKES", "4/20s"),
    ("FLOODGATE_BLOCK_FOR", "3s"),
    ("FLOODGATE_BLOCK_MAX", "12s"),
];

/// xorshift64: the same sequence on every run and every backend.
struct Sequence(u64);

impl Sequence {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const TEXTS: &[&str] = &[
    "buy cheap followers now",
    "free crypto giveaway here",
    "see you at the meeting",
    "明天下午三点开会",
    "hello there friend",
    "ok",
];

/// Every reply of one backend to the traffic of `seed`, as comparable text.
async fn replies(backend: Backend, seed: u64) -> Vec<String> {
    let app = TestApp::on(backend, VARS).await;
    let mut sequence = Sequence(seed);
    let mut replies = Vec::new();
    for _ in 0..400 {
        app.advance(Duration::from_millis(sequence.below(400)));
        let from = format!("sender{}", sequence.below(5));
        let text = TEXTS[sequence.below(TEXTS.len() as u64) as usize];
        let reply = if sequence.below(8) == 0 {
            let mentions = ["a", "b", "c"];
            let n = sequence.below(4) as usize;
            app.group(&from, "g1", text, &mentions[..n]).await
        } else {
            let to = format!("user{}", sequence.below(12));
            app.single(&from, &to, text).await
        };
        replies.push(format!("{} {}", reply.err_code(), reply.detail()));
    }
    app.assert_store_healthy().await;
    replies
}

async fn compare(other: Backend) {
    for seed in [0x9e37_79b9_7f4a_7c15, 0xdead_beef_cafe_f00d] {
        let expected = replies(Backend::Memory, seed).await;
        let rejected = expected.iter().filter(|r| !r.starts_with("0 ")).count();
        assert!(
            rejected > 40 && rejected < 360,
            "the traffic should cross the rules often, not always: {rejected} of 400 rejected"
        );
        let got = replies(other, seed).await;
        for (i, (want, got)) in expected.iter().zip(&got).enumerate() {
            assert_eq!(want, got, "message {i} of seed {seed:#x}");
        }
    }
}

#[tokio::test]
async fn redis_decides_exactly_like_the_embedded_store() {
    compare(Backend::Redis).await;
}

#[tokio::test]
async fn a_redis_cluster_decides_exactly_like_the_embedded_store() {
    compare(Backend::Cluster).await;
}
