//! The detection evaluation (`scripts/detection-eval` runs it on every store): generated traffic
//! of people who talk to each other, mixed with spam runs of every evasion the campaign keys
//! are meant to survive, decided by the real engine at the default settings on a manual clock.
//!
//! `detection_eval [memory | redis URL | cluster URL,URL,...]` prints one JSON object: per rule,
//! the legitimate messages it rejected; per spam run, its copies and how many were rejected from
//! the run's 10th distinct sender on; and the number of messages checked (for Redis CPU per
//! message, which the script reads from `INFO commandstats`).
//!
//! The people: `USERS` users in communities of friends (each with a few to a few dozen friends,
//! how active each friendship is skewed), `GROUPS` groups. Each simulated day friends chat (short
//! common phrases with a Zipf skew, longer sentences, links and numbers they share), groups chat,
//! marketplace buyers ask strangers "is this still available?", and on the last day a New Year
//! wave greets friends and groups within minutes, and a popular article is shared by hundreds.
//! The spam: fresh accounts writing to strangers, `BOTS_PER_RUN` bots × `COPIES_PER_BOT` each,
//! within ten minutes, one run per evasion.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use floodgate::engine::{Chat, Engine, EngineSettings, Message, Verdict};
use floodgate::metrics::Metrics;
use floodgate::store::{RedisStore, Store};

mod legit;
mod rng;
mod spam;

use rng::Rng;

