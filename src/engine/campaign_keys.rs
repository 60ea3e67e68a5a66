//! The keys one message's copies are counted under by the campaign rule: what stays the same
//! across a spam run whose words vary.
//!
//! A spam run varies each copy (a reference number, a rotated short link, swapped look-alikes)
//! but keeps its **payload** — the link, phone number, e-mail or messenger handle the reader is
//! meant to act on — or stays a **near-duplicate** of the other copies. A message therefore has
//! up to [`MAX_KEYS`] keys:
//!
//! - payload keys, at any length: a link's registrable domain (Public Suffix List) plus path and
//!   query (domains of `FLOODGATE_LINK_ALLOW` never count), an e-mail address, a phone number (7
//!   to 15 digits, dates excluded), a messenger ID after "WeChat"/"微信"/"VX"/"QQ"/"Telegram"/…,
//!   and in one-to-one messages an `@name` handle (in a group it is a mention);
//! - for a text long enough to tell ([`LONG_TEXT`] weighted characters): [`BANDS`] MinHash LSH
//!   band keys over character 3-grams of the normalised text, so near-duplicates share a key
//!   (exact copies share all of them).
//!
//! A short text without a payload has no key at all: "is this still available?", "Merry
//! Christmas!!" or "see you at 5" are what strangers and friends legitimately say to each
//! other, and the campaign rule cannot tell them apart from spam (repeat and fanout still apply).
//! Two different short texts are never merged unless they carry the same payload.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::content::floor_char_boundary;
use super::folded::is_cjk_ideograph;
use super::links::{self, DomainList};

/// At most this many keys per message: each is a set the store reads and writes.
pub const MAX_KEYS: usize = 6;
/// Normalised characters (a CJK ideograph counts 2) from which near-duplicate keys are made.
pub const LONG_TEXT: usize = 40;
/// LSH bands, each of [`ROWS`] MinHash values: a pair of texts whose 3-gram sets have Jaccard
/// similarity s shares at least one band with probability 1-(1-s^ROWS)^BANDS (0.99 at s=0.9,
/// 0.88 at s=0.8, 0.33 at s=0.5, 0.08 at s=0.3). Three bands, not more: each is a set the
/// store reads and writes for every long cold message. Measured in docs/detection.md.
pub const BANDS: usize = 3;
pub const ROWS: usize = 3;
/// Payload keys kept per message (the rest of the budget goes to the bands).
const MAX_PAYLOADS: usize = MAX_KEYS - BANDS;

const KEY_SEED: u64 = 0x6361_6d70_6169_676e; // "campaign"

/// A campaign key: the hash the store counts distinct cold senders under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CampaignKey(pub u64);

/// What a payload is, mixed into its key so an e-mail and a link never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payload {
    Link = 1,
    Email = 2,
    Phone = 3,
    Handle = 4,
    Band = 5,
}

fn key(kind: Payload, bytes: &[u8]) -> CampaignKey {
    CampaignKey(xxh3_64_with_seed(bytes, KEY_SEED ^ kind as u64))
}

/// What a key was made from, as moderators see it (`GET /v1/campaigns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Link,
    Phone,
    Email,
    Handle,
    NearDuplicate,
}

impl KeyKind {
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Link => "link",
            KeyKind::Phone => "phone",
            KeyKind::Email => "email",
            KeyKind::Handle => "handle",
            KeyKind::NearDuplicate => "near-duplicate",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyKind> {
        [
            KeyKind::Link,
            KeyKind::Phone,
            KeyKind::Email,
            KeyKind::Handle,
            KeyKind::NearDuplicate,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }

    fn of(payload: Payload) -> KeyKind {
        match payload {
            Payload::Link => KeyKind::Link,
            Payload::Email => KeyKind::Email,
            Payload::Phone => KeyKind::Phone,
            Payload::Handle => KeyKind::Handle,
            Payload::Band => KeyKind::NearDuplicate,
        }
    }
}

/// A key's kind and the payload it was made from (empty for a near-duplicate, whose display is
/// a sample of the text): kept for the moderators' lists, never read by a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub kind: KeyKind,
    pub display: Box<str>,
}

