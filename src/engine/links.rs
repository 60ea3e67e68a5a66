//! Links in message text, judged against the operator's domain lists (`FLOODGATE_LINK_DENY`,
//! `FLOODGATE_LINK_ALLOW`, parsed into [`DomainList`]s by `config`).
//!
//! Links are found after NFKC (so fullwidth `ｅｖｉｌ．ｅｘａｍｐｌｅ` is a link), with or
//! without a scheme, and their host is compared in its ASCII (punycode) form, so an IDN and its
//! `xn--` spelling are the same domain. A domain on a list covers its subdomains; a link whose
//! host is covered by an allowed domain more specific than the denied one is not denied
//! (`deny example.com, allow docs.example.com`).

use linkify::{LinkFinder, LinkKind};
use unicode_normalization::UnicodeNormalization;

pub use crate::domains::DomainList;

/// The deny and allow lists together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkRules {
    pub deny: DomainList,
    pub allow: DomainList,
}

impl LinkRules {
    /// The first denied host `text` links to.
    pub fn denied_host(&self, text: &str) -> Option<String> {
        if self.deny.is_empty() {
            return None;
        }
        hosts(text).into_iter().find(|host| {
            self.deny.covers(host).is_some_and(|denied| {
                self.allow
                    .covers(host)
                    .is_none_or(|allowed| allowed < denied)
            })
        })
    }
}

/// The hosts of every link in `text`, in ASCII form.
pub fn hosts(text: &str) -> Vec<String> {
    urls(text)
        .filter_map(|url| url.host_str().map(trim_host))
        .collect()
}

/// Every distinct link in `text` (found after NFKC, with or without a scheme), parsed, in the
/// order each first appears. Cheap for text that cannot hold one: a link needs a dot, which
/// NFKC makes only from a few characters.
///
/// A link written again is skipped, not parsed again: every reader of these links (the deny
/// check, the campaign keys) asks whether some link matches or which distinct targets there
/// are, so a repeat adds nothing, and 64 KiB of one short link repeated (`http://a@b.1 …`)
/// made `url::Url::parse` most of a whole decision. The set borrows from the searched text,
/// so it costs one hash per link: linear in the text.
pub fn urls(text: &str) -> impl Iterator<Item = url::Url> {
    links_read(text, parse)
}

/// [`urls`], each with the link as written (after NFKC): for the campaign keys, which weigh a
/// page's address as the text shows it. The deny check has no use for the copy.
pub fn urls_as_written(text: &str) -> impl Iterator<Item = (url::Url, String)> {
    links_read(text, |link| Some((parse(link)?, link.to_string())))
}

/// What `read` makes of each distinct link of `text` (see [`urls`]), in order.
fn links_read<T>(text: &str, read: impl Fn(&str) -> Option<T>) -> std::vec::IntoIter<T> {
    let may_link = text.contains(['.', '．', '﹒', '․']);
    let normalised = if may_link { nfkc(text) } else { "".into() };
    let searched = without_restarts(&normalised);
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(false);
    let mut seen = std::collections::HashSet::new();
    let links: Vec<T> = finder
        .links(&searched)
        .filter(|link| seen.insert(link.as_str()))
        .filter_map(|link| read(link.as_str()))
        .collect();
    links.into_iter()
}

/// The longest run of host characters that can hold one host name and port (253 + `:65535`);
/// only longer runs are changed by [`without_restarts`].
const MAX_HOST_RUN: usize = 260;

/// Whether linkify's scan of a host name without a scheme goes on over `c`: letters, digits,
/// any non-ASCII character, and `-`, `.`, `_`, `~`, `:`.
fn continues_host(c: char) -> bool {
    c.is_ascii_alphanumeric() || !c.is_ascii() || matches!(c, '-' | '.' | '_' | '~' | ':')
}

/// `text` with every `_`, `~` and `:` in a run of host characters longer than
/// [`MAX_HOST_RUN`] read as a space.
///
/// linkify tries each `.` as a link without a scheme: it reads back over one label and, when
/// that label starts after `_`, `~` or `:`, forward to the end of the run of host characters;
/// when that fails (the last label is no top-level domain, say), the next `.` reads the same
/// run again. `a.a:a.a:…` cost quadratic time that way. A host name never holds `_` or `~`,
/// and `:` only before its port, so in a run too long to be one host nothing is lost by
/// reading them as spaces, and every `.` then reads at most up to the next space: linear.
fn without_restarts(text: &str) -> std::borrow::Cow<'_, str> {
    let mut run = 0;
    let mut long_run_with_restart = false;
    let mut restart_in_run = false;
    for c in text.chars() {
        if continues_host(c) {
            run += c.len_utf8();
            restart_in_run |= matches!(c, '_' | '~' | ':');
            if run > MAX_HOST_RUN && restart_in_run {
                long_run_with_restart = true;
                break;
            }
        } else {
            (run, restart_in_run) = (0, false);
        }
    }
    if !long_run_with_restart {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if continues_host(c) && at < text.len() {
            continue;
        }
        // `start..at` is a run of host characters.
        let run = &text[start..at];
        if run.len() > MAX_HOST_RUN {
            out.extend(run.chars().map(|c| match c {
                '_' | '~' | ':' => ' ',
                c => c,
            }));
        } else {
            out.push_str(run);
        }
        if at < text.len() {
            out.push(c);
        }
        start = at + c.len_utf8();
    }
    out.into()
}

