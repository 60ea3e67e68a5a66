//! Which text of an OpenIM message is judged: `content` decoded per contentType (docs/openim.md).
//!
//! Pure and lenient: content that is not the JSON its type promises is judged as plain text, and
//! content with nothing to judge yields `None`. It never fails a request.

use std::borrow::Cow;

use serde::Deserialize;

use super::campaign_keys::{Audience, CampaignKeys, campaign_keys};
use super::content_rules::ContentRules;
use super::fingerprint;
use super::folded::Folded;
use super::links::DomainList;

/// OpenIM's content types that carry something worth fingerprinting.
pub mod content_type {
    pub const TEXT: i32 = 101;
    pub const PICTURE: i32 = 102;
    pub const VOICE: i32 = 103;
    pub const VIDEO: i32 = 104;
    pub const FILE: i32 = 105;
    pub const AT_TEXT: i32 = 106;
    pub const CARD: i32 = 108;
    pub const LOCATION: i32 = 109;
    pub const CUSTOM: i32 = 110;
    pub const QUOTE: i32 = 114;
    pub const ADVANCED_TEXT: i32 = 117;
    pub const MARKDOWN: i32 = 118;
}

/// The union of the element fields we read; every other field is ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Element<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(rename = "userID", borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    video_url: Option<Cow<'a, str>>,
    #[serde(rename = "videoUUID", borrow)]
    video_uuid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_picture: Option<Picture<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Picture<'a> {
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
}

/// The text to judge for a message of `content_type` whose `content` field is `raw`.
pub fn judged_text(content_type: i32, raw: &str) -> Option<Cow<'_, str>> {
    use content_type::*;

    if raw.trim().is_empty() {
        return None;
    }
    if !raw.trim_start().starts_with('{') {
        return Some(Cow::Borrowed(raw));
    }
    let Ok(element) = serde_json::from_str::<Element<'_>>(raw) else {
        // Braces but not the JSON we expected: judge what the user typed.
        return Some(Cow::Borrowed(raw));
    };
    let text = match content_type {
        TEXT | MARKDOWN => element.content,
        AT_TEXT | QUOTE | ADVANCED_TEXT => element.text,
        CUSTOM => element.data,
        PICTURE => element.source_picture.and_then(|p| p.url.or(p.uuid)),
        VOICE | FILE => element.source_url.or(element.uuid),
        VIDEO => element.video_url.or(element.video_uuid),
        CARD => element.user_id,
        LOCATION => element.description,
        _ => None,
    };
    text.filter(|t| !t.trim().is_empty())
}

/// What the passes over one message text found: see [`every_pass`].
#[derive(Debug)]
pub struct Passes {
    /// Keyword and denied-link violations.
    pub violations: usize,
    pub fingerprint: Option<crate::store::Fingerprint>,
    /// The campaign keys as a one-to-one message, and as a group message.
    pub keys: [CampaignKeys; 2],
}

/// Every pass the engine makes over the text of a message's `content` — JSON decoding, the
/// cut at `max_text`, folding, keywords, links, normalisation, fingerprint, payload extractors
/// and MinHash — in the engine's order, without its store. For the fuzz target, the
/// adversarial benchmark and the linear-time tests: what one text costs, nothing else.
pub fn every_pass(
    content_type: i32,
    raw: &str,
    max_text: usize,
    rules: &ContentRules,
    allow: &DomainList,
) -> Option<Passes> {
    let text = judged_part(judged_text(content_type, raw)?, max_text);
    let folded = Folded::of(&text);
    let violations = rules.violations(&text, Some(&folded)).count();
    let normalised = fingerprint::normalise_folded(&folded);
    let fingerprint = fingerprint::of_normalised(&normalised, 10);
    let keys = [Audience::OneToOne, Audience::Group]
        .map(|audience| campaign_keys(&text, &normalised, allow, audience));
    Some(Passes {
        violations,
        fingerprint,
        keys,
    })
}

/// The part of a text the rules read: at most `max_text` bytes (`FLOODGATE_MAX_TEXT`), cut at
/// a character boundary. Applied once where the text to judge is taken, so that no rule can
/// read past it and a long text costs no more than its judged part.
pub fn judged_part(text: Cow<'_, str>, max_text: usize) -> Cow<'_, str> {
    let end = floor_char_boundary(&text, max_text);
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(&text[..end]),
        Cow::Owned(mut text) => {
            text.truncate(end);
            Cow::Owned(text)
        }
    }
}