/// The keys of one message, at most [`MAX_KEYS`], without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignKeys {
    keys: Vec<CampaignKey>,
    /// Beside each key, in the same order.
    info: Vec<KeyInfo>,
    has_payload: bool,
}

impl CampaignKeys {
    pub fn as_slice(&self) -> &[CampaignKey] {
        &self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the text carries a payload (a link, phone number, e-mail or messenger ID): what
    /// a pitch is made to deliver, and small talk is not.
    pub fn has_payload(&self) -> bool {
        self.has_payload
    }

    /// Each key's kind and display, in the order of [`CampaignKeys::as_slice`].
    pub fn info(&self) -> &[KeyInfo] {
        &self.info
    }

    /// Keeps the keys `keep` accepts (a moderator's allowances); a text left with no payload
    /// key is small talk again.
    pub fn retain(&mut self, keep: impl Fn(CampaignKey) -> bool) {
        let mut i = 0;
        while i < self.keys.len() {
            if keep(self.keys[i]) {
                i += 1;
            } else {
                self.keys.remove(i);
                self.info.remove(i);
            }
        }
        self.has_payload = self
            .info
            .iter()
            .any(|info| info.kind != KeyKind::NearDuplicate);
    }

    fn push(&mut self, key: CampaignKey, info: KeyInfo) {
        if self.keys.len() < MAX_KEYS && !self.keys.contains(&key) {
            self.keys.push(key);
            self.info.push(info);
        }
    }
}

/// Where a message goes: an `@name` is a handle only in a one-to-one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    OneToOne,
    Group,
    /// The text of a friend request or a join application: payload keys only. Clients fill
    /// these texts from templates ("我是群聊“…”的…", "Hi, I'm …"), so near-duplicates are what
    /// strangers legitimately send; a shared payload is what a spam run sends.
    Request,
}

/// The campaign keys of `text` (`normalised` is its normalised form,
/// `fingerprint::normalise_folded`).
pub fn campaign_keys(
    text: &str,
    normalised: &str,
    allow: &DomainList,
    audience: Audience,
) -> CampaignKeys {
    let mut keys = CampaignKeys::default();
    let mut payloads = Payloads::default();
    payloads.find(text, allow, audience);
    for (payload, info) in payloads.0.into_iter().take(MAX_PAYLOADS) {
        keys.push(payload, info);
    }
    keys.has_payload = !keys.is_empty();
    // A short text's exact copies need no key of their own: with a payload they share its
    // key, and without one they are what people say to each other.
    if audience != Audience::Request && weighted_len(normalised) >= LONG_TEXT {
        for band in bands(normalised) {
            let info = KeyInfo {
                kind: KeyKind::NearDuplicate,
                display: Box::default(),
            };
            keys.push(band, info);
        }
    }
    keys
}

fn weighted_len(normalised: &str) -> usize {
    normalised
        .chars()
        .map(|c| if is_cjk_ideograph(c) { 2 } else { 1 })
        .sum()
}

/// The payload keys of a text, in the order found, without duplicates.
#[derive(Default)]
struct Payloads(Vec<(CampaignKey, KeyInfo)>);

impl Payloads {
    fn add(&mut self, kind: Payload, bytes: &[u8]) {
        let key = key(kind, bytes);
        if !self.0.iter().any(|(k, _)| *k == key) && self.0.len() < MAX_KEYS {
            let info = KeyInfo {
                kind: KeyKind::of(kind),
                display: String::from_utf8_lossy(bytes).into(),
            };
            self.0.push((key, info));
        }
    }

    fn find(&mut self, text: &str, allow: &DomainList, audience: Audience) {
        for target in link_targets(text, allow) {
            self.add(Payload::Link, target.as_bytes());
        }
        if may_hold_payload(text) {
            self.find_in_text(text, audience);
        }
    }

    /// E-mails, messenger IDs and phone numbers.
    fn find_in_text(&mut self, text: &str, audience: Audience) {
        // Read from the NFKC text, lowercased: fullwidth digits and letters are plain ones there.
        let text = nfkc_lower(text);
        for email in emails(&text) {
            self.add(Payload::Email, email.as_bytes());
        }
        for handle in messenger_ids(&text, audience) {
            self.add(Payload::Handle, handle.as_bytes());
        }
        for phone in phone_numbers(&text) {
            self.add(Payload::Phone, phone.as_bytes());
        }
    }
}

