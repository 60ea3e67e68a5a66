//! Hot-path benchmarks: fingerprinting per script and length, the burst check, and a whole
//! decision on the embedded store. Compare runs by ratio; this machine's timings are noisy.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use floodgate::engine::burst::BurstLimiter;
use floodgate::engine::folded::Folded;
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
                    judged.and_then(|t| fingerprint::fingerprint(&Folded::of(&t), 10))
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

/// What the embedded-engine benchmarks share: a single-threaded runtime to await decisions on,
/// the test configuration and 10,000 senders to cycle through.
fn embedded_setup() -> (tokio::runtime::Runtime, Config, Vec<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let senders = (0..10_000).map(|i| format!("user{i}")).collect();
    (runtime, Config::for_tests(), senders)
}

fn decision(c: &mut Criterion) {
    let (runtime, config, senders) = embedded_setup();
    let content = serde_json::json!({ "content": text("mixed", 100) }).to_string();
    let list = floodgate::engine::keywords::KeywordList::parse(&keyword_list(100_000)).unwrap();
    // One clock for both engines, so each sees the same traffic over the same time.
    let clock = ManualClock::default();
    let (plain, _) = Engine::embedded(&config, Clock::Manual(clock.clone()));
    let (with_list, _) = Engine::embedded(&config, Clock::Manual(clock.clone()));
    with_list.content_rules().replace_keywords(list);
    for (name, engine) in [("", &plain), ("_100k_keywords", &with_list)] {
        let mut i = 0;
        c.bench_function(&format!("decision_embedded_100_chars{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % senders.len();
                clock.advance(std::time::Duration::from_millis(1));
                let message = Message {
                    recv_id: "bob",
                    content_type: 101,
                    content: &content,
                    ..Message::new(Chat::Single, &senders[i])
                };
                black_box(runtime.block_on(engine.decide(&message)))
            })
        });
    }
}

/// A friend request (its windows, its text's payload keys) on an embedded engine set up like
/// the message decision's: what judging the non-message callbacks costs per call, to compare
/// with `decision_embedded_100_chars` of the same run.
fn act(c: &mut Criterion) {
    use floodgate::engine::{ActKind, ActRequest};
    use std::borrow::Cow;
    let (runtime, config, senders) = embedded_setup();
    let clock = ManualClock::default();
    let (engine, _) = Engine::embedded(&config, Clock::Manual(clock.clone()));
    for (name, text) in [
        ("short", "Hi, I'm Anna from the book club"),
        (
            "payload",
            "Hi! add me on WhatsApp +1 555 010 4242 or see example.com/deal",
        ),
    ] {
        let mut i = 0;
        c.bench_function(&format!("act_embedded_friend_request_{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % senders.len();
                clock.advance(std::time::Duration::from_millis(1));
                let request = ActRequest {
                    kind: ActKind::FriendRequest,
                    actor: Cow::Borrowed(&senders[i]),
                    group_id: Cow::Borrowed(""),
                    invitees: 0,
                    request_text: Cow::Borrowed(text),
                    texts: Vec::new(),
                };
                black_box(runtime.block_on(engine.judge_act(&request)))
            })
        });
    }
    // A creation alone, and with 20 initial members weighed in the owner's members windows:
    // each by a new owner (admitted, as most creations are), on an engine of its own.
    for members in [0u64, 20] {
        let (engine, _) = Engine::embedded(&config, Clock::Manual(clock.clone()));
        let mut i = 0u64;
        c.bench_function(
            &format!("act_embedded_create_group_{members}_members"),
            |b| {
                b.iter(|| {
                    i += 1;
                    clock.advance(std::time::Duration::from_millis(1));
                    let request = ActRequest {
                        kind: ActKind::CreateGroup,
                        actor: Cow::Owned(format!("owner{i}")),
                        group_id: Cow::Borrowed(""),
                        invitees: members,
                        request_text: Cow::Borrowed(""),
                        texts: vec![Cow::Borrowed("Hiking club")],
                    };
                    black_box(runtime.block_on(engine.judge_act(&request)))
                })
            },
        );
    }
}

