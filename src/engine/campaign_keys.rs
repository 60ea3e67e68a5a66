//! The keys one message's copies are counted under by the campaign rule: what stays the same
//! across a spam run whose words vary.
//!
//! A spam run varies each copy (a reference number, a rotated short link, swapped look-alikes)
//! but keeps its **payload** — the link, phone number, e-mail or messenger handle the reader is
//! meant to act on — or stays a **near-duplicate** of the other copies. A message therefore has
//! up to [`MAX_KEYS`] keys:
//!
//! - payload keys, at any length: a link's target — its registrable domain (Public Suffix List)
//!   plus path and the query without tracking parameters (domains of `FLOODGATE_LINK_ALLOW`
//!   never count) — an e-mail address, a phone number (7 to 15 digits, dates excluded), a
//!   messenger ID after "WeChat"/"微信"/"VX"/"QQ"/"Telegram"/…, and in one-to-one messages an
//!   `@name` handle (in a group it is a mention);
//! - a **domain** key per linked registrable domain (not a shortener's): the store counts it
//!   only while the domain is unvetted, so a run that rotates the whole path on one fresh
//!   domain stays one run ([`CampaignKey::is_domain`]);
//! - for a text long enough to tell ([`LONG_TEXT`] weighted characters, the path and query of
//!   the one page it links not counted: `look: <page>` is a short text, merged with another
//!   only by a payload): [`BANDS`] MinHash LSH
//!   band keys over character 3-grams of the normalised text with every run of digits read as
//!   one placeholder (a reference number does not make a copy different), salted with the
//!   paths of the message's links (two pages of one site are different texts; a shortener's
//!   rotated path is not), so near-duplicates share a key (exact copies share all of them).
//!
//! A short text without a payload has no key at all: "is this still available?", "Merry
//! Christmas!!" or "see you at 5" are what strangers and friends legitimately say to each
//! other, and the campaign rule cannot tell them apart from spam (repeat and fanout still apply).
//! Two different short texts are never merged unless they carry the same payload.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::content::floor_char_boundary;
use super::fingerprint;
use super::folded::is_cjk_ideograph;
use super::links::{self, DomainList};
use crate::store::{CampaignKey, CopyKeys};

/// At most this many keys per message: each is a set the store reads and writes.
pub const MAX_KEYS: usize = 9;
/// Normalised characters (a CJK ideograph counts 2) from which near-duplicate keys are made.
pub const LONG_TEXT: usize = 40;
/// LSH bands, each of [`ROWS`] MinHash values: a pair of texts whose 3-gram sets have Jaccard
/// similarity s shares at least one band with probability 1-(1-s^ROWS)^BANDS (1.00 at s=0.9,
/// 0.99 at s=0.8, 0.89 at s=0.6, 0.76 at s=0.5, 0.38 at s=0.3). Five bands of two rows, not
/// three of three: a greeting glued before a pitch and a filler phrase inside it take a short
/// text to s≈0.6, where three rows split the run (docs/detection.md, "Spam that adapts"); each
/// band is a set the store reads and writes for every long cold message.
pub const BANDS: usize = 5;
pub const ROWS: usize = 2;
/// Payload and domain keys kept per message (the rest of the budget goes to the bands).
const MAX_PAYLOADS: usize = MAX_KEYS - BANDS;
/// Domain keys kept per message, within [`MAX_PAYLOADS`].
const MAX_DOMAINS: usize = 2;

const KEY_SEED: u64 = 0x6361_6d70_6169_676e; // "campaign"

/// What a key was made from: mixed into its hash (so an e-mail and a link never collide) and
/// shown to moderators (`GET /v1/campaigns`). A new kind is a variant here, its name, and the
/// extractor that finds it in a text. The discriminants are in every stored key: never reuse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Link = 1,
    Email = 2,
    Phone = 3,
    Handle = 4,
    NearDuplicate = 5,
    Domain = 6,
}

fn key(kind: KeyKind, bytes: &[u8]) -> CampaignKey {
    let hash = xxh3_64_with_seed(bytes, KEY_SEED ^ kind as u64) & !1;
    CampaignKey(hash | u64::from(kind == KeyKind::Domain))
}