/// Whether an e-mail, messenger ID or phone number may be in `text`: false only for text NFKC
/// leaves as it is (so nothing can turn into an `@`, a digit or a marker) without an `@`, a
/// marker or 7 digits. Most chat text, checked in one pass instead of normalised and scanned.
fn may_hold_payload(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        if !links::plainly_nfkc(c) || c == '@' {
            return true;
        }
        digits += usize::from(c.is_ascii_digit());
    }
    digits >= 7 || MARKERS_ANY_CASE.is_match(text)
}

/// The markers in any ASCII case, to look for them before lowercasing.
static MARKERS_ANY_CASE: std::sync::LazyLock<aho_corasick::AhoCorasick> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(MESSENGER_MARKERS)
            .expect("the markers are valid patterns")
    });

/// The text the payload extractors read: NFKC, ASCII letters lowercased (every payload they
/// find is ASCII). Fullwidth forms, the usual disguise of digits and IDs in CJK text, are
/// mapped first: what remains is then mostly NFKC already, and skips the normaliser.
fn nfkc_lower(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let halfwidth: String = text
        .chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect();
    let mut out = links::nfkc(&halfwidth).into_owned();
    out.make_ascii_lowercase();
    out
}

/// Each link's registrable domain plus its path and query (`bit.ly/x1`, `example.com/promo`),
/// skipping allowed domains. E-mail addresses are not links here.
pub fn link_targets(text: &str, allow: &DomainList) -> Vec<String> {
    links::urls(text)
        .filter_map(|url| {
            let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
            if allow.contains(&host) {
                return None;
            }
            let domain = psl::domain(host.as_bytes())
                .and_then(|d| std::str::from_utf8(d.as_bytes()).ok().map(str::to_string))
                .unwrap_or(host);
            let path = url.path().trim_end_matches('/');
            let mut target = match url.query() {
                Some(query) => format!("{domain}{path}?{query}"),
                None => format!("{domain}{path}"),
            };
            target.truncate(floor_char_boundary(&target, MAX_LINK_TARGET));
            Some(target)
        })
        .collect()
}

/// The longest e-mail local part (RFC 5321): the extractor reads at most this far back from an
/// `@`, so a run of address characters before each of many `@`s is read once, not once per `@`.
const MAX_EMAIL_LOCAL: usize = 64;
/// The longest domain name (RFC 1035): an `@`'s domain is read at most this far.
const MAX_EMAIL_DOMAIN: usize = 253;
/// The longest run of ID characters read after a messenger marker. An ID is 4 to 40 characters;
/// a longer run is not one (a few dots or dashes around it are trimmed). Reading every run
/// whole from every marker made `tg.tg.tg…` cost quadratic time.
const MAX_ID_RUN: usize = 64;
/// Separators (`: `, `：`, `号`, `#`…) skipped between a marker and its ID.
const MAX_ID_SEPARATORS: usize = 16;
/// The longest `@name` handle; a longer name is not one.
const MAX_HANDLE: usize = 32;
/// The longest phone number, in digits (E.164).
const MAX_PHONE_DIGITS: usize = 15;
/// The longest link target kept as a key, in bytes: targets are hashed, and a longer path or
/// query adds nothing a spam run varies that its first 2 KB does not show.
const MAX_LINK_TARGET: usize = 2048;