/// What the moderators' records cost a decision (README, "Moderation"), on an engine that
/// records — its writer task on the same thread, so its work is in the time — and one that
/// does not, in the same run: cold messages each carrying a payload of its own (every one
/// recorded as its keys' senders), and one link from every sender (most rejected by the
/// campaign rule: a rejection and the senders recorded).
fn moderation(c: &mut Criterion) {
    let (runtime, config, senders) = embedded_setup();
    let distinct: Vec<String> = (0..senders.len())
        .map(|i| {
            let text = format!("Great offer for you today only, see shop{i}.xyz/deal now");
            serde_json::json!({ "content": text }).to_string()
        })
        .collect();
    let one_link =
        serde_json::json!({ "content": "Great offer for you today only, see shop.xyz/deal now" })
            .to_string();
    for recording in [false, true] {
        let clock = ManualClock::default();
        let (engine, _) =
            Engine::embedded_recording(&config, Clock::Manual(clock.clone()), recording);
        let engine = std::sync::Arc::new(engine);
        let writer = engine.clone();
        runtime.spawn(async move { writer.write_records().await });
        let name = if recording {
            "recording"
        } else {
            "not_recording"
        };
        for (case, one) in [("distinct_payloads", None), ("one_link", Some(&one_link))] {
            let mut i = 0;
            c.bench_function(&format!("moderation_{case}_{name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % senders.len();
                    clock.advance(std::time::Duration::from_millis(1));
                    let message = Message {
                        recv_id: "bob",
                        content_type: 101,
                        content: one.unwrap_or(&distinct[i]),
                        ..Message::new(Chat::Single, &senders[i])
                    };
                    black_box(runtime.block_on(engine.decide(&message)))
                })
            });
        }
    }
}

/// A list of `n` entries of the shape operators keep: single words and short phrases, Latin and
/// Chinese, none of which the benchmark's text contains.
fn keyword_list(n: usize) -> String {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("spamword{i}"),
            1 => format!("cheap pills {i}"),
            2 => format!("优惠券{i}"),
            _ => format!("free money offer {i}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The keyword list's price: loading 100,000 entries, and what a list of that size adds to
/// matching one 100-character message (against the same search with an empty list).
fn keywords(c: &mut Criterion) {
    use floodgate::engine::keywords::KeywordList;
    let file = keyword_list(100_000);
    let mut group = c.benchmark_group("keywords");
    group.sample_size(10);
    group.bench_function("load_100k_entries", |b| {
        b.iter(|| black_box(KeywordList::parse(&file).unwrap().len()))
    });
    group.finish();
    let list = KeywordList::parse(&file).unwrap();
    let one = KeywordList::parse("spamword").unwrap();
    for kind in ["ascii", "mixed", "chinese"] {
        let message = text(kind, 100);
        c.bench_function(&format!("keywords_find_100_chars_{kind}_1_entry"), |b| {
            b.iter(|| black_box(one.find(&Folded::of(&message)).is_some()))
        });
        c.bench_function(
            &format!("keywords_find_100_chars_{kind}_100k_entries"),
            |b| b.iter(|| black_box(list.find(&Folded::of(&message)).is_some())),
        );
    }
}

/// The campaign keys' price beside the fingerprint each message already pays for (same run):
/// a short reply, a long chat message, a long pitch with a link and a phone number, Chinese.
fn campaign_keys(c: &mut Criterion) {
    use floodgate::engine::campaign_keys::{Audience, campaign_keys};
    use floodgate::engine::links::DomainList;
    let allow = DomainList::default();
    let mut group = c.benchmark_group("campaign_keys");
    for (name, message) in [
        ("short", "thanks, see you at 5!".to_string()),
        ("chat_100", text("ascii", 100)),
        (
            "pitch_100",
            "Congratulations! Claim your free prize at bit.ly/Xy12 or call +1 555 010 9999 today"
                .to_string(),
        ),
        ("chinese_50", text("chinese", 50)),
    ] {
        group.bench_with_input(BenchmarkId::new("fingerprint", name), &message, |b, m| {
            b.iter(|| fingerprint::fingerprint(&Folded::of(black_box(m)), 10))
        });
        group.bench_with_input(
            BenchmarkId::new("fingerprint_and_keys", name),
            &message,
            |b, m| {
                b.iter(|| {
                    let normalised = fingerprint::normalise_folded(&Folded::of(black_box(m)));
                    let keys = campaign_keys(m, &normalised, &allow, Audience::OneToOne);
                    (fingerprint::of_normalised(&normalised, 10), keys)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    fingerprints,
    burst,
    decision,
    act,
    moderation,
    keywords,
    campaign_keys
);
criterion_main!(benches);
