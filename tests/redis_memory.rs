//! Redis memory per active sender, per campaign key and per user's conversation memory,
//! measured with `INFO memory` before and after N of them on a real server (run with
//! `--nocapture` to see the figures). The budgets: at most 4 KiB per fully active sender at the
//! default limits, at most 2 KiB more for the conversations of an active user, and at most
//! 1.5 KiB for a user's friend requests, groups created and joined.

mod support;

use std::sync::Arc;
use std::time::Duration;

use floodgate::config::{RedisConfig, Secret};
use floodgate::policy::{Act, Policy, Rule};
use floodgate::store::{
    ActCheck, CampaignKey, Conversation, CopyKeys, Counted, Fingerprint, GroupKey, Peer,
    RecipientKey, RedisStore, SenderCheck, SenderKey, SenderOutcome,
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
    store_with(redis, "fg", Policy::default()).await
}

async fn store_with(redis: &RedisServer, prefix: &str, policy: Policy) -> RedisStore {
    let config = RedisConfig {
        urls: vec![Secret::new(redis.url())],
        cluster: false,
    };
    RedisStore::connect(&config, prefix, Arc::new(policy), Duration::from_secs(2))
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
                counted: Counted::default(),
                conversation: None,
                replay: None,
            };
            let outcome = store
                .check_message(&check, CopyKeys::NONE)
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
            counted: Counted::default(),
            conversation: None,
            replay: None,
        };
        store
            .check_message(&check, CopyKeys::NONE)
            .await
            .expect("store answers");
    }
    let per_quiet = (used_memory(&redis) - quiet_before) as f64 / SENDERS as f64;
    println!("redis bytes per sender after one message: {per_quiet:.0}");
    // Measured at about 0.45 KiB: one small hash (a ring per window, the fanout entries).
    assert!(per_quiet <= 1024.0, "{per_quiet} bytes per quiet sender");
}

#[tokio::test]
async fn campaign_state_per_key_is_small() {
    let redis = RedisServer::start();
    // The campaign rule alone, so that the few senders' own state does not count.
    let mut policy = Policy {
        contact_memory: None,
        ..Policy::default()
    };
    for rule in [Rule::Rate, Rule::Repeat, Rule::Fanout, Rule::Blocked] {
        policy.thresholds[rule].clear();
    }
    let store = store_with(&redis, "fg", policy).await;
    let now = 1_767_225_600_000u64;
    for senders in [1u64, 5] {
        let before = used_memory(&redis);
        for k in 0..SENDERS {
            let key = [CampaignKey(senders * 1_000_000 + k)];
            for s in 0..senders {
                let check = SenderCheck {
                    sender: SenderKey(u128::from(s)),
                    now_ms: now,
                    fingerprint: None,
                    recipient: None,
                    counted: Counted::default(),
                    conversation: None,
                    replay: None,
                };
                let outcome = store
                    .check_message(&check, CopyKeys::without_pages(&key))
                    .await;
                assert!(matches!(outcome, Ok(SenderOutcome::Admitted { .. })));
            }
        }
        let per_key = (used_memory(&redis) - before) as f64 / SENDERS as f64;
        println!("redis bytes per campaign key sent by {senders} sender(s): {per_key:.0}");
        assert!(per_key < 1024.0, "{per_key}");
    }
}