fn is_email_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_email_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// `name@domain.tld` (lowercase text), borrowed from it unless a dot had to be trimmed
/// before the `@`.
fn emails(text: &str) -> Vec<std::borrow::Cow<'_, str>> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        // Address characters are ASCII: byte offsets are character offsets.
        let local_start = at
            - text.as_bytes()[..at]
                .iter()
                .rev()
                .take(MAX_EMAIL_LOCAL)
                .take_while(|&&b| is_email_local(char::from(b)))
                .count();
        let domain_end = at
            + 1
            + text.as_bytes()[at + 1..]
                .iter()
                .take(MAX_EMAIL_DOMAIN)
                .take_while(|&&b| is_email_domain(char::from(b)))
                .count();
        let local = text[local_start..at].trim_matches('.');
        let domain = text[at + 1..domain_end].trim_matches(['.', '-']);
        if !local.is_empty() && domain.contains('.') && !domain.ends_with('.') {
            // Both are slices of `text`: the address is one slice when they meet at the `@`.
            let start = local.as_ptr() as usize - text.as_ptr() as usize;
            let end = domain.as_ptr() as usize - text.as_ptr() as usize + domain.len();
            found.push(
                if start + local.len() == at && end - domain.len() == at + 1 {
                    std::borrow::Cow::Borrowed(&text[start..end])
                } else {
                    format!("{local}@{domain}").into()
                },
            );
        }
    }
    found
}

/// Words that announce a messenger ID ("WeChat: abc123", "微信：abc123", "加VX abc123").
const MESSENGER_MARKERS: &[&str] = &[
    "wechat", "weixin", "微信", "vx", "v信", "wx", "qq", "telegram", "whatsapp", "line id", "tg",
    "signal", "skype", "kakao",
];

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The markers, found in one pass over the text.
/// A DFA: a text dense with markers (`tg.tg.…`) is read at a fixed cost a byte.
static MARKERS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(MESSENGER_MARKERS)
        .expect("the markers are valid patterns")
});

/// The run of ID characters from a position, each byte read once however many markers stand
/// in one run (`tg.tg.tg…` is one run of ID characters with a marker every three bytes): the
/// run already read is remembered, and a later start inside it reads on from its end.
#[derive(Default)]
struct IdRuns {
    /// Every byte in `from..to` is an ID character.
    from: usize,
    to: usize,
    /// The byte at `to` is not an ID character (or the text ends there).
    ended: bool,
}

impl IdRuns {
    /// The length of the run of ID characters (ASCII: bytes are characters) starting at
    /// `start`, or `MAX_ID_RUN + 1` when it is longer. `start` never decreases between calls.
    fn length_at(&mut self, text: &[u8], start: usize) -> usize {
        if !(self.from..=self.to).contains(&start) {
            *self = IdRuns {
                from: start,
                to: start,
                ended: false,
            };
        }
        while !self.ended && self.to - start <= MAX_ID_RUN {
            match text.get(self.to) {
                Some(&b) if is_id_char(char::from(b)) => self.to += 1,
                _ => self.ended = true,
            }
        }
        (self.to - start).min(MAX_ID_RUN + 1)
    }
}

/// Messenger IDs after a marker, and `@name` handles in one-to-one messages (lowercase text).
fn messenger_ids(text: &str, audience: Audience) -> Vec<&str> {
    let mut found = Vec::new();
    let mut runs = IdRuns::default();
    for hit in MARKERS.find_iter(text) {
        let (marker, at) = (MESSENGER_MARKERS[hit.pattern().as_usize()], hit.start());
        // An ASCII marker must be a word of its own ("tg", not "stage").
        let before = text[..at].chars().next_back();
        if marker.is_ascii() && before.is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let rest = &text[at + marker.len()..];
        // …and end before the ID, unless the ID is a number ("vx123456", "qq12345678").
        if marker.is_ascii() && rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let skipped: usize = rest
            .chars()
            .take(MAX_ID_SEPARATORS)
            .take_while(|c| matches!(c, ' ' | ':' | '：' | '-' | '=' | '号' | '號' | '#' | '@'))
            .map(char::len_utf8)
            .sum();
        let start = text.len() - rest.len() + skipped;
        let run = runs.length_at(text.as_bytes(), start);
        if run > MAX_ID_RUN {
            continue;
        }
        let id = text[start..start + run].trim_matches(['.', '-']);
        if (4..=40).contains(&id.len()) && id.chars().any(|c| c.is_ascii_alphanumeric()) {
            // The ID alone: "WeChat: x", "微信 x" and "VX x" advertise the same account.
            found.push(id);
        }
    }
    if audience == Audience::OneToOne {
        for (at, _) in text.match_indices('@') {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| is_email_local(c) || c == '@') {
                continue; // an e-mail address
            }
            let length = text.as_bytes()[at + 1..]
                .iter()
                .take(MAX_HANDLE + 1)
                .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
                .count();
            if (3..=MAX_HANDLE).contains(&length) {
                found.push(&text[at + 1..at + 1 + length]);
            }
        }
    }
    found
}