/// `text` in NFKC, borrowed when it already is (all ASCII, and most CJK text): the quick check
/// costs a fraction of normalising.
pub fn nfkc(text: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{IsNormalized, is_nfkc_quick};
    if text.chars().all(plainly_nfkc) || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        text.into()
    } else {
        text.nfkc().collect::<String>().into()
    }
}

/// Characters NFKC leaves alone and chat text is mostly made of, told without a table lookup:
/// ASCII, Latin-1 letters, Greek and Cyrillic letters, CJK ideographs and punctuation, kana and
/// Hangul syllables.
pub(crate) fn plainly_nfkc(c: char) -> bool {
    matches!(c,
        '\0'..='\x7f'
        | '\u{c0}'..='\u{d6}'
        | '\u{d8}'..='\u{f6}'
        | '\u{f8}'..='\u{ff}'
        | '\u{391}'..='\u{3a9}'
        | '\u{3b1}'..='\u{3c9}'
        | '\u{400}'..='\u{4ff}'
        | '\u{3001}'..='\u{3002}'
        | '\u{3008}'..='\u{3011}'
        | '\u{3041}'..='\u{3096}'
        | '\u{30a1}'..='\u{30fa}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{ac00}'..='\u{d7a3}')
}

fn trim_host(host: &str) -> String {
    host.trim_end_matches('.').to_string()
}

fn parse(link: &str) -> Option<url::Url> {
    if link.contains("://") {
        url::Url::parse(link).ok()
    } else {
        url::Url::parse(&format!("http://{link}")).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(deny: &str, allow: &str) -> LinkRules {
        LinkRules {
            deny: DomainList::parse(deny).unwrap(),
            allow: DomainList::parse(allow).unwrap(),
        }
    }

    #[test]
    fn denied_domains_and_their_subdomains_are_found_however_the_link_is_written() {
        let rules = rules("evil.example, 例え.jp", "");
        for text in [
            "see https://evil.example/path",
            "see evil.example/offer?x=1",
            "see http://www.evil.example:8080/x",
            "see EVIL.EXAMPLE",
            "see ｅｖｉｌ．ｅｘａｍｐｌｅ／ｘ",
            "see http://例え.jp/x",
            "see xn--r8jz45g.jp",
            "see sub.xn--r8jz45g.jp/a",
            "see https://good.example@evil.example/",
            "see https://user:pw@evil.example:443/x",
        ] {
            assert!(rules.denied_host(text).is_some(), "{text}");
        }
        for text in [
            "see notevil.example",
            "see evil.example.org",
            "evil example",
            "see https://good.example/evil.example",
        ] {
            assert_eq!(rules.denied_host(text), None, "{text}");
        }
    }

    #[test]
    fn a_more_specific_allowed_domain_wins() {
        let rules = rules("example.com", "docs.example.com");
        assert!(rules.denied_host("see docs.example.com/guide").is_none());
        assert!(rules.denied_host("see shady.example.com").is_some());
        let broad = rules_for_broad_allow();
        assert!(broad.denied_host("see bad.example.com").is_some());
    }

    fn rules_for_broad_allow() -> LinkRules {
        rules("bad.example.com", "example.com")
    }

    #[test]
    fn only_runs_too_long_for_a_host_lose_their_restarts() {
        let short = "see a_b.example.com:8080/x_y and me:you";
        assert_eq!(without_restarts(short), short);
        let long = format!("{}a.b:c_d~e f:g", "x".repeat(MAX_HOST_RUN));
        assert_eq!(
            without_restarts(&long),
            format!("{}a.b c d e f:g", "x".repeat(MAX_HOST_RUN))
        );
        // The links a long run held are still found.
        let text = format!("{}_evil.example:x", "加".repeat(100));
        assert_eq!(hosts(&text), vec!["evil.example"]);
    }

    #[test]
    fn a_link_written_again_is_parsed_once_and_still_denied() {
        let text = "see http://a@b.1 and evil.example/x ".repeat(1000);
        assert_eq!(urls(&text).count(), 1);
        assert_eq!(hosts(&text), vec!["evil.example"]);
        let rules = rules("evil.example", "");
        assert_eq!(rules.denied_host(&text).as_deref(), Some("evil.example"));
        // Distinct links are all kept, in the order each first appears.
        let text = "a.example b.example a.example c.example b.example";
        assert_eq!(hosts(text), vec!["a.example", "b.example", "c.example"]);
    }
}
