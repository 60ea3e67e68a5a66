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

const USERS: usize = 3000;
const COMMUNITY: usize = 150;
const GROUPS: usize = 80;
const DAYS: u64 = 8;
const BOTS_PER_RUN: usize = 40;
const COPIES_PER_BOT: usize = 3;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// A small deterministic generator (xorshift64*), so every run sends the same traffic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// An index in 0..n, skewed like word frequencies (Zipf, s = 1).
    fn zipf(&mut self, n: usize) -> usize {
        let harmonic: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        let mut target = (self.next() >> 11) as f64 / (1u64 << 53) as f64 * harmonic;
        for k in 1..=n {
            target -= 1.0 / k as f64;
            if target <= 0.0 {
                return k - 1;
            }
        }
        n - 1
    }
}

const PHRASES: &[&str] = &[
    "ok",
    "haha",
    "thanks!",
    "好的",
    "lol",
    "see you tomorrow",
    "where are you?",
    "哈哈哈",
    "good morning",
    "on my way",
    "谢谢",
    "在吗",
    "Happy birthday!",
    "晚安",
    "明天见",
    "sounds good to me",
    "call me when you can",
    "I'm home",
    "miss you",
    "what time?",
    "see you at 5",
    "see you at 6",
    "我到了",
    "吃饭了吗",
    "Thank you so much!",
    "no problem",
    "let me check",
    "are you free tonight?",
    "我明天去北京",
    "我明天去南京",
    "nice photo!",
    "can't wait",
    "good night",
    "sorry, running late",
    "收到",
    "👍",
    "😂😂😂",
    "ok see you",
];

/// Words long messages are made of: people's long messages are their own.
const WORDS: &[&str] = &[
    "I",
    "we",
    "you",
    "they",
    "think",
    "should",
    "could",
    "maybe",
    "really",
    "meeting",
    "dinner",
    "trip",
    "kids",
    "report",
    "game",
    "plan",
    "tomorrow",
    "tonight",
    "weekend",
    "station",
    "cafe",
    "office",
    "park",
    "restaurant",
    "train",
    "late",
    "early",
    "again",
    "because",
    "but",
    "and",
    "then",
    "after",
    "before",
    "work",
    "home",
    "school",
    "mom",
    "dad",
    "birthday",
    "party",
    "present",
    "movie",
    "book",
    "weather",
    "rain",
    "sunny",
    "cold",
    "hot",
    "tired",
    "happy",
    "busy",
    "free",
    "call",
    "text",
    "photo",
    "video",
    "bring",
    "buy",
    "cook",
    "clean",
    "drive",
    "walk",
    "meet",
    "wait",
    "leave",
    "arrive",
    "remember",
    "forget",
    "ask",
    "tell",
    "think",
];

const GREETINGS: &[&str] = &[
    "Happy New Year!",
    "Happy New Year!!! 🎉",
    "新年快乐！",
    "Happy new year to you and your family, all the best for 2027!",
    "新年快乐，万事如意！",
    "HNY!",
];

/// Who gets what: a legitimate message (and what kind of traffic it is), or a spam copy.
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

struct World {
    friends: Vec<Vec<(usize, u32)>>,
    groups: Vec<Vec<usize>>,
}

fn user(i: usize) -> String {
    format!("u{i}")
}

fn world(rng: &mut Rng) -> World {
    let mut friends: Vec<Vec<(usize, u32)>> = vec![Vec::new(); USERS];
    for a in 0..USERS {
        let wanted = 2 + rng.zipf(30);
        for _ in 0..wanted {
            let community = a / COMMUNITY * COMMUNITY;
            let b = if rng.chance(0.9) {
                community + rng.below(COMMUNITY)
            } else {
                rng.below(USERS)
            };
            if b != a && b < USERS && !friends[a].iter().any(|&(f, _)| f == b) {
                // How often this pair talks: a few close friends, many occasional ones.
                let weight = 1 + (8 / (1 + rng.zipf(8))) as u32;
                friends[a].push((b, weight));
                friends[b].push((a, weight));
            }
        }
    }
    let groups = (0..GROUPS)
        .map(|g| {
            let size = 5 + rng.zipf(60);
            let community = (g * 37 % (USERS / COMMUNITY)) * COMMUNITY;
            (0..size)
                .map(|_| community + rng.below(COMMUNITY))
                .collect()
        })
        .collect();
    World { friends, groups }
}

