//! A rolling upgrade on one Redis: replicas of the previous release and of this build decide
//! alike while both run, and neither resets what the other counted. The previous release's
//! sender script (generated for `Policy::default()`, `tests/upgrade/previous_sender.lua`) and
//! this build's store take turns on one sender; a second sender sees the same messages from
//! this build alone. Every decision, and what the admin API shows at the end, must match.

mod support;

use std::sync::Arc;
use std::time::Duration;

use floodgate::config::{RedisConfig, Secret};
use floodgate::policy::{Policy, Rule};
use floodgate::store::{
    CopyKeys, Counted, Fingerprint, RecipientKey, RedisStore, SenderCheck, SenderKey,
    SenderOutcome, Store,
};
use support::redis::RedisServer;

const PREVIOUS: &str = include_str!("upgrade/previous_sender.lua");
const PREFIX: &str = "fg";

/// A decision as both sides can say it: admitted, or the errCode that rejected.
fn code(outcome: &SenderOutcome) -> i32 {
    match outcome {
        SenderOutcome::Admitted { .. } => 0,
        SenderOutcome::Rejected { violation, .. } => violation.rule.err_code(),
        SenderOutcome::Replayed(first) => code(first),
    }
}

/// One check by the previous release's script: its header's KEYS and ARGV, no conversation, no
/// campaign keys, no replay. Its reply starts with the verdict, then (rejected) the errCode.
fn previous_check(con: &mut redis::Connection, check: &SenderCheck) -> i32 {
    let sender = format!("{PREFIX}:{{s:{:032x}}}", check.sender.0);
    let bytes = |v: Option<u64>| v.map_or(Vec::new(), |v| v.to_be_bytes().to_vec());
    let reply: Vec<u8> = redis::cmd("EVAL")
        .arg(PREVIOUS)
        .arg(2)
        .arg(&sender)
        .arg(format!("{sender}:m"))
        .arg("check")
        .arg(check.now_ms)
        .arg(bytes(check.fingerprint.map(|f| f.0)))
        .arg(bytes(check.recipient.map(|r| r.0)))
        .arg(check.sender.0.to_be_bytes().to_vec())
        .arg(0)
        .arg(0)
        .arg(if check.counted.has(Rule::Mentions) {
            "1"
        } else {
            ""
        })
        .arg("")
        .arg("")
        .arg("")
        .arg("")
        .arg(0)
        .arg("")
        .arg(0)
        .arg("")
        .arg(0)
        .arg(0)
        .query(con)
        .expect("the previous script answers");
    let number = |i: usize| {
        let bytes: [u8; 8] = reply[i * 8..i * 8 + 8].try_into().expect("8 bytes");
        f64::from_be_bytes(bytes) as i64
    };
    match number(0) {
        0 => 0,
        1 => i32::try_from(number(1)).expect("an errCode"),
        other => panic!("verdict {other}"),
    }
}

#[tokio::test]
async fn the_previous_release_and_this_build_decide_alike_on_one_redis() {
    let redis = RedisServer::start();
    let config = RedisConfig {
        urls: vec![Secret::new(redis.url())],
        cluster: false,
    };
    let store = RedisStore::connect(
        &config,
        PREFIX,
        Arc::new(Policy::default()),
        Duration::from_secs(2),
    )
    .await
    .expect("connects");
    let store = Store::Redis(Arc::new(store));
    let mut con = redis::Client::open(redis.url())
        .expect("a url")
        .get_connection()
        .expect("connects");

    // Phases that reach each stored rule in turn, rejections striking until a block: one
    // content four times (repeat), AtAllTag four times (mentions), new recipients past the
    // fanout limit, then a burst past the first rate window.
    // (milliseconds since the last message, content, recipient, AtAllTag)
    let mut messages: Vec<(u64, u64, u64, bool)> = Vec::new();
    messages.extend((0..4).map(|_| (400, 1000, 0, false)));
    messages.extend((0..4).map(|i| (400, 2000 + i, 0, true)));
    messages.extend((0..30).map(|i| (400, 3000 + i, 1 + i, false)));
    messages.extend((0..40).map(|i| (10, 4000 + i, 0, false)));
    let mut now = 1_767_225_600_000u64;
    let (mixed, alone) = (SenderKey::of("mixed"), SenderKey::of("alone"));
    let mut decisions = (Vec::new(), Vec::new());
    for (i, &(after, content, to, at_all)) in messages.iter().enumerate() {
        now += after;
        let message = |sender| SenderCheck {
            sender,
            now_ms: now,
            fingerprint: Some(Fingerprint(content)),
            recipient: Some(RecipientKey(to)),
            counted: Counted::default().with(Rule::Mentions, at_all),
            conversation: None,
            replay: None,
        };
        let by_previous = i % 2 == 0;
        let mixed_code = if by_previous {
            previous_check(&mut con, &message(mixed))
        } else {
            code(
                &store
                    .check_message(&message(mixed), CopyKeys::NONE)
                    .await
                    .expect("answers"),
            )
        };
        decisions.0.push(mixed_code);
        let alone_code = code(
            &store
                .check_message(&message(alone), CopyKeys::NONE)
                .await
                .expect("answers"),
        );
        decisions.1.push(alone_code);
    }
    assert_eq!(decisions.0, decisions.1);
    // Every kind of decision happened: the test says something.
    for expected in [0, 5002, 5003, 5005, 5006, 5007] {
        assert!(
            decisions.1.contains(&expected),
            "{expected}: {:?}",
            decisions.1
        );
    }
    let status = |sender| store.status(sender, now);
    assert_eq!(
        status(mixed).await.expect("answers"),
        status(alone).await.expect("answers")
    );
}