/// An active user: wrote to by `CONTACTS` people and posting in `GROUPS` groups. The same
/// traffic with conversation memory off and on (two prefixes on one server): the difference is
/// what remembering costs.
#[tokio::test]
async fn conversation_memory_costs_at_most_2_kib_per_active_user() {
    const USERS: u64 = 1000;
    const CONTACTS: u64 = 20;
    const GROUPS: u64 = 5;
    let redis = RedisServer::start();
    let now = 1_767_225_600_000u64;
    let mut used = Vec::new();
    for (prefix, memory) in [
        ("off", None),
        ("on", Some(Duration::from_secs(30 * 86_400))),
    ] {
        let policy = Policy {
            contact_memory: memory,
            ..Policy::default()
        };
        let store = store_with(&redis, prefix, policy).await;
        let before = used_memory(&redis);
        for u in 0..USERS {
            let id = format!("user-{u}");
            let sender = SenderKey::of(&id);
            let to = (1..=CONTACTS).map(|c| Chat::User(format!("user-{}", (u + c) % USERS)));
            let groups = (0..GROUPS).map(|g| Chat::Group(format!("group-{}", (u + g * 7) % 200)));
            for (m, chat) in to.chain(groups).enumerate() {
                let peer = match &chat {
                    Chat::User(to) => Peer::User {
                        recipient: RecipientKey::of(to),
                        recipient_state: SenderKey::of(to),
                        me: RecipientKey::of(&id),
                    },
                    Chat::Group(group) => Peer::Group(GroupKey::of(group)),
                };
                let check = SenderCheck {
                    sender,
                    // 25 messages in 25 s: inside every rate window.
                    now_ms: now + m as u64 * 1000,
                    fingerprint: None,
                    recipient: match &chat {
                        Chat::User(to) => Some(RecipientKey::of(to)),
                        Chat::Group(_) => None,
                    },
                    counted: Counted::default(),
                    conversation: memory.map(|_| Conversation {
                        peer,
                        fingerprint: None,
                    }),
                    replay: None,
                };
                let outcome = store.check_message(&check, CopyKeys::NONE).await;
                assert!(
                    matches!(outcome, Ok(SenderOutcome::Admitted { .. })),
                    "{outcome:?}"
                );
            }
        }
        used.push((used_memory(&redis) - before) as f64 / USERS as f64);
    }
    let extra = used[1] - used[0];
    println!(
        "redis bytes per active user ({CONTACTS} contacts, {GROUPS} groups): {:.0} without conversation memory, {:.0} with ({extra:.0} more)",
        used[0], used[1]
    );
    assert!(extra <= 2048.0, "{extra} bytes more per active user");
}

enum Chat {
    User(String),
    Group(String),
}

#[tokio::test]
async fn acts_cost_at_most_1_5_kib_per_user_and_invites_little_per_group() {
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let now = 1_767_225_600_000u64;
    const USERS: u64 = SENDERS / 2;
    let before = used_memory(&redis);
    for u in 0..USERS {
        let actor = SenderKey::of(&format!("user-{u}"));
        // At the default limits: 10 friend requests, 5 groups created (with 100 initial members
        // each: the members windows too), 10 applications to join in the hour (every hourly
        // window full), then one more of each, rejected (2 strikes: applications strike no one).
        for (act, admitted) in [
            (Act::FriendRequest, 10),
            (Act::CreateGroup, 5),
            (Act::JoinGroup, 10),
        ] {
            for n in 0..=admitted {
                let check = ActCheck {
                    actor,
                    now_ms: now + n * 1000,
                    act: Some(act),
                    members: if act == Act::CreateGroup { 100 } else { 0 },
                    replay: None,
                };
                let outcome = store
                    .check_act(&check, CopyKeys::NONE)
                    .await
                    .expect("store answers");
                assert_eq!(
                    matches!(outcome, SenderOutcome::Admitted { .. }),
                    n < admitted,
                    "{act:?} {n}: {outcome:?}"
                );
            }
        }
    }
    let per_user = (used_memory(&redis) - before) as f64 / USERS as f64;
    println!(
        "redis bytes per user with every act window full (friend, create, members, join; 2 strikes): {per_user:.0}"
    );
    // Measured at 1.2 KiB (0.9-1.0 before the members windows): the act hash (eight rings) and
    // the strikes in the state hash.
    assert!(per_user <= 1536.0, "{per_user} bytes per user");

    let groups_before = used_memory(&redis);
    for g in 0..USERS {
        let group = GroupKey::of(&format!("group-{g}"));
        for n in 0..5 {
            let over = store.check_invite(group, now + n * 1000, 20).await;
            assert_eq!(over.expect("store answers"), None);
        }
    }
    let per_group = (used_memory(&redis) - groups_before) as f64 / USERS as f64;
    println!("redis bytes per group with invitees: {per_group:.0}");
    assert!(per_group <= 512.0, "{per_group} bytes per group");
}

