//! The Lua scripts against the embedded store: the same generated traffic, on the same manual
//! clock, must get the same reply — code, limit, retry time, errMsg — from every backend, and
//! the admin API must show the same state. The rule tests pin each rule at its threshold; this
//! catches the two implementations drifting apart anywhere else: bucket edges, retry times,
//! releases, strikes and blocks interleaving, rules in shadow, `AtAllTag`, status and lifts,
//! conversations becoming established and forgotten, every kind of campaign key, and the
//! windows of friend requests, groups created and joined (and their initial members), and a
//! group's invitees.
//!
//! proptest generates the traffic and which rules run in shadow; every case runs on the
//! embedded store, a real Redis and a 3-node Redis Cluster (each case on a key prefix of its
//! own, the servers shared by the cases of one test).

mod support;

use std::time::Duration;

use floodgate::config::Config;
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestCaseError, TestRunner};
use support::{Backend, SharedStore, TestApp};

/// Small limits, so that a few hundred messages cross every rule many times.
const VARS: &[(&str, &str)] = &[
    ("FLOODGATE_RATE_LIMITS", "6/2s,15/10s"),
    ("FLOODGATE_REPEAT_LIMIT", "2/5s"),
    ("FLOODGATE_REPEAT_MIN_CHARS", "4"),
    ("FLOODGATE_CAMPAIGN_LIMIT", "3/8s"),
    ("FLOODGATE_FANOUT_LIMIT", "5/6s"),
    ("FLOODGATE_MENTION_LIMIT", "2"),
    ("FLOODGATE_AT_ALL_LIMIT", "2/4s"),
    ("FLOODGATE_STRIKES", "4/20s"),
    ("FLOODGATE_BLOCK_FOR", "3s"),
    ("FLOODGATE_BLOCK_MAX", "12s"),
    ("FLOODGATE_CONTACT_MEMORY", "20s"),
    ("FLOODGATE_GROUP_SEASONING", "3s"),
    ("FLOODGATE_FRIEND_LIMITS", "3/4s,5/10s"),
    ("FLOODGATE_GROUP_CREATE_LIMITS", "2/5s"),
    ("FLOODGATE_GROUP_JOIN_LIMITS", "3/6s"),
    ("FLOODGATE_GROUP_INVITE_LIMIT", "6/5s"),
    ("FLOODGATE_GROUP_MEMBERS_LIMITS", "6/5s,9/12s"),
];

/// The rules a store decides that can run in shadow on their own (not burst: it is off here).
fn shadowable() -> impl Iterator<Item = &'static str> {
    floodgate::config::vars::RULE_MODES
        .into_iter()
        .filter(|variable| *variable != "FLOODGATE_BURST_MODE")
}

/// Short texts (no campaign key), payloads (one key each, two share a phone number; five
/// pages of one domain, whose domain key is over only on pages as well as senders) and two
/// near-duplicate long texts (band keys).
const TEXTS: &[&str] = &[
    "buy cheap followers now",
    "free crypto giveaway here",
    "see you at the meeting",
    "明天下午三点开会",
    "hello there friend",
    "ok",
    "promo at example.com/deal now",
    "promo at example.com/deal2 now",
    "new page: example.com/p/3",
    "new page: example.com/p/4",
    "new page: example.com/p/5",
    "call me on 555 123 4567 today",
    "ring 555-123-4567 for a deal",
    "加我微信：deal_8888",
    "Congratulations you have won a free prize, reply now to claim it today ref 1",
    "Congratulations you have won a free prize, reply now to claim it today ref 2",
];

/// Recipients: the first three are senders too, so their conversations get established and
/// they become known; the other senders stay strangers, whom the campaign rule counts.
fn user(n: u8) -> String {
    if n < 3 {
        format!("sender{n}")
    } else {
        format!("user{n}")
    }
}