const USERS: usize = 3000;
const COMMUNITY: usize = 150;
const GROUPS: usize = 80;
const DAYS: u64 = 8;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Who sends what: a legitimate message (and what kind of traffic it is), or a spam copy.
#[derive(Clone, Debug)]
enum Origin {
    Legit(&'static str),
    Spam { run: usize, bot: usize },
}

#[derive(Clone, Debug)]
struct Event {
    at: u64,
    origin: Origin,
    chat: Chat,
    from: String,
    to: String,
    text: String,
}

fn user(i: usize) -> String {
    format!("u{i}")
}

async fn engine(args: &[String], clock: &ManualClock) -> Engine {
    let mut vars = vec![
        ("FLOODGATE_FAIL_MODE".to_string(), "closed".to_string()),
        ("FLOODGATE_REDIS_TIMEOUT".to_string(), "5s".to_string()),
        (
            "FLOODGATE_KEY_PREFIX".to_string(),
            format!("eval{}", std::process::id()),
        ),
    ];
    match args.first().map(String::as_str) {
        Some("redis") => vars.push(("FLOODGATE_REDIS_URL".into(), args[1].clone())),
        Some("cluster") => {
            vars.push(("FLOODGATE_REDIS_URL".into(), args[1].clone()));
            vars.push(("FLOODGATE_REDIS_CLUSTER".into(), "true".into()));
        }
        _ => {}
    }
    let config = Config::from_vars(vars).expect("the evaluation's configuration is valid");
    let clock = Clock::Manual(clock.clone());
    let Some(redis) = &config.redis else {
        return Engine::embedded(&config, clock).0;
    };
    let policy = Arc::new(config.policy.clone());
    let store = RedisStore::connect(
        redis,
        &config.key_prefix,
        policy.clone(),
        config.redis_timeout,
    )
    .await
    .expect("Redis answers");
    let settings = EngineSettings::from(&config);
    Engine::new(
        &settings,
        policy,
        Store::Redis(Arc::new(store)),
        None,
        clock,
        Metrics::new(&[], &["redis"]),
    )
}

/// Every message of the evaluation, in time order, and the spam runs they come from.
fn traffic() -> (Vec<Event>, Vec<spam::SpamRun>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let world = legit::world(&mut rng);
    let mut events = legit::legit_traffic(&mut rng, &world);
    events.extend(legit::stress_traffic(&mut rng, &world));
    let runs = spam::spam_runs(&mut rng);
    events.extend(spam::spam_traffic(&mut rng, &runs));
    events.sort_by_key(|e| e.at);
    (events, runs)
}

/// `detection_eval samples`: a few texts of every spam run and legitimate kind, to read what
/// the evaluation sends.
fn print_samples(events: &[Event], runs: &[spam::SpamRun]) {
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    for event in events {
        let what = match event.origin {
            Origin::Legit(kind) => kind.to_string(),
            Origin::Spam { run, .. } => format!("{}: {}", runs[run].family, runs[run].strength),
        };
        let count = shown.entry(what.clone()).or_default();
        if *count < 4 {
            *count += 1;
            println!("{what} | {:?}", event.text);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (events, runs) = traffic();
    if args.first().map(String::as_str) == Some("samples") {
        print_samples(&events, &runs);
        return;
    }

    let clock = ManualClock::default();
    let start = clock.now_ms();
    let engine = engine(&args, &clock).await;
    let mut legit = 0u64;
    let mut decisions = 0xcbf2_9ce4_8422_2325u64;
    // The first day starts with every memory empty (as a new deployment does): counted apart.
    let mut legit_first_day = 0u64;
    let mut rejected_first_day: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rejected_first_day_by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut legit_by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rejected_by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rejected_by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut missed: Vec<Vec<String>> = vec![Vec::new(); runs.len()];
    // Per run: copies from the 10th distinct sender on, and how many of them were rejected.
    let mut late = vec![(0u64, 0u64); runs.len()];
    let mut all = vec![(0u64, 0u64); runs.len()];
    for event in &events {
        let now = clock.now_ms() - start;
        clock.advance(Duration::from_millis(event.at.saturating_sub(now)));
        let content = serde_json::json!({ "content": event.text }).to_string();
        let (recv_id, group_id) = match event.chat {
            Chat::Single => (event.to.as_str(), ""),
            Chat::Group => ("", event.to.as_str()),
        };
        let message = Message {
            chat: event.chat,
            send_id: &event.from,
            recv_id,
            group_id,
            content_type: 101,
            content: &content,
            ..Message::new(event.chat, &event.from)
        };
        let decision = engine.decide(&message).await;
        let rejected = match &decision.verdict {
            Verdict::Allow => None,
            Verdict::Reject(violation) => Some(violation.rule.name()),
        };
        // Every decision, in order, folded into one number: stores that agree on it agreed
        // message for message (FNV-1a).
        for byte in rejected.unwrap_or("allow").bytes().chain([0]) {
            decisions = (decisions ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        match event.origin {
            Origin::Legit(kind) if event.at < DAY => {
                legit_first_day += 1;
                if let Some(rule) = rejected {
                    *rejected_first_day.entry(rule).or_default() += 1;
                    *rejected_first_day_by_kind
                        .entry(format!("{kind}: {rule}"))
                        .or_default() += 1;
                }
            }
            Origin::Legit(kind) => {
                legit += 1;
                *legit_by_kind.entry(kind).or_default() += 1;
                if let Some(rule) = rejected {
                    *rejected_by_rule.entry(rule).or_default() += 1;
                    *rejected_by_kind
                        .entry(format!("{kind}: {rule}"))
                        .or_default() += 1;
                    let shown = examples.entry(kind).or_default();
                    if shown.len() < 3 {
                        shown.push(format!(
                            "{rule}: {} -> {}: {:?}",
                            event.from, event.to, event.text
                        ));
                    }
                }
            }
            Origin::Spam { run, bot } => {
                all[run].0 += 1;
                all[run].1 += u64::from(rejected.is_some());
                if bot >= 9 {
                    late[run].0 += 1;
                    late[run].1 += u64::from(rejected.is_some());
                    if rejected.is_none() && missed[run].len() < 2 {
                        missed[run].push(event.text.clone());
                    }
                }
            }
        }
    }
    let per_million = |n: u64| n as f64 * 1e6 / legit.max(1) as f64;
    let rules: BTreeMap<&str, serde_json::Value> = rejected_by_rule
        .iter()
        .map(|(rule, &n)| {
            (
                *rule,
                serde_json::json!({"rejected": n, "per_million": per_million(n)}),
            )
        })
        .collect();
    let spam: Vec<serde_json::Value> = runs
        .iter()
        .enumerate()
        .map(|(run, spam)| {
            serde_json::json!({
                "family": spam.family,
                "strength": spam.strength,
                "keeps": spam.keeps,
                "missed_from_10th_sender": missed[run],
                "copies": all[run].0,
                "rejected": all[run].1,
                "copies_from_10th_sender": late[run].0,
                "rejected_from_10th_sender": late[run].1,
            })
        })
        .collect();
    let report = serde_json::json!({
        "store": args.first().map_or("memory", String::as_str),
        "messages": events.len(),
        "decisions": format!("{decisions:016x}"),
        "legit": legit,
        "legit_first_day": legit_first_day,
        "legit_first_day_rejected_by_rule": rejected_first_day,
        "legit_first_day_rejected_by_kind": rejected_first_day_by_kind,
        "legit_by_kind": legit_by_kind,
        "legit_rejected_by_rule": rules,
        "legit_rejected_by_kind": rejected_by_kind,
        "legit_rejected_examples": examples,
        "spam": spam,
    });
    println!("{report}");
}

#[cfg(test)]
mod tests {
    //! The yardstick's own checks: `cargo test --example detection_eval`.
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn the_traffic_is_the_same_every_time() {
        let (one, _) = traffic();
        let (two, _) = traffic();
        assert_eq!(one.len(), two.len());
        assert!(
            one.iter()
                .zip(&two)
                .all(|(a, b)| a.at == b.at && a.from == b.from && a.to == b.to && a.text == b.text)
        );
    }

    #[test]
    fn every_run_is_sent_by_fresh_cold_accounts_to_strangers() {
        let (events, runs) = traffic();
        let mut senders: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        let mut first_spam: BTreeMap<&str, u64> = BTreeMap::new();
        for event in &events {
            if let Origin::Spam { run, .. } = event.origin {
                senders.entry(run).or_default().insert(&event.from);
                first_spam.entry(&event.from).or_insert(event.at);
                assert!(event.to.starts_with('u'), "spam goes to people");
            }
        }
        assert_eq!(senders.len(), runs.len());
        for (run, accounts) in &senders {
            assert!(
                accounts.len() >= 15,
                "run {run}: {} senders",
                accounts.len()
            );
        }
        // Fresh and cold: nobody wrote to a bot before its first copy, and no bot of one run
        // sends for another.
        for event in &events {
            if let Some(&first) = first_spam.get(event.to.as_str()) {
                assert!(
                    event.at > first,
                    "{} was written to before it spammed",
                    event.to
                );
            }
        }
        let all: usize = senders.values().map(BTreeSet::len).sum();
        assert_eq!(all, first_spam.len());
    }

    #[test]
    fn every_family_comes_at_several_strengths_and_most_runs_keep_something() {
        let (_, runs) = traffic();
        let mut strengths: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for run in &runs {
            strengths
                .entry(run.family)
                .or_default()
                .insert(&run.strength);
        }
        for (family, its) in &strengths {
            assert!(its.len() >= 4, "{family}: {its:?}");
        }
        let controls = runs.iter().filter(|r| r.keeps == spam::NOTHING).count();
        assert_eq!(controls, 2);
    }

    #[test]
    fn a_run_varies_from_copy_to_copy() {
        let (events, runs) = traffic();
        let mut texts: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        for event in &events {
            if let Origin::Spam { run, .. } = event.origin {
                texts.entry(run).or_default().insert(&event.text);
            }
        }
        for (run, its) in &texts {
            let spam = &runs[*run];
            // Most copies of a run differ; the v2 runs that rotate among a handful of wordings
            // are the exception.
            if spam.family != "v2 runs" {
                assert!(
                    its.len() > 30,
                    "{}: {}: {}",
                    spam.family,
                    spam.strength,
                    its.len()
                );
            }
        }
    }

    #[test]
    fn a_piece_is_placed_between_words_never_inside_a_latin_one() {
        let mut rng = Rng(7);
        // An English pitch that already carries a Chinese filler: a cut beside the Chinese is
        // fine, a cut inside "address" is not. (A piece may touch a word: Chinese writers do
        // not always leave a space.)
        let text = "your parcel could not be delivered because 好久不见 the address is incomplete";
        let latin = |t: &str| -> Vec<String> {
            t.replace("PIECE", " ")
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        for _ in 0..500 {
            let placed = rng::place(&mut rng, text, "PIECE");
            assert_eq!(latin(&placed), latin(text), "{placed}");
        }
    }

    #[test]
    fn every_spam_link_is_apart_from_the_words_around_it() {
        let (events, runs) = traffic();
        for event in &events {
            let Origin::Spam { run, .. } = event.origin else {
                continue;
            };
            let spam = &runs[run];
            let link_family = ["tracking queries", "rotated paths on a fresh domain"];
            if link_family.contains(&spam.family) {
                let link = event
                    .text
                    .split(|c: char| c.is_whitespace() || "，：。👉".contains(c))
                    .find(|w| w.contains('/'));
                let link = link.unwrap_or_default();
                assert!(link.is_ascii(), "{:?}", event.text);
            }
        }
    }
}
