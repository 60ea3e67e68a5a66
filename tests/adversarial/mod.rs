//! What the adversarial bench (`benches/adversarial.rs`) and `tests/linear_work.rs` both build:
//! texts of one repeated unit, and the engine's content rules with every pass switched on.

use floodgate::engine::ContentRules;
use floodgate::engine::keywords::KeywordList;
use floodgate::engine::links::{DomainList, LinkRules};

/// `unit` repeated to `bytes` bytes, cut back to a character boundary.
pub(crate) fn repeated(unit: &str, bytes: usize) -> String {
    let mut text = unit.repeat(bytes / unit.len() + 1);
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// The engine's rules with a small keyword list and both link lists: every pass runs.
pub(crate) fn rules() -> (ContentRules, DomainList) {
    let links = LinkRules {
        deny: DomainList::parse("evil.example, bit.ly").unwrap(),
        allow: DomainList::parse("example.org").unwrap(),
    };
    let allow = links.allow.clone();
    let rules = ContentRules::new(links);
    rules.replace_keywords(
        KeywordList::parse("free money\nbuy now\n微信\n优惠券\ncasino 2024\n").unwrap(),
    );
    (rules, allow)
}