fn pick_friend(rng: &mut Rng, friends: &[(usize, u32)]) -> Option<usize> {
    let total: u32 = friends.iter().map(|&(_, w)| w).sum();
    let mut target = rng.below(total as usize) as u32;
    for &(f, w) in friends {
        if target < w {
            return Some(f);
        }
        target -= w;
    }
    None
}

fn chat_text(rng: &mut Rng, who: usize) -> String {
    match rng.below(10) {
        0..=5 => PHRASES[rng.zipf(PHRASES.len())].to_string(),
        6 | 7 => {
            let words = 10 + rng.below(12);
            let mut sentence: Vec<&str> =
                (0..words).map(|_| WORDS[rng.zipf(WORDS.len())]).collect();
            sentence.push("ok?");
            sentence.join(" ")
        }
        8 => format!("look at this youtube.com/watch?v=v{}", rng.below(400)),
        _ => format!(
            "my new number is 138 {:04} {:04}",
            who % 10_000,
            rng.below(10_000)
        ),
    }
}

fn legit_traffic(rng: &mut Rng, world: &World) -> Vec<Event> {
    let mut events = Vec::new();
    let mut push = |at, origin, chat, from: String, to: String, text: String| {
        events.push(Event {
            at,
            origin: Origin::Legit(origin),
            chat,
            from,
            to,
            text,
        })
    };
    for day in 0..DAYS {
        let start = day * DAY;
        // Conversations: a message, then a reply or a few, seconds to minutes apart.
        for a in 0..USERS {
            let conversations = rng.below(4);
            for _ in 0..conversations {
                let Some(b) = pick_friend(rng, &world.friends[a]) else {
                    continue;
                };
                let mut at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                let turns = 1 + rng.below(6);
                for turn in 0..turns {
                    let (from, to) = if turn % 2 == 0 { (a, b) } else { (b, a) };
                    let text = chat_text(rng, from);
                    push(at, "chat", Chat::Single, user(from), user(to), text);
                    at += 5_000 + rng.below(3 * MINUTE as usize) as u64;
                }
            }
        }
        // Groups: members chat; an organiser shares an event link that others repeat.
        for (g, members) in world.groups.iter().enumerate() {
            let posts = rng.below(20);
            for _ in 0..posts {
                let who = members[rng.below(members.len())];
                let at = start + 8 * HOUR + rng.below(14 * HOUR as usize) as u64;
                let text = if rng.chance(0.1) {
                    format!("Route for Sunday: maps.example.com/route/{g}")
                } else {
                    chat_text(rng, who)
                };
                push(
                    at,
                    "group chatter",
                    Chat::Group,
                    user(who),
                    format!("g{g}"),
                    text,
                );
            }
        }
        // The marketplace: buyers ask sellers they never met; sellers answer.
        for _ in 0..150 {
            let buyer = rng.below(USERS);
            let mut at = start + 9 * HOUR + rng.below(12 * HOUR as usize) as u64;
            for _ in 0..2 + rng.below(7) {
                let seller = rng.below(USERS);
                let ask = [
                    "Hi, is this still available?",
                    "Is this still available?",
                    "hi, still available?",
                ];
                push(
                    at,
                    "marketplace",
                    Chat::Single,
                    user(buyer),
                    user(seller),
                    ask[rng.below(3)].to_string(),
                );
                if rng.chance(0.7) {
                    let reply = ["Yes it is!", "yes, still available", "sorry, sold"];
                    push(
                        at + 60_000,
                        "marketplace",
                        Chat::Single,
                        user(seller),
                        user(buyer),
                        reply[rng.below(3)].to_string(),
                    );
                }
                at += 20_000 + rng.below(90_000) as u64;
            }
        }
    }
    // The last day: a New Year wave at midnight, and a popular article everyone shares.
    let midnight = (DAYS - 1) * DAY;
    for a in 0..USERS {
        if !rng.chance(0.5) {
            continue;
        }
        let mut at = midnight + rng.below(10 * MINUTE as usize) as u64;
        let greeting = GREETINGS[rng.zipf(GREETINGS.len())];
        let count = (2 + rng.below(10)).min(world.friends[a].len());
        let mut greeted = Vec::new();
        for _ in 0..count * 2 {
            if greeted.len() == count {
                break;
            }
            if let Some(f) = pick_friend(rng, &world.friends[a]).filter(|f| !greeted.contains(f)) {
                greeted.push(f);
                push(
                    at,
                    "new year",
                    Chat::Single,
                    user(a),
                    user(f),
                    greeting.to_string(),
                );
                at += 4_000 + rng.below(20_000) as u64;
            }
        }
    }
    for (g, members) in world.groups.iter().enumerate() {
        for &m in members {
            if !rng.chance(0.3) {
                continue;
            }
            let at = midnight + rng.below(15 * MINUTE as usize) as u64;
            push(
                at,
                "new year",
                Chat::Group,
                user(m),
                format!("g{g}"),
                GREETINGS[rng.zipf(GREETINGS.len())].to_string(),
            );
        }
    }
    let article = "you have to read this news.example.com/2027/01/01/fireworks-record";
    for a in 0..USERS {
        if !rng.chance(0.1) {
            continue;
        }
        if let Some(f) = pick_friend(rng, &world.friends[a]) {
            let at = midnight + 10 * HOUR + rng.below(2 * HOUR as usize) as u64;
            let text = article.to_string();
            push(at, "viral article", Chat::Single, user(a), user(f), text);
        }
    }
    events
}