/// One thing OpenIM or an operator does, after `pause_ms` of quiet.
#[derive(Clone, Debug)]
enum Step {
    Single {
        from: u8,
        to: u8,
        text: u8,
    },
    Group {
        from: u8,
        group: u8,
        text: u8,
        mentions: u8,
        at_all: bool,
    },
    Friend {
        from: u8,
        to: u8,
        text: u8,
    },
    Join {
        from: u8,
        group: u8,
        text: u8,
    },
    /// A creation with `members` initial members besides its owner.
    Create {
        from: u8,
        members: u8,
    },
    Invite {
        group: u8,
        invitees: u8,
    },
    Status {
        who: u8,
    },
    Lift {
        who: u8,
    },
}

fn step() -> impl Strategy<Value = (u16, Step)> {
    let single = (0..8u8, 0..12u8, 0..TEXTS.len() as u8)
        .prop_map(|(from, to, text)| Step::Single { from, to, text });
    let group = (0..8u8, 0..2u8, 0..TEXTS.len() as u8, 0..4u8, any::<bool>()).prop_map(
        |(from, group, text, mentions, at_all)| Step::Group {
            from,
            group,
            text,
            mentions,
            at_all,
        },
    );
    let friend = (0..8u8, 0..12u8, 0..TEXTS.len() as u8)
        .prop_map(|(from, to, text)| Step::Friend { from, to, text });
    let join = (0..8u8, 0..2u8, 0..TEXTS.len() as u8).prop_map(|(from, group, text)| Step::Join {
        from,
        group,
        text,
    });
    let create = (0..8u8, 0..10u8).prop_map(|(from, members)| Step::Create { from, members });
    let invite = (0..2u8, 1..5u8).prop_map(|(group, invitees)| Step::Invite { group, invitees });
    let status = (0..8u8).prop_map(|who| Step::Status { who });
    let lift = (0..8u8).prop_map(|who| Step::Lift { who });
    let step = prop_oneof![
        12 => single,
        4 => group,
        2 => friend,
        1 => join,
        2 => create,
        1 => invite,
        1 => status,
        1 => lift
    ];
    (0..300u16, step)
}

/// Every answer of one backend to `traffic`, as comparable text.
async fn replies(store: &SharedStore, shadow: &[bool], traffic: &[(u16, Step)]) -> Vec<String> {
    let mut vars = vec![
        ("FLOODGATE_BURST".to_string(), "off".to_string()),
        // Every body carries one clientMsgID: each would be a retry of the first (retries are
        // compared store by store in tests/replay.rs).
        ("FLOODGATE_REPLAY_WINDOW".to_string(), "off".to_string()),
        ("FLOODGATE_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "FLOODGATE_ADMIN_LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        ),
    ];
    vars.extend(store.vars());
    vars.extend(VARS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    for (variable, shadowed) in shadowable().zip(shadow) {
        if *shadowed {
            vars.push((variable.to_string(), "shadow".to_string()));
        }
    }
    let app = TestApp::spawn(Config::from_vars(vars).unwrap(), SharedStore::None).await;
    let mut replies = Vec::new();
    for (pause_ms, step) in traffic {
        app.advance(Duration::from_millis(u64::from(*pause_ms)));
        let answer =
            match step {
                Step::Single { from, to, text } => {
                    let reply = app
                        .single(&format!("sender{from}"), &user(*to), TEXTS[*text as usize])
                        .await;
                    comparable(&reply)
                }
                Step::Group {
                    from,
                    group,
                    text,
                    mentions,
                    at_all,
                } => {
                    let mut list: Vec<&str> = ["a", "b", "c"][..*mentions as usize].to_vec();
                    if *at_all {
                        list.push("AtAllTag");
                    }
                    let reply = app
                        .group(
                            &format!("sender{from}"),
                            &format!("g{group}"),
                            TEXTS[*text as usize],
                            &list,
                        )
                        .await;
                    comparable(&reply)
                }
                Step::Friend { from, to, text } => {
                    let body = support::friend_request_body(
                        &format!("sender{from}"),
                        &user(*to),
                        TEXTS[*text as usize],
                    );
                    comparable(&app.callback(&body).await)
                }
                Step::Join { from, group, text } => {
                    let body = support::join_group_body(
                        &format!("sender{from}"),
                        &format!("g{group}"),
                        TEXTS[*text as usize],
                    );
                    comparable(&app.callback(&body).await)
                }
                Step::Create { from, members } => {
                    let owner = format!("sender{from}");
                    let mut body = support::create_group_body(&owner, "a new group");
                    let mut list = vec![serde_json::json!({"userID": owner, "roleLevel": 100})];
                    list.extend((0..*members).map(
                        |i| serde_json::json!({"userID": format!("member{i}"), "roleLevel": 20}),
                    ));
                    body["initMemberList"] = serde_json::Value::Array(list);
                    comparable(&app.callback(&body).await)
                }
                Step::Invite { group, invitees } => {
                    let body = support::invite_body(&format!("g{group}"), usize::from(*invitees));
                    comparable(&app.callback(&body).await)
                }
                Step::Status { who } => app.sender(&format!("sender{who}")).await.to_string(),
                Step::Lift { who } => app.unblock(&format!("sender{who}")).await.to_string(),
            };
        replies.push(answer);
    }
    let shadow_counted = app
        .metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("floodgate_rejections_total"))
        .map(str::to_string)
        .collect::<Vec<_>>();
    replies.push(shadow_counted.join("\n"));
    app.assert_store_healthy().await;
    replies
}

