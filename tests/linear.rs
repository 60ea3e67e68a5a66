//! No rule reads past `FLOODGATE_MAX_TEXT`. The work each pass does per byte is tested in
//! `tests/linear_work.rs` (counted, not timed: this machine's timings are noisy), and its
//! speed against prose by the `adversarial` criterion bench (BENCHMARKS.md).

use std::borrow::Cow;

use floodgate::clock::{Clock, ManualClock};
use floodgate::config::Config;
use floodgate::engine::keywords::KeywordList;
use floodgate::engine::{ActKind, ActRequest, Chat, Engine, Message, Verdict};
use floodgate::policy::Rule;

fn engine(max_text: &str) -> (Engine, tokio::runtime::Runtime) {
    let config = Config::from_vars([
        ("FLOODGATE_MAX_TEXT", max_text),
        ("FLOODGATE_LINK_DENY", "evil.example"),
    ])
    .unwrap();
    let (engine, _) = Engine::embedded(&config, Clock::Manual(ManualClock::default()));
    engine
        .content_rules()
        .replace_keywords(KeywordList::parse("forbidden\n").unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    (engine, runtime)
}

fn rule_of(verdict: Verdict) -> Option<Rule> {
    match verdict {
        Verdict::Reject(violation) => Some(violation.rule),
        Verdict::Allow => None,
    }
}

#[test]
fn no_rule_reads_a_message_past_the_max_text() {
    let (engine, runtime) = engine("1KiB");
    // 1023 bytes, then a three-byte character across the cut: it is dropped whole.
    let filler = format!("{}微", "a ".repeat(511) + "a");
    for (tail, rule) in [(" forbidden", Rule::Keyword), (" evil.example", Rule::Link)] {
        let judge = |text: &str, sender: &str| {
            let content = serde_json::json!({ "content": text }).to_string();
            let message = Message {
                group_id: "g",
                content_type: 101,
                content: &content,
                ..Message::new(Chat::Group, sender)
            };
            rule_of(runtime.block_on(engine.decide(&message)).verdict)
        };
        assert_eq!(judge(&format!("{filler}{tail}"), "late"), None, "{tail}");
        assert_eq!(
            judge(&format!("{tail} {filler}"), "early"),
            Some(rule),
            "{tail}"
        );
    }
}

#[test]
fn no_rule_reads_an_act_text_past_the_max_text() {
    let (engine, runtime) = engine("1KiB");
    let filler = "b ".repeat(512);
    let judge = |request_text: String, texts: Vec<String>, actor: &str| {
        let request = ActRequest {
            kind: ActKind::FriendRequest,
            actor: Cow::Borrowed(actor),
            group_id: Cow::Borrowed(""),
            invitees: 0,
            request_text: Cow::Owned(request_text),
            texts: texts.into_iter().map(Cow::Owned).collect(),
        };
        rule_of(runtime.block_on(engine.judge_act(&request)).verdict)
    };
    let late = format!("{filler}forbidden");
    let early = format!("forbidden {filler}");
    assert_eq!(judge(late.clone(), vec![late.clone()], "a"), None);
    assert_eq!(judge(early.clone(), vec![], "b"), Some(Rule::Keyword));
    assert_eq!(judge(String::new(), vec![early], "c"), Some(Rule::Keyword));
}