/// Runs of 7 to 15 digits, allowing one separator (space, `-`, `.`, `(`, `)`, `/`) between
/// digit groups and a leading `+`; the key is the digits alone. A run that reads as a date
/// (`2026-12-02`, `02.12.2026`, `20261202`) is not a phone number.
fn phone_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut digits = String::new();
    let mut groups: Vec<usize> = Vec::new();
    // Separator characters since the last digit: `) ` and ` (` are one separator.
    let mut gap = 0;
    // Digits of the current run, counted past the ones kept: a run longer than a phone number
    // is not one, and is not kept (nor are its groups) however long it goes.
    let mut run = 0;
    let mut flush = |digits: &mut String, groups: &mut Vec<usize>, run: &mut usize| {
        if (7..=MAX_PHONE_DIGITS).contains(run) && !looks_like_date(digits, groups) {
            found.push(std::mem::take(digits));
        }
        digits.clear();
        groups.clear();
        *run = 0;
    };
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if c.is_ascii_digit() {
            // A digit glued to a letter is part of a word (a code, `ref48213907`), not a number.
            if digits.is_empty() && previous.is_some_and(char::is_alphanumeric) {
                previous = Some(c);
                continue;
            }
            run += 1;
            if run <= MAX_PHONE_DIGITS {
                if groups.is_empty() || gap > 0 {
                    groups.push(0);
                }
                if let Some(group) = groups.last_mut() {
                    *group += 1;
                }
                digits.push(c);
            }
            gap = 0;
        } else if !digits.is_empty() && gap < 2 && matches!(c, ' ' | '-' | '.' | '(' | ')' | '/') {
            gap += 1;
        } else if digits.is_empty() && matches!(c, '+' | '(') {
        } else {
            if gap == 0 && !digits.is_empty() && c.is_alphanumeric() {
                // Digits glued to a following word are a code, not a number.
                digits.clear();
                groups.clear();
                run = 0;
            }
            if !digits.is_empty() {
                flush(&mut digits, &mut groups, &mut run);
            }
            gap = 0;
        }
        previous = Some(c);
    }
    flush(&mut digits, &mut groups, &mut run);
    found
}

fn looks_like_date(digits: &str, groups: &[usize]) -> bool {
    let year = |s: &str| matches!(&s[..2], "19" | "20");
    match groups {
        [8] => year(digits),
        [4, 2, 2] | [4, 1, 1] | [4, 1, 2] | [4, 2, 1] => year(digits),
        [2, 2, 4] | [1, 2, 4] | [2, 1, 4] | [1, 1, 4] => year(&digits[digits.len() - 4..]),
        _ => false,
    }
}

/// The LSH band keys of a normalised text: [`BANDS`] bands of [`ROWS`] MinHash values over its
/// character 3-grams. One-permutation MinHash (Li, Owen & Zhang 2012): each 3-gram is hashed
/// once, the hash's high bits pick one of the `BANDS * ROWS` bins and its low bits are the
/// value, each bin keeping its minimum. An empty bin borrows from the next non-empty one,
/// marked with the distance (Shrivastava & Li 2014), so two texts fill their gaps alike. The
/// chance two texts agree on a bin is their Jaccard similarity, as for k separate hash
/// functions, at one hash per 3-gram instead of k.
fn bands(normalised: &str) -> [CampaignKey; BANDS] {
    const BINS: usize = BANDS * ROWS;
    const EMPTY: u64 = u64::MAX;
    let mut minima = [EMPTY; BINS];
    let mut chars = normalised.chars();
    let (mut first, mut second) = (chars.next().unwrap_or(' '), chars.next().unwrap_or(' '));
    for third in chars {
        let packed = (first as u64) << 42 | (second as u64) << 21 | third as u64;
        let hash = mix(packed ^ KEY_SEED);
        let bin = (((hash >> 32) * BINS as u64) >> 32) as usize;
        let value = hash & 0xffff_ffff;
        minima[bin] = minima[bin].min(value);
        (first, second) = (second, third);
    }
    let filled = minima;
    for (bin, minimum) in minima.iter_mut().enumerate() {
        if *minimum == EMPTY {
            let borrowed = (1..BINS)
                .map(|distance| (distance, filled[(bin + distance) % BINS]))
                .find(|&(_, value)| value != EMPTY);
            if let Some((distance, value)) = borrowed {
                *minimum = (distance as u64) << 32 | value;
            }
        }
    }
    std::array::from_fn(|band| {
        let mut bytes = [0u8; 8 * ROWS + 1];
        bytes[0] = band as u8;
        for row in 0..ROWS {
            let value = minima[band * ROWS + row];
            bytes[1 + 8 * row..9 + 8 * row].copy_from_slice(&value.to_le_bytes());
        }
        key(Payload::Band, &bytes)
    })
}