/// Issue 27 §6: what one account can make Redis hold at the default limits, sending the most
/// they allow for ten minutes (a campaign set's window; a recipient's pending memory lives an
/// hour, the longest any key it makes in someone else's name lives). 1000 cold messages (the hourly limit, paced
/// under the per-minute one) to the 30 distinct recipients fanout allows, each with 6 campaign
/// keys of its own (the most a message has), or none. Every key it made outside its own slot
/// must expire within that hour: before pending memories, each recipient's memory
/// lived the whole `FLOODGATE_CONTACT_MEMORY` (30 days), without bound.
#[tokio::test]
async fn what_one_account_makes_redis_hold_is_bounded_and_short_lived() {
    const ACCOUNTS: u64 = 10;
    const MESSAGES: u64 = 1000;
    let redis = RedisServer::start();
    let now = 1_767_225_600_000u64;
    let pending_time = 3_600_000i64;
    let mut per_account = Vec::new();
    for (prefix, keys_per_message) in [("cold", 0u64), ("keyed", 6)] {
        let store = store_with(&redis, prefix, Policy::default()).await;
        let before = used_memory(&redis);
        for a in 0..ACCOUNTS {
            let id = format!("{prefix}-abuser-{a}");
            let sender = SenderKey::of(&id);
            for m in 0..MESSAGES {
                let to = format!("{id}-victim-{}", m % 30);
                let keys: Vec<CampaignKey> = (0..keys_per_message)
                    .map(|k| CampaignKey(((a * MESSAGES + m) << 3) + k))
                    .collect();
                // A page for every domain key (odd), so their page lists are written too.
                let pages: Vec<u64> = keys.iter().map(|k| (k.0 << 1) | 1).collect();
                let check = SenderCheck {
                    sender,
                    now_ms: now + m * 600,
                    fingerprint: Some(Fingerprint(a * MESSAGES + m)),
                    recipient: Some(RecipientKey::of(&to)),
                    counted: Counted::default(),
                    conversation: Some(Conversation {
                        peer: Peer::User {
                            recipient: RecipientKey::of(&to),
                            recipient_state: SenderKey::of(&to),
                            me: RecipientKey::of(&id),
                        },
                        fingerprint: None,
                    }),
                    replay: None,
                };
                let keys = CopyKeys {
                    keys: &keys,
                    pages: &pages,
                };
                let outcome = store.check_message(&check, keys).await;
                assert!(
                    matches!(outcome, Ok(SenderOutcome::Admitted { .. })),
                    "{id} message {m}: {outcome:?}"
                );
            }
        }
        per_account.push((used_memory(&redis) - before) as f64 / ACCOUNTS as f64);
        // One script over every key (thousands of them): own keys are the accounts' hashes.
        let own: Vec<String> = (0..ACCOUNTS)
            .map(|a| {
                let sender = SenderKey::of(&format!("{prefix}-abuser-{a}"));
                format!("{prefix}:{{s:{:032x}}}", sender.0)
            })
            .collect();
        let script = "local own = {} for _, k in ipairs(ARGV) do own[k] = true end \
            local others, longest, shortest, own_longest, pending = 0, -1, 1e18, -1, 0 \
            for _, key in ipairs(redis.call('KEYS', KEYS[1])) do \
              local ttl = redis.call('PTTL', key) \
              if own[key] then own_longest = math.max(own_longest, ttl) else \
                others = others + 1 longest = math.max(longest, ttl) shortest = math.min(shortest, ttl) end \
              if string.sub(key, -2) == ':p' then pending = pending + redis.call('MEMORY', 'USAGE', key) end \
            end return {others, longest, shortest, own_longest, pending}";
        let pattern = format!("{prefix}:*");
        let mut args = vec!["EVAL", script, "1", pattern.as_str()];
        args.extend(own.iter().map(String::as_str));
        let reply: Vec<i64> = redis
            .cli(&args)
            .lines()
            .map(|l| l.trim().parse().expect("an integer"))
            .collect();
        let [others, longest, shortest, own_longest, pending] = reply[..] else {
            panic!("{reply:?}");
        };
        // Only the accounts' own hashes (their windows, an hour and a bit) outlive the pending
        // time.
        assert!(
            own_longest > 0 && own_longest <= 7_200_000,
            "{own_longest} ms"
        );
        assert!(
            shortest > 0 && longest <= pending_time,
            "{prefix}: {shortest}..{longest} ms"
        );
        let others = others as u64;
        println!(
            "{prefix}: the strangers' pending memories, {} bytes per account (MEMORY USAGE)",
            pending as u64 / ACCOUNTS
        );
        // (v3) One string per campaign key: its senders, recipients and (a domain key's) pages.
        let expected = ACCOUNTS * (30 + keys_per_message * MESSAGES);
        assert_eq!(others, expected, "{prefix}: keys outside the accounts' own");
    }
    println!(
        "redis bytes one account holds at the defaults (1000 cold messages in 10 min to 30 strangers): {:.0} without campaign keys, {:.0} with 6 per message",
        per_account[0], per_account[1]
    );
    // docs/redis.md, "Sizing": 160 KiB, almost all of it the account's own repeat state (a
    // fingerprint per distinct text); 1.5 MiB with the campaign keys of 6000 distinct keys, (v3)
    // each one string of its senders and recipients (a sorted set and a string beside it took
    // 2.1 MiB).
    assert!(per_account[0] <= 160.0 * 1024.0, "{} bytes", per_account[0]);
    assert!(
        per_account[1] <= 1.5 * 1_048_576.0,
        "{} bytes",
        per_account[1]
    );
}