/// A message's answer as text: code, detail and the message an app user sees.
fn comparable(reply: &support::Reply) -> String {
    format!(
        "{} {} | {}",
        reply.err_code(),
        reply.detail(),
        reply.body["errMsg"]
    )
}

/// Runs generated cases against the embedded store and `other`, which must answer alike.
fn compare(other: Backend, cases: u32) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let memory = SharedStore::None;
    let shared = SharedStore::start(other);
    let mut runner = TestRunner::new(Cases {
        cases,
        failure_persistence: None,
        ..Cases::default()
    });
    let strategy = (
        prop::collection::vec(step(), 150..300),
        prop::array::uniform10(prop::bool::weighted(0.25)),
    );
    // What the cases crossed between them: the new rules must be exercised, not just agreed on.
    let (campaigns, conversations) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let rejections = std::cell::Cell::new(0);
    let (acts, members) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let result = runner.run(&strategy, |(traffic, shadow)| {
        runtime.block_on(async {
            let expected = replies(&memory, &shadow, &traffic).await;
            let got = replies(&shared, &shadow, &traffic).await;
            for (i, (want, got)) in expected.iter().zip(&got).enumerate() {
                if want != got {
                    return Err(TestCaseError::fail(format!(
                        "step {i} ({:?}) with shadow {shadow:?}: embedded `{want}`, {other:?} `{got}`",
                        traffic.get(i)
                    )));
                }
            }
            campaigns.set(campaigns.get() + expected.iter().filter(|r| r.starts_with("5004")).count());
            let established = |r: &&String| {
                r.contains("\"establishedContacts\":") && !r.contains("\"establishedContacts\":0")
            };
            conversations.set(conversations.get() + expected.iter().filter(established).count());
            rejections.set(rejections.get() + expected.iter().filter(|r| r.starts_with("500")).count());
            let act_rejection = |r: &&String| r.starts_with("5010") || r.starts_with("5011");
            acts.set(acts.get() + expected.iter().filter(act_rejection).count());
            let over_members = |r: &&String| r.contains("initial members per");
            members.set(members.get() + expected.iter().filter(over_members).count());
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Most cases cross several rules; a quiet one is possible, all of them quiet is not.
    assert!(
        rejections.get() > 10 * cases as usize,
        "the traffic should cross the rules: {} rejections in {cases} cases",
        rejections.get()
    );
    assert!(campaigns.get() > 0, "no campaign rejection in any case");
    assert!(acts.get() > 0, "no friend or group rejection in any case");
    assert!(
        members.get() > 0,
        "no creation over its members window in any case"
    );
    assert!(
        conversations.get() > 0,
        "no established conversation in any case"
    );
}

#[test]
fn redis_decides_exactly_like_the_embedded_store() {
    compare(Backend::Redis, 12);
}

#[test]
fn a_redis_cluster_decides_exactly_like_the_embedded_store() {
    compare(Backend::Cluster, 6);
}