const HOMOGLYPHS: &[(char, char)] = &[
    ('a', 'а'),
    ('e', 'е'),
    ('o', 'о'),
    ('i', 'і'),
    ('c', 'с'),
    ('p', 'р'),
];
const EMOJI: &[&str] = &["🎁", "🔥", "💰", "✅", "🎉", "⭐"];

/// A spam run: its name and the text of its `n`th copy.
type SpamRun = (&'static str, Box<dyn Fn(&mut Rng, usize) -> String>);

/// The spam runs, one per evasion.
fn spam_runs() -> Vec<SpamRun> {
    vec![
        (
            "reference numbers",
            Box::new(|rng: &mut Rng, _| {
                format!(
                    "Congratulations! Your account won a free iPhone 15. Reply YES to claim your prize today. Ref {}",
                    10_000 + rng.below(90_000)
                )
            }),
        ),
        (
            "rotated links",
            Box::new(|_: &mut Rng, n| {
                format!(
                    "Your parcel is held at the depot: pay the small customs fee here bit.ly/p{n}x today"
                )
            }),
        ),
        (
            "look-alikes",
            Box::new(|rng: &mut Rng, _| {
                let base = "Earn 500 dollars a day from home with our simple plan, message me on WhatsApp +44 7700 900123";
                base.chars()
                    .map(|c| match HOMOGLYPHS.iter().find(|&&(l, _)| l == c) {
                        Some(&(_, look)) if rng.chance(0.4) => look,
                        _ => c,
                    })
                    .collect()
            }),
        ),
        (
            "emoji",
            Box::new(|rng: &mut Rng, _| {
                let words =
                    "Limited offer cheap followers and likes for your account visit our shop now";
                words
                    .split(' ')
                    .map(|w| {
                        if rng.chance(0.3) {
                            format!("{w} {}", EMOJI[rng.below(EMOJI.len())])
                        } else {
                            w.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        ),
        (
            "messenger ID, changing words",
            Box::new(|rng: &mut Rng, _| {
                [
                    "加我微信：deal_8888 领红包",
                    "优惠多多 微信 deal_8888",
                    "找我 微信:deal_8888 有惊喜",
                    "兼职日结 加微信號deal_8888",
                    "VX: deal_8888 速来",
                ][rng.below(5)]
                .to_string()
            }),
        ),
        (
            "phone, rewritten",
            Box::new(|rng: &mut Rng, _| {
                [
                    "loans today, call 555-010-9999",
                    "Call (555) 010 9999 for cash!",
                    "cash now: ring 5550109999",
                    "tel: 555.010.9999 easy loans",
                ][rng.below(4)]
                .to_string()
            }),
        ),
        (
            "e-mail, short",
            Box::new(|rng: &mut Rng, _| {
                [
                    "jobs: hr.fastcash@example.net",
                    "write hr.fastcash@example.net",
                    "HR.FastCash@example.net now",
                ][rng.below(3)]
                .to_string()
            }),
        ),
        (
            "short text, rotated link",
            Box::new(|_: &mut Rng, n| format!("claim it: bit.ly/c{n}q")),
        ),
    ]
}

fn spam_traffic(rng: &mut Rng, runs: &[SpamRun]) -> Vec<Event> {
    let mut events = Vec::new();
    for (run, (_, text)) in runs.iter().enumerate() {
        let start = (DAYS - 1) * DAY + 2 * HOUR + run as u64 * HOUR;
        let mut sent = 0;
        for bot in 0..BOTS_PER_RUN {
            for copy in 0..COPIES_PER_BOT {
                let at =
                    start + (bot * COPIES_PER_BOT + copy) as u64 * 4_000 + rng.below(3_000) as u64;
                let victim = user(rng.below(USERS));
                let from = format!("bot{run}x{bot}");
                // Some victims answer, which makes them the bot's contacts.
                if rng.chance(0.1) {
                    events.push(Event {
                        at: at + 30_000 + rng.below(90_000) as u64,
                        origin: Origin::Legit("answers to spam"),
                        chat: Chat::Single,
                        from: victim.clone(),
                        to: from.clone(),
                        text: "who is this?".to_string(),
                    });
                }
                events.push(Event {
                    at,
                    origin: Origin::Spam { run, bot },
                    chat: Chat::Single,
                    from,
                    to: victim,
                    text: text(rng, sent),
                });
                sent += 1;
            }
        }
    }
    events
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let world = world(&mut rng);
    let runs = spam_runs();
    let mut events = legit_traffic(&mut rng, &world);
    events.extend(spam_traffic(&mut rng, &runs));
    events.sort_by_key(|e| e.at);

    let clock = ManualClock::default();
    let start = clock.now_ms();
    let engine = engine(&args, &clock).await;
    let mut legit = 0u64;
    // The first day starts with every memory empty (as a new deployment does): counted apart.
    let mut legit_first_day = 0u64;
    let mut rejected_first_day: BTreeMap<&str, u64> = BTreeMap::new();
    let mut legit_by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rejected_by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rejected_by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples: Vec<String> = Vec::new();
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
            mentions: 0,
            at_all: false,
        };
        let decision = engine.decide(&message).await;
        let rejected = match &decision.verdict {
            Verdict::Allow => None,
            Verdict::Reject(violation) => Some(violation.rule.name()),
        };
        match event.origin {
            Origin::Legit(_) if event.at < DAY => {
                legit_first_day += 1;
                if let Some(rule) = rejected {
                    *rejected_first_day.entry(rule).or_default() += 1;
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
                    if examples.len() < 10 {
                        examples.push(format!(
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
        .map(|(run, (name, _))| {
            serde_json::json!({
                "run": name,
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
        "legit": legit,
        "legit_first_day": legit_first_day,
        "legit_first_day_rejected_by_rule": rejected_first_day,
        "legit_by_kind": legit_by_kind,
        "legit_rejected_by_rule": rules,
        "legit_rejected_by_kind": rejected_by_kind,
        "legit_rejected_examples": examples,
        "spam": spam,
    });
    println!("{report}");
}
