//! Every pass the engine makes over a message text (`engine::content::every_pass`): decoding,
//! folding, keywords, links, fingerprint, payload extractors and MinHash, on the whole input
//! (no `FLOODGATE_MAX_TEXT` cut, so that the passes themselves are what is timed). Run with a
//! per-input time limit (README): an input that takes longer is a pass that is not linear.
#![no_main]

use std::sync::LazyLock;

use floodgate::engine::ContentRules;
use floodgate::engine::content::every_pass;
use floodgate::engine::keywords::KeywordList;
use floodgate::engine::links::{DomainList, LinkRules};
use libfuzzer_sys::fuzz_target;

/// A small list and both link lists, so every rule reads the text.
static RULES: LazyLock<(ContentRules, DomainList)> = LazyLock::new(|| {
    let links = LinkRules {
        deny: DomainList::parse("evil.example, bit.ly, 例え.jp").unwrap(),
        allow: DomainList::parse("docs.evil.example, example.org").unwrap(),
    };
    let allow = links.allow.clone();
    let rules = ContentRules::new(links);
    rules.replace_keywords(
        KeywordList::parse("free money\nbuy now\nf r e e\n微信\n加我好友\n优惠券\ncasino 2024\n")
            .unwrap(),
    );
    (rules, allow)
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (rules, allow) = &*RULES;
    // As a plain text, and as the `content` of a text message when it is JSON.
    let _ = every_pass(101, text, usize::MAX, rules, allow);
});