/// splitmix64's finaliser: a fast, well-mixed 64-bit permutation.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fingerprint;

    fn keys_of(text: &str, audience: Audience) -> Vec<CampaignKey> {
        let normalised = fingerprint::normalise(text);
        campaign_keys(text, &normalised, &DomainList::default(), audience)
            .as_slice()
            .to_vec()
    }

    fn keys(text: &str) -> Vec<CampaignKey> {
        keys_of(text, Audience::OneToOne)
    }

    fn share_a_key(a: &str, b: &str) -> bool {
        let b = keys(b);
        keys(a).iter().any(|k| b.contains(k))
    }

    #[test]
    fn short_texts_without_a_payload_have_no_key() {
        for text in [
            "Merry Christmas!!",
            "Happy birthday to you, my dear friend!",
            "Hi, is this still available?",
            "see you at 5",
            "我明天去北京",
            "ok",
        ] {
            assert!(keys(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn different_short_texts_are_never_merged() {
        let pairs = [
            ("see you at 5", "see you at 6"),
            ("我明天去北京", "我明天去南京"),
            ("call me at 555 123 4567", "call me at 555 123 4568"),
            ("visit example.com/a now", "visit example.com/b now"),
        ];
        for (a, b) in pairs {
            assert!(!share_a_key(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn links_count_by_registrable_domain_and_path() {
        let allow = DomainList::parse("docs.example.org").unwrap();
        assert_eq!(
            link_targets(
                "go to https://www.shop.example.co.uk/deal/?x=1 or ｂｉｔ．ｌｙ／Ab1 or docs.example.org/a",
                &allow
            ),
            vec!["example.co.uk/deal?x=1", "bit.ly/Ab1"]
        );
        assert_eq!(
            link_targets("t.me/spamchannel and wa.me/15551234567", &allow),
            vec!["t.me/spamchannel", "wa.me/15551234567"]
        );
        // The same target written differently is one payload.
        assert!(share_a_key(
            "Claim your prize at http://promo.example.com/win",
            "prize waiting: PROMO.example.com/win/ hurry"
        ));
        assert!(!share_a_key("see bit.ly/x1", "see bit.ly/x2"));
    }

    #[test]
    fn allowed_domains_are_never_payload() {
        let allow = DomainList::parse("example.com").unwrap();
        let text = "read https://example.com/guide please";
        let normalised = fingerprint::normalise(text);
        assert!(campaign_keys(text, &normalised, &allow, Audience::OneToOne).is_empty());
    }

    #[test]
    fn emails_phones_and_handles_are_found() {
        assert_eq!(
            emails(&nfkc_lower("write to Deals.Team+x@Example.com now")),
            vec!["deals.team+x@example.com"]
        );
        assert_eq!(
            phone_numbers("call +1 (555) 123-4567 or 555.987.6543!"),
            vec!["15551234567", "5559876543"]
        );
        assert_eq!(
            phone_numbers("１３８００１３８０００"),
            Vec::<String>::new()
        ); // not NFKC yet
        assert_eq!(
            phone_numbers(&nfkc_lower("１３８００１３８０００")),
            vec!["13800138000"]
        );
        for not_phone in [
            "meet on 2026-12-02",
            "on 02.12.2026 at noon",
            "date 20261202",
            "ref48213907",
            "order 123456",
            "1,000,000 dollars",
            "10:30 tomorrow",
        ] {
            assert!(phone_numbers(not_phone).is_empty(), "{not_phone}");
        }
        assert_eq!(
            messenger_ids(
                &nfkc_lower("加微信：abc_123 或 VX: spam-888"),
                Audience::Group
            ),
            vec!["abc_123", "spam-888"]
        );
        assert_eq!(
            messenger_ids("wechat id shop123", Audience::Group),
            Vec::<String>::new()
        );
        assert_eq!(
            messenger_ids("add me on telegram: @cheapdeals", Audience::OneToOne),
            vec!["cheapdeals", "cheapdeals"]
        );
        assert!(messenger_ids("@alice thanks!", Audience::Group).is_empty());
        assert!(messenger_ids("stage 1234567", Audience::Group).is_empty());
        assert_eq!(
            messenger_ids("加vx123456 qq12345678", Audience::Group),
            vec!["123456", "12345678"]
        );
    }

    #[test]
    fn near_duplicates_of_a_long_text_share_a_key_and_different_ones_do_not() {
        let base =
            "Congratulations! You have been selected for a free iPhone 15, reply to claim it today";
        let mut shared = 0;
        for n in 0..200 {
            let copy = format!("{base} ref {}", 10_000 + n * 7919 % 90_000);
            shared += usize::from(share_a_key(base, &copy));
        }
        assert!(shared >= 190, "{shared} of 200 copies share a band");
        assert!(!share_a_key(
            "The meeting about the quarterly budget moved to Thursday afternoon",
            "Can you pick up the kids from school today, I am stuck at work"
        ));
    }

    proptest::proptest! {
        /// The quick check never hides a payload the full extraction would find.
        #[test]
        fn the_quick_check_loses_no_payload(
            text in "([a-zA-Z0-9 @.:+\\-]|微信|ＶＸ|ｗｅｃｈａｔ|１|２|①|𝟕|＠|é|я|α|好){0,40}"
        ) {
            let mut full = Payloads::default();
            full.find_in_text(&text, Audience::OneToOne);
            if !full.0.is_empty() {
                proptest::prop_assert!(may_hold_payload(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn each_key_keeps_its_kind_and_what_it_was_made_from() {
        let text = "write to deals@shop.xyz or see shop.xyz/promo?utm_source=x, call 555 123 4567, \
                    and this text is long enough to be a near-duplicate too";
        let normalised = fingerprint::normalise_folded(&crate::engine::folded::Folded::of(text));
        let keys = campaign_keys(
            text,
            &normalised,
            &DomainList::default(),
            Audience::OneToOne,
        );
        assert_eq!(keys.info().len(), keys.as_slice().len());
        let shown: Vec<(&str, &str)> = keys
            .info()
            .iter()
            .map(|info| (info.kind.name(), &*info.display))
            .collect();
        assert!(shown.contains(&("email", "deals@shop.xyz")), "{shown:?}");
        assert!(shown.contains(&("phone", "5551234567")), "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|(kind, d)| *kind == "link" && d.starts_with("shop.xyz/promo"))
        );
        assert!(shown.contains(&("near-duplicate", "")), "{shown:?}");
        let mut allowed = keys.clone();
        let link = keys.as_slice()[keys
            .info()
            .iter()
            .position(|i| i.kind == KeyKind::Link)
            .unwrap()];
        allowed.retain(|key| key != link);
        assert_eq!(allowed.as_slice().len(), keys.as_slice().len() - 1);
        assert!(allowed.info().iter().all(|info| info.kind != KeyKind::Link));
        assert!(allowed.has_payload(), "the e-mail and phone remain");
    }

    #[test]
    fn keys_are_bounded() {
        let text = "a@b.co c@d.co e@f.co g.com/1 h.com/2 i.com/3 555 123 4567 666 123 4567 \
                    wechat: abcdef qq: 12345678 and then a long enough text to get bands too";
        assert_eq!(keys(text).len(), MAX_KEYS);
    }
}
