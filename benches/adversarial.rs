//! Texts built to be slow against prose of the same size (BENCHMARKS.md, "Linear time on any
//! text"): 200 KB of one repeated marker per extractor, or of one long token, through every
//! pass the engine makes over a text (`engine::content::every_pass`, without the
//! `FLOODGATE_MAX_TEXT` cut, so the passes themselves are measured), and a few of them through
//! a whole decision (with the cut). Compare each with `prose` of the same group and run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use floodgate::engine::content::every_pass;
use floodgate::engine::keywords::KeywordList;
use floodgate::engine::{Chat, Engine, Message};

#[path = "../tests/adversarial/mod.rs"]
mod adversarial;
use adversarial::{repeated, rules};

const SIZE: usize = 200 * 1024;

/// Prose, then one text per marker or long token, each `SIZE` bytes.
fn texts() -> Vec<(&'static str, String)> {
    let prose = repeated(
        "The quick brown fox jumps over the lazy dog near 42 river banks, then rests. ",
        SIZE,
    );
    let mut texts = vec![("prose", prose)];
    let markers: &[(&str, &str)] = &[
        ("tg.", "tg."),
        ("tg-", "tg-"),
        ("fullwidth tg.", "ｔｇ．"),
        ("http://", "http://"),
        ("https://a.b/", "https://a.b/"),
        ("@", "@"),
        ("@a", "@a"),
        ("微信", "微信"),
        ("wx:", "wx:"),
        ("dots", "."),
        ("digits", "1"),
        ("+1", "+1"),
        ("a@b.", "a@b."),
        ("a.a:", "a.a:"),
        ("中.中:", "中.中:"),
        ("keyword-ish f r e e", "f r e e "),
        ("keyword-ish free", "free "),
        ("emoji", "😀👍🏽"),
        ("combining marks", "a\u{301}\u{316}"),
        ("one run of marks", "\u{301}\u{316}"),
        ("mixed markers", "tg.http://a@b.1 微信:"),
    ];
    for &(name, unit) in markers {
        texts.push((name, repeated(unit, SIZE)));
    }
    let long = |before: &str, unit: &str, after: &str| {
        let middle = repeated(unit, SIZE - before.len() - after.len());
        format!("{before}{middle}{after}")
    };
    texts.push(("one long label", long("", "中", ".com")));
    texts.push(("one long user", long("http://", "a", "@evil.example/")));
    texts
}

/// Every pass over the whole 200 KB.
fn passes(c: &mut Criterion) {
    let (rules, allow) = rules();
    let mut group = c.benchmark_group("adversarial_200KB_every_pass");
    group.sample_size(20);
    for (name, text) in texts() {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(every_pass(
                    101,
                    black_box(&text),
                    usize::MAX,
                    &rules,
                    &allow,
                ))
            })
        });
    }
    group.finish();
}

/// A whole decision on the embedded store, the defaults plus a keyword list (no entry in these
/// texts, so none is cut short by a violation) and a denied domain: the text as OpenIM sends it, judged up to `FLOODGATE_MAX_TEXT`.
fn decision(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = Config::from_vars([("FLOODGATE_LINK_DENY", "evil.example")]).unwrap();
    let clock = ManualClock::default();
    let (engine, _) = Engine::embedded(&config, Clock::Manual(clock.clone()));
    engine
        .content_rules()
        .replace_keywords(KeywordList::parse("free money\ncasino 2024\n").unwrap());
    let mut group = c.benchmark_group("adversarial_200KB_decision");
    group.sample_size(20);
    let chosen = ["prose", "tg.", "a.a:", "@a", "mixed markers"];
    for (name, text) in texts().into_iter().filter(|(n, _)| chosen.contains(n)) {
        let content = serde_json::json!({ "content": text }).to_string();
        // A new sender nearly every time: no window or block ends the decision early.
        let senders: Vec<String> = (0..100_000).map(|i| format!("sender{i}")).collect();
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % senders.len();
                clock.advance(std::time::Duration::from_millis(1));
                let message = Message {
                    group_id: "g",
                    content_type: 101,
                    content: &content,
                    ..Message::new(Chat::Group, &senders[i])
                };
                black_box(runtime.block_on(engine.decide(&message)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, passes, decision);
criterion_main!(benches);