impl KeyKind {
    const ALL: [KeyKind; 6] = [
        KeyKind::Link,
        KeyKind::Phone,
        KeyKind::Email,
        KeyKind::Handle,
        KeyKind::NearDuplicate,
        KeyKind::Domain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Link => "link",
            KeyKind::Phone => "phone",
            KeyKind::Email => "email",
            KeyKind::Handle => "handle",
            KeyKind::NearDuplicate => "near-duplicate",
            KeyKind::Domain => "domain",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|kind| kind.name() == name)
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
    /// Beside each key: for a domain key, the page of the domain the text links to (the link
    /// key of its target); 0 for every other kind. See [`CopyKeys::pages`].
    pages: Vec<u64>,
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

    /// The keys and their pages, as the store counts them.
    pub fn for_store(&self) -> CopyKeys<'_> {
        CopyKeys {
            keys: &self.keys,
            pages: &self.pages,
        }
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
                self.pages.remove(i);
            }
        }
        self.has_payload = self
            .info
            .iter()
            .any(|info| info.kind != KeyKind::NearDuplicate);
    }

    fn push(&mut self, key: CampaignKey, info: KeyInfo, page: u64) {
        if self.keys.len() < MAX_KEYS && !self.keys.contains(&key) {
            self.keys.push(key);
            self.info.push(info);
            self.pages.push(page);
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
    let (links, links_weight) = link_targets(text, allow);
    payloads.find(text, &links, audience);
    for (payload, info, page) in payloads.0.into_iter().take(MAX_PAYLOADS) {
        keys.push(payload, info, page);
    }
    keys.has_payload = !keys.is_empty();
    // A short text's exact copies need no key of their own: with a payload they share its
    // key, and without one they are what people say to each other.
    // Long enough by its words: a text is not long for the address of the one page it links
    // (the bands' salt compares it, and its link key counts it), so "look: <page>" is as short
    // as "look: <site>" and is merged with another only by a payload.
    if audience != Audience::Request
        && weighted_len(normalised).saturating_sub(links_weight) >= LONG_TEXT
    {
        for band in bands(normalised, &links) {
            let info = KeyInfo {
                kind: KeyKind::NearDuplicate,
                display: Box::default(),
            };
            keys.push(band, info, 0);
        }
    }
    keys
}

/// The weighted length of the near-duplicate view: a CJK ideograph counts 2, a run of digits 1
/// (a long number does not make a short text long enough to compare).
fn weighted_len(normalised: &str) -> usize {
    let mut previous_digit = false;
    normalised
        .chars()
        .map(|c| {
            let digit = c.is_ascii_digit();
            let weight = match (digit, previous_digit) {
                (true, true) => 0,
                _ if is_cjk_ideograph(c) => 2,
                _ => 1,
            };
            previous_digit = digit;
            weight
        })
        .sum()
}

/// The payload keys of a text, in the order found, without duplicates, each with its page (see
/// [`CampaignKeys::pages`]).
#[derive(Default)]
struct Payloads(Vec<(CampaignKey, KeyInfo, u64)>);

impl Payloads {
    fn add(&mut self, kind: KeyKind, bytes: &[u8], page: u64) {
        let key = key(kind, bytes);
        if !self.0.iter().any(|(k, ..)| *k == key) && self.0.len() < MAX_KEYS {
            let info = KeyInfo {
                kind,
                display: String::from_utf8_lossy(bytes).into(),
            };
            self.0.push((key, info, page));
        }
    }

    fn find(&mut self, text: &str, links: &[LinkTarget], audience: Audience) {
        for link in links {
            self.add(KeyKind::Link, link.target.as_bytes(), 0);
        }
        let mut domains = 0;
        for link in links.iter().filter(|link| !link.shortener) {
            if domains < MAX_DOMAINS {
                // The first page linked on the domain (a text linking two pages of one
                // domain gets one domain key).
                let page = key(KeyKind::Link, link.target.as_bytes()).0;
                self.add(KeyKind::Domain, link.domain.as_bytes(), page);
                domains += 1;
            }
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
            self.add(KeyKind::Email, email.as_bytes(), 0);
        }
        for handle in messenger_ids(&text, audience) {
            self.add(KeyKind::Handle, handle.as_bytes(), 0);
        }
        for phone in phone_numbers(&text) {
            self.add(KeyKind::Phone, phone.as_bytes(), 0);
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

/// A link as the campaign keys read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTarget {
    /// The registrable domain (Public Suffix List), or the host without `www.` when it has none.
    pub domain: String,
    /// The domain, path and query without tracking parameters (`example.com/deal?id=7`).
    pub target: String,
    /// A link shortener's or messenger's: its path is the payload, its domain never a key.
    pub shortener: bool,
}

/// Each link's target — registrable domain, path and the query without tracking parameters
/// (`bit.ly/x1`, `example.com/promo?id=7`) — skipping allowed domains, at most
/// `MAX_LINKS` distinct ones. Scheme and `www.` never matter. E-mail addresses are not links
/// here. And [`page_weight`]: how much of the near-duplicate view is the page that salts the
/// bands.
fn link_targets(text: &str, allow: &DomainList) -> (Vec<LinkTarget>, usize) {
    let mut found: Vec<LinkTarget> = Vec::new();
    // The first page's path and query as written, and how many pages there are.
    let (mut first_page, mut pages) = (None, 0);
    for (url, written) in links::urls_as_written(text) {
        // A full list takes no more: the rest of a long text's links cost nothing here.
        if found.len() == MAX_LINKS {
            break;
        }
        let Some(host) = url.host_str() else { continue };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if allow.contains(&host) {
            continue;
        }
        let host = folded_host(host);
        let domain = psl::domain(host.as_bytes())
            .and_then(|d| std::str::from_utf8(d.as_bytes()).ok().map(str::to_string))
            .unwrap_or_else(|| host.strip_prefix("www.").unwrap_or(&host).to_string());
        let path = url.path().trim_end_matches('/');
        let mut target = format!("{domain}{path}");
        let mut separator = '?';
        // A parameter that names the click (who shared it, from where) is not the target.
        for pair in url.query().unwrap_or("").split('&').take(MAX_QUERY_PAIRS) {
            let name = pair.split('=').next().unwrap_or("");
            if pair.is_empty() || is_tracking(name) {
                continue;
            }
            target.push(separator);
            target.push_str(pair);
            separator = '&';
        }
        target.truncate(floor_char_boundary(&target, MAX_LINK_TARGET));
        let shortener =
            SHORTENERS.contains(&domain.as_str()) || SHORTENERS.contains(&host.as_str());
        let link = LinkTarget {
            domain,
            target,
            shortener,
        };
        if !found.contains(&link) {
            if !link.shortener {
                pages += 1;
                first_page = first_page.or(Some(written));
            }
            found.push(link);
        }
    }
    let weight = match first_page {
        Some(written) if pages == 1 => page_weight(&written),
        _ => 0,
    };
    (found, weight)
}

/// The weighted length ([`weighted_len`]) of a page's path, query and fragment as written
/// (`/watch?v=…&si=…`): what a share button adds to a text, and what the bands' salt compares
/// instead. Its scheme, user and host stay text: a pitch moved into them (`claim-your-prize@…`,
/// `win.a.free.phone.example`) is still words, and so is a shortener's or an allowed link's
/// whole address (neither salts the bands), where a rotated code beside a short pitch is the
/// usual smishing text.
fn page_weight(written: &str) -> usize {
    let address = written.split_once("://").map_or(written, |(_, rest)| rest);
    match address.find(['/', '?', '#']) {
        Some(at) => weighted_len(&fingerprint::normalise(&address[at..])),
        None => 0,
    }
}

/// A host as the keys read it: an internationalised name whose letters all read as Latin
/// (`prοmo-x.shop` with a Greek `ο`, `xn--…` on the wire) is the Latin name a reader sees, so
/// look-alike spellings of one domain are one domain. Any other name stays as it is.
fn folded_host(host: String) -> String {
    if !host.split('.').any(|label| label.starts_with("xn--")) {
        return host;
    }
    let (unicode, decoded) = idna::domain_to_unicode(&host);
    if decoded.is_err() {
        return host;
    }
    let folded: String = unicode
        .chars()
        .map(|c| super::homoglyph::latin_look_alike(c).unwrap_or(c))
        .collect();
    if folded.is_ascii() { folded } else { host }
}

/// Distinct links read per message: more add no key (the budget is [`MAX_KEYS`]).
const MAX_LINKS: usize = 8;
/// Query parameters read per link.
const MAX_QUERY_PAIRS: usize = 32;

/// Query parameters that identify a click, not a target (ClearURLs' and Firefox's
/// query-stripping lists, the common part): they vary per copy of one spam run.
fn is_tracking(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || name.starts_with("share_")
        || matches!(
            name.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "msclkid"
                | "mc_eid"
                | "mc_cid"
                | "igshid"
                | "yclid"
                | "spm"
                | "ref"
                | "ref_src"
                | "src"
                | "from"
                | "si"
                | "utm"
        )
}

/// Link shorteners and messenger links: the domain says nothing of the target, so it is never
/// vetted nor counted as a whole; the path (the target or the account) is the payload.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "t.co",
    "tinyurl.com",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "t.ly",
    "shorturl.at",
    "rb.gy",
    "s.id",
    "tiny.cc",
    "bl.ink",
    "lnkd.in",
    "v.gd",
    "t.cn",
    "url.cn",
    "dwz.cn",
    "suo.im",
    "sohu.gg",
    "t.me",
    "wa.me",
    "telegram.me",
    "qr.ae",
    "amzn.to",
    "surl.li",
    "shorturl.asia",
    "linktr.ee",
];

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

/// The LSH band keys of a normalised text: [`BANDS`] bands of [`ROWS`] MinHash values over
/// the character 3-grams of its near-duplicate view, where each run of digits is one
/// placeholder (reference numbers, amounts and codes change per copy; the digits still count in
/// the exact fingerprint and in phone keys). One-permutation MinHash (Li, Owen & Zhang 2012):
/// each 3-gram is hashed once, the hash's high bits pick one of the `BANDS * ROWS` bins and its
/// low bits are the value, each bin keeping its minimum. An empty bin borrows from the next
/// non-empty one, marked with the distance (Shrivastava & Li 2014), so two texts fill their
/// gaps alike. The chance two texts agree on a bin is their Jaccard similarity, as for k
/// separate hash functions, at one hash per 3-gram instead of k.
///
/// Each band is salted with the paths (and queries) of the message's links but shorteners':
/// one sentence around different pages of a site is different texts, however few
/// characters the pages' addresses differ by; a path rotated on one unvetted domain is caught by
/// that domain's key instead, and one path on domains rotated per copy stays one text.
fn bands(normalised: &str, links: &[LinkTarget]) -> [CampaignKey; BANDS] {
    const BINS: usize = BANDS * ROWS;
    const EMPTY: u64 = u64::MAX;
    const PLACEHOLDER: char = '#';
    let mut minima = [EMPTY; BINS];
    let mut chars = normalised.chars().filter({
        let mut previous_digit = false;
        move |&c| {
            let digit = c.is_ascii_digit();
            let keep = !(digit && previous_digit);
            previous_digit = digit;
            keep
        }
    });
    let placeholder = |c: char| if c.is_ascii_digit() { PLACEHOLDER } else { c };
    let (mut first, mut second) = (
        chars.next().map_or(' ', placeholder),
        chars.next().map_or(' ', placeholder),
    );
    for third in chars.map(placeholder) {
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
    // A shortener's path rotates per copy (and a run may rotate shorteners), and so may the
    // domain of a page (a fresh domain per copy): only the path of a page tells texts apart.
    // And only in a text with one page, as a share button writes it: with several, rotated
    // decoy pages (which also push the payload out of a message's few keys) would split a run
    // that repeats everything else.
    let mut pages = links.iter().filter(|link| !link.shortener);
    let salt = match (pages.next(), pages.next()) {
        (Some(link), None) => {
            let path = link
                .target
                .strip_prefix(link.domain.as_str())
                .unwrap_or(&link.target);
            mix(xxh3_64_with_seed(path.as_bytes(), KEY_SEED))
        }
        _ => 0,
    };
    std::array::from_fn(|band| {
        let mut bytes = [0u8; 8 * ROWS + 9];
        bytes[0] = band as u8;
        for row in 0..ROWS {
            let value = minima[band * ROWS + row];
            bytes[1 + 8 * row..9 + 8 * row].copy_from_slice(&value.to_le_bytes());
        }
        bytes[1 + 8 * ROWS..].copy_from_slice(&salt.to_le_bytes());
        key(KeyKind::NearDuplicate, &bytes)
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

    fn keys_of(text: &str, audience: Audience) -> Vec<CampaignKey> {
        let normalised = fingerprint::normalise(text);
        campaign_keys(text, &normalised, &DomainList::default(), audience)
            .as_slice()
            .to_vec()
    }

    fn keys(text: &str) -> Vec<CampaignKey> {
        keys_of(text, Audience::OneToOne)
    }

    /// A text is long enough for bands by its words, not by the address of the one page it
    /// links (its path and query, which the bands' salt and its link key compare): "look:
    /// <page>" is short, and merged with another only by a payload. A link's host and user, a
    /// shortener's or an allowed link's whole address, and the links of a text with two pages
    /// stay words: a short pitch beside a rotated short link, or moved into a link's user or
    /// host, is still compared.
    #[test]
    fn a_text_is_not_long_for_the_page_it_links() {
        let bands = |text: &str, allow: &DomainList| {
            let normalised = fingerprint::normalise(text);
            campaign_keys(text, &normalised, allow, Audience::OneToOne)
                .info()
                .iter()
                .filter(|info| info.kind == KeyKind::NearDuplicate)
                .count()
        };
        let none = DomainList::default();
        let page = "https://www.example-videos.com/watch?v=dQw4w9WgXcQ&list=PLx7Yq2Lm9Kp";
        let short = format!("look: {page}");
        assert!(weighted_len(&fingerprint::normalise(&short)) >= LONG_TEXT);
        assert_eq!(bands(&short, &none), 0, "{short}");
        assert_eq!(bands(&format!("看看这个 {page}"), &none), 0);
        let long =
            format!("look at this one, I watched it twice last night and thought of you: {page}");
        assert_eq!(bands(&long, &none), BANDS, "{long}");
        let two_pages = format!("{short} or https://other.example/page");
        let still_words = [
            "Your parcel is on hold, pay the fee: https://bit.ly/3xYz9Qw",
            "您的包裹被扣留，请点击链接支付关税 https://bit.ly/3xYz9Qw",
            "claim now https://claim-your-free-iphone-today@promo.example/x",
            "claim now at https://win.a.free.iphone.today.promo.example/x",
            &two_pages,
        ];
        for text in still_words {
            assert_eq!(bands(text, &none), BANDS, "{text}");
        }
        let allowed = DomainList::parse("youtube.com").unwrap();
        let pitch =
            "Free crypto signals every day, watch now https://youtube.com/watch?v=dQw4w9WgXcQ";
        assert_eq!(bands(pitch, &allowed), BANDS);
    }

    /// A kind's number is in the hash of every key stored under it: replicas of two versions
    /// side by side (and keys a moderator reported) must agree on it.
    #[test]
    fn each_kind_keeps_its_number_and_name() {
        let numbers = KeyKind::ALL.map(|kind| (kind as u64, kind.name()));
        assert_eq!(
            numbers,
            [
                (1, "link"),
                (3, "phone"),
                (2, "email"),
                (4, "handle"),
                (5, "near-duplicate"),
                (6, "domain"),
            ]
        );
        for kind in KeyKind::ALL {
            assert_eq!(KeyKind::from_name(kind.name()), Some(kind));
        }
    }

    /// A domain key carries, as its page, the link key of the page the text links to on it;
    /// every other key carries none, and two pages of one domain are two pages of one key.
    #[test]
    fn a_domain_key_carries_the_link_key_of_its_page() {
        let pages_of = |text: &str| {
            let normalised = fingerprint::normalise(text);
            let keys = campaign_keys(
                text,
                &normalised,
                &DomainList::default(),
                Audience::OneToOne,
            );
            let store = keys.for_store();
            store.iter().collect::<Vec<_>>()
        };
        let a = pages_of("see bigmall.example/item.htm?id=1&utm_source=x and call 555 123 4567");
        let b = pages_of("see https://www.bigmall.example/item.htm?id=2");
        let domain = |keys: &[(CampaignKey, Option<u64>)]| {
            keys.iter()
                .copied()
                .find(|(key, _)| key.is_domain())
                .expect("a domain key")
        };
        let ((domain_a, page_a), (domain_b, page_b)) = (domain(&a), domain(&b));
        assert_eq!(domain_a, domain_b);
        assert_ne!(page_a, page_b);
        let link_a = a.iter().find(|(key, _)| Some(key.0) == page_a);
        assert!(
            link_a.is_some_and(|(key, page)| !key.is_domain() && page.is_none()),
            "{a:?}"
        );
        assert!(
            a.iter()
                .filter(|(key, _)| !key.is_domain())
                .all(|(_, page)| page.is_none())
        );
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
            // A domain key is shared (the store counts it only for an unvetted domain).
            let b: Vec<_> = keys(b).into_iter().filter(|k| !k.is_domain()).collect();
            assert!(!keys(a).iter().any(|k| b.contains(k)), "{a} / {b:?}");
        }
    }

    fn targets(text: &str, allow: &DomainList) -> Vec<String> {
        link_targets(text, allow)
            .0
            .into_iter()
            .map(|link| link.target)
            .collect()
    }

    #[test]
    fn links_count_by_registrable_domain_and_path() {
        let allow = DomainList::parse("docs.example.org").unwrap();
        assert_eq!(
            targets(
                "go to https://www.shop.example.co.uk/deal/?x=1 or ｂｉｔ．ｌｙ／Ab1 or docs.example.org/a",
                &allow
            ),
            vec!["example.co.uk/deal?x=1", "bit.ly/Ab1"]
        );
        assert_eq!(
            targets("t.me/spamchannel and wa.me/15551234567", &allow),
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
    fn tracking_parameters_scheme_and_www_never_make_another_target() {
        let none = DomainList::default();
        for variant in [
            "https://promo-x.shop/deal?id=8812&utm_source=sms",
            "http://www.promo-x.shop/deal/?id=8812&src=sms",
            "promo-x.shop/deal?id=8812&ref=a7",
            "www.promo-x.shop/deal?fbclid=abc&id=8812&utm=x&si=q1",
        ] {
            assert_eq!(
                targets(variant, &none),
                vec!["promo-x.shop/deal?id=8812"],
                "{variant}"
            );
        }
        // What names the target stays.
        assert_ne!(
            targets("youtube.com/watch?v=aaa111", &none),
            targets("youtube.com/watch?v=bbb222", &none)
        );
        assert!(share_a_key(
            "claim at https://promo-x.shop/deal?id=8812&utm_source=sms",
            "claim at www.promo-x.shop/deal?id=8812&ref=a7"
        ));
    }

    #[test]
    fn look_alike_spellings_of_a_domain_are_one_domain() {
        let none = DomainList::default();
        let latin = targets("deals at promo-x.shop/abcde", &none);
        for spelling in [
            "prοmo-x.shop",
            "рromo-x.shop",
            "promо-x.shop",
            "ＰＲΟＭΟ-x.shop",
        ] {
            let text = format!("deals at {spelling}/abcde");
            assert_eq!(targets(&text, &none), latin, "{spelling}");
        }
        // A name in another script stays itself.
        assert_eq!(targets("看 例え.jp/a", &none), vec!["xn--r8jz45g.jp/a"]);
    }

    #[test]
    fn a_domain_key_is_marked_and_shorteners_never_get_one() {
        let domain = |text: &str| -> Vec<CampaignKey> {
            keys(text).into_iter().filter(|k| k.is_domain()).collect()
        };
        let a = domain("new deals at promo-x.shop/a8f3");
        assert_eq!(a.len(), 1);
        assert_eq!(
            a,
            domain("new deals at https://www.promo-x.shop/k2j9?utm_source=x")
        );
        assert!(domain("claim it: bit.ly/a8f3 now").is_empty());
        assert!(domain("join t.me/somechannel").is_empty());
        // A domain key is never mistaken for another kind.
        assert!(
            keys("call 555 123 4567 or write a@b.co")
                .iter()
                .all(|k| !k.is_domain())
        );
    }

    #[test]
    fn numbers_do_not_make_near_duplicates_different() {
        let copy = |n: u64| {
            format!(
                "Your parcel {n} is held at our depot because the address was incomplete, \
                 confirm the delivery within 24 hours or it returns to sender. Ref {}",
                n * 7 % 100_000_000
            )
        };
        let bands_of = |text: &str| bands(&fingerprint::normalise(text), &[]);
        let base = bands_of(&copy(48_213_907));
        for n in 0..50u64 {
            let other = bands_of(&copy(10_000_000 + n * 7_919_113));
            assert_eq!(other, base, "copy {n}: every band the same");
        }
        // The numbers (read as phone numbers here) still make their own payload keys.
        assert!(!share_a_key("call 555 123 4567", "call 555 123 4568"));
        // The digits still make the exact fingerprint.
        assert_ne!(
            fingerprint::normalise(&copy(1)),
            fingerprint::normalise(&copy(2))
        );
    }

    #[test]
    fn greetings_and_filler_around_or_inside_a_pitch_keep_it_one_text() {
        let pitch = "加入我们的兼职群每天在家动动手指轻松赚三百元日结不收任何费用名额有限快来";
        let cut = pitch.char_indices().nth(12).map_or(0, |(at, _)| at);
        let base = keys(pitch);
        let mut shared = 0;
        let mut copies = 0;
        for greeting in ["", "您好，", "好久不见，", "亲，", "朋友你好！", "在吗？"]
        {
            for filler in ["", "亲测有效", "真的", "不骗你"] {
                let copy = format!("{greeting}{}{filler}{}", &pitch[..cut], &pitch[cut..]);
                copies += 1;
                shared += usize::from(keys(&copy).iter().any(|k| base.contains(k)));
            }
        }
        assert!(shared * 100 >= copies * 90, "{shared} of {copies}");
        let pitch =
            "Join our part time team and earn 300 dollars a day from home with your phone, no fees";
        let base = keys(pitch);
        let mut shared = 0;
        for greeting in ["", "Hi there! ", "Hello friend, ", "Good morning! "] {
            for filler in ["", " honestly", " trust me", " no joke"] {
                let copy = format!("{greeting}{}{filler}{}", &pitch[..40], &pitch[40..]);
                shared += usize::from(keys(&copy).iter().any(|k| base.contains(k)));
            }
        }
        assert!(shared >= 15, "{shared} of 16");
    }

    #[test]
    fn different_pages_of_one_site_are_different_texts() {
        let share = |id: &str| {
            format!(
                "you might like this one, I watched it twice last night https://videos.example/watch?v={id}"
            )
        };
        let a = keys(&share("dQw4w9WgXcQ"));
        let b = keys(&share("kJQP7kiw5Fk"));
        let shared: Vec<_> = a.iter().filter(|k| b.contains(k)).collect();
        assert_eq!(shared.len(), 1, "only the domain key is shared: {shared:?}");
        assert!(shared[0].is_domain());
        // A shortener's rotated path in one long text stays one text.
        assert!(share_a_key(
            "Your parcel is held at the depot, pay the small customs fee here bit.ly/p1 today",
            "Your parcel is held at the depot, pay the small customs fee here bit.ly/p2 today",
        ));
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