/// The largest index at most `at` that is a character boundary of `text` (at most 3 steps
/// back: a UTF-8 character is at most 4 bytes).
pub(crate) fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(content_type: i32, raw: &str) -> Option<String> {
        judged_text(content_type, raw).map(Cow::into_owned)
    }

    #[test]
    fn text_and_markdown_use_content() {
        assert_eq!(
            judged(101, r#"{"content":"hi there"}"#).as_deref(),
            Some("hi there")
        );
        assert_eq!(
            judged(118, r#"{"content":"**bold**"}"#).as_deref(),
            Some("**bold**")
        );
    }

    #[test]
    fn at_text_quote_and_advanced_text_use_text() {
        let at = r#"{"text":"@bob look","atUserList":["bob"],"isAtSelf":false}"#;
        assert_eq!(judged(106, at).as_deref(), Some("@bob look"));
        let quote = r#"{"text":"new text","quoteMessage":{"textElem":{"content":"old"}}}"#;
        assert_eq!(judged(114, quote).as_deref(), Some("new text"));
        assert_eq!(
            judged(117, r#"{"text":"adv","messageEntityList":[]}"#).as_deref(),
            Some("adv")
        );
    }

    #[test]
    fn custom_uses_data() {
        let custom = r#"{"data":"{\"k\":1}","description":"d","extension":""}"#;
        assert_eq!(judged(110, custom).as_deref(), Some(r#"{"k":1}"#));
    }

    #[test]
    fn media_is_judged_by_url_or_uuid() {
        let picture =
            r#"{"sourcePicture":{"uuid":"u1","url":"https://x/p.png","size":1},"bigPicture":{}}"#;
        assert_eq!(judged(102, picture).as_deref(), Some("https://x/p.png"));
        assert_eq!(
            judged(102, r#"{"sourcePicture":{"uuid":"u1"}}"#).as_deref(),
            Some("u1")
        );
        assert_eq!(
            judged(103, r#"{"uuid":"v","sourceUrl":"https://x/a.mp3"}"#).as_deref(),
            Some("https://x/a.mp3")
        );
        assert_eq!(
            judged(104, r#"{"videoUUID":"vid","videoSize":3}"#).as_deref(),
            Some("vid")
        );
        assert_eq!(
            judged(105, r#"{"uuid":"f","fileName":"a.pdf"}"#).as_deref(),
            Some("f")
        );
        assert_eq!(
            judged(108, r#"{"userID":"u9","nickname":"n"}"#).as_deref(),
            Some("u9")
        );
        assert_eq!(
            judged(109, r#"{"description":"here","longitude":1.0}"#).as_deref(),
            Some("here")
        );
    }

    #[test]
    fn plain_and_malformed_content_is_judged_as_is() {
        assert_eq!(
            judged(101, "Hello, this is a test message").as_deref(),
            Some("Hello, this is a test message")
        );
        assert_eq!(judged(1, "plain").as_deref(), Some("plain"));
        assert_eq!(judged(101, "{not json").as_deref(), Some("{not json"));
        assert_eq!(
            judged(101, r#"{"content":5}"#).as_deref(),
            Some(r#"{"content":5}"#)
        );
    }

    #[test]
    fn nothing_to_judge_yields_none() {
        assert_eq!(judged(101, ""), None);
        assert_eq!(judged(101, r#"{"content":""}"#), None);
        assert_eq!(judged(107, r#"{"title":"merged"}"#), None);
        assert_eq!(judged(101, r#"{"other":"x"}"#), None);
    }

    #[test]
    fn the_judged_part_is_cut_at_a_character_boundary() {
        let cut = |text: &str, max| judged_part(Cow::Borrowed(text), max).into_owned();
        assert_eq!(cut("hello", 64), "hello");
        assert_eq!(cut("hello", 5), "hello");
        assert_eq!(cut("hello", 3), "hel");
        // `微` is three bytes: a cut inside it keeps the characters before it whole.
        assert_eq!(cut("a微信", 1), "a");
        assert_eq!(cut("a微信", 2), "a");
        assert_eq!(cut("a微信", 3), "a");
        assert_eq!(cut("a微信", 4), "a微");
        assert_eq!(judged_part(Cow::Owned("a微信".to_string()), 5), "a微");
        assert_eq!(cut("😀", 3), "");
    }

    #[test]
    fn escaped_text_is_decoded() {
        assert_eq!(
            judged(101, r#"{"content":"a\u003cb\"c"}"#).as_deref(),
            Some("a<b\"c")
        );
    }
}
