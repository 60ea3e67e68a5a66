//! The operator's keyword list (`FLOODGATE_KEYWORDS_FILE`): parsed once into Aho-Corasick
//! automata, matched against the message's [`Folded`] text in time linear in its length.
//!
//! Text and entries are folded alike (width, case, look-alikes, invisible characters and
//! marks), and matched in three views of the text:
//! - **words**: the words, one space between them, a space at each end. A Latin entry matches
//!   only whole words (` ass ` is not in ` class `), whatever spacing or punctuation stood
//!   between the words of `Free   MONEY!`.
//! - **joined**: the same, with every run of one-letter words joined into one word, so that
//!   `f.r.e.e m-o-n-e-y` reads ` freemoney ` and meets the entry's joined form.
//! - **compact**: every letter and digit, nothing between them, for entries in scripts written
//!   without spaces (Chinese, Japanese, Thai): `加.我.微.信` still contains `微信`.
//!
//! A list of 100,000 entries is an automaton of megabytes: walking it over every byte of every
//! message costs a cache miss a byte. So each automaton is searched only where a match can
//! start — at a word whose first word (or a pair of characters whose first pair) begins some
//! entry — which a Bloom filter of a few hundred kilobytes answers; an anchored search then
//! walks the automaton from there. An entry is at most [`MAX_ENTRY_CHARS`] letters, so a walk
//! is bounded and the whole search stays linear in the text.
//!
//! What it does not catch: words split other than letter by letter (`fr ee`), letters swapped
//! for digits (`fr33`), and misspellings. Those belong to a list that names them.

use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, StartKind};

use super::folded::{Folded, is_cjk_ideograph};

/// The longest entry, in letters and digits: a keyword is a word or a phrase, and the bound
/// keeps every anchored walk short.
pub const MAX_ENTRY_CHARS: usize = 100;

/// An entry of the list, as the operator wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line of the file, for the log (never for the reply: it would teach evasion).
    pub line: usize,
}

/// The list in force.
#[derive(Debug)]
pub struct KeywordList {
    /// Entries matched as whole words, in the words and joined views.
    words: Option<Searcher>,
    /// Entries in scripts without spaces, matched anywhere in the compact view.
    anywhere: Option<Searcher>,
    entries: Vec<Entry>,
}

/// A line of the file that cannot be an entry.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ListError {
    pub line: usize,
    pub reason: String,
}

impl KeywordList {
    pub fn empty() -> KeywordList {
        KeywordList {
            words: None,
            anywhere: None,
            entries: Vec::new(),
        }
    }

    /// One entry per line; blank lines and lines starting with `#` are ignored.
    pub fn parse(text: &str) -> Result<KeywordList, ListError> {
        let mut words = Patterns::default();
        let mut anywhere = Patterns::default();
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let folded = Folded::of(entry);
            let compact: String = folded.letters().collect();
            let reason = match compact.chars().count() {
                0 => Some("the entry has no letter or digit".to_string()),
                n if n > MAX_ENTRY_CHARS => Some(format!(
                    "the entry is longer than {MAX_ENTRY_CHARS} letters and digits ({n})"
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                return Err(ListError { line, reason });
            }
            let id = entries.len();
            entries.push(Entry { line });
            if entry.chars().any(is_unsegmented) {
                anywhere.push(compact, id);
                continue;
            }
            let joined = format!(" {compact} ");
            if joined != folded.words() {
                words.push(joined, id);
            }
            words.push(folded.words().to_string(), id);
        }
        Ok(KeywordList {
            words: words.build(first_word)?,
            anywhere: anywhere.build(first_pair)?,
            entries,
        })
    }

    /// Entries in the list.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry `text` contains, if any.
    pub fn find(&self, text: &Folded) -> Option<&Entry> {
        let in_words = |searcher: &Searcher, view: &str| {
            word_starts(view).find_map(|(at, word)| searcher.find_at(view, at, word))
        };
        let found = self.words.as_ref().and_then(|searcher| {
            in_words(searcher, text.words()).or_else(|| {
                let joined = joined_view(text.words())?;
                in_words(searcher, &joined)
            })
        });
        let found = found.or_else(|| {
            let searcher = self.anywhere.as_ref()?;
            // Lists of Chinese entries meet mostly ASCII text with none of their first letters.
            if !searcher.first_chars.any_ascii && text.words().is_ascii() {
                return None;
            }
            let compact: String = text.letters().collect();
            let mut starts = compact.char_indices().peekable();
            while let Some((at, c)) = starts.next() {
                if !searcher.first_chars.may_start(c) {
                    continue;
                }
                let end = starts
                    .peek()
                    .map_or(compact.len(), |&(next, n)| next + n.len_utf8());
                let found = searcher
                    .find_at(&compact, at, &compact[at..end])
                    .or_else(|| searcher.find_at(&compact, at, &compact[at..at + c.len_utf8()]));
                if found.is_some() {
                    return found;
                }
            }
            None
        });
        found.map(|entry| &self.entries[entry])
    }
}

/// Patterns of one automaton while the list is parsed.
#[derive(Default)]
struct Patterns {
    strings: Vec<String>,
    entry_of: Vec<usize>,
}

impl Patterns {
    fn push(&mut self, pattern: String, entry: usize) {
        self.strings.push(pattern);
        self.entry_of.push(entry);
    }

    /// The searcher, with `start_key` giving the key of where each pattern starts.
    fn build(self, start_key: fn(&str) -> &str) -> Result<Option<Searcher>, ListError> {
        if self.strings.is_empty() {
            return Ok(None);
        }
        let mut starts = StartFilter::with_keys(self.strings.len());
        let mut first_chars = FirstChars::default();
        for pattern in &self.strings {
            starts.insert(start_key(pattern));
            first_chars.insert(pattern.chars().next().unwrap_or(' '));
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Anchored)
            .build(&self.strings)
            .map_err(|error| ListError {
                line: 0,
                reason: format!("the list is too large: {error}"),
            })?;
        Ok(Some(Searcher {
            automaton,
            entry_of: self.entry_of,
            starts,
            first_chars,
        }))
    }
}

/// One automaton, searched only where the filter says a pattern may start.
#[derive(Debug)]
struct Searcher {
    automaton: AhoCorasick,
    entry_of: Vec<usize>,
    starts: StartFilter,
    /// The characters patterns start with: the compact view's first, cheapest sieve.
    first_chars: FirstChars,
}

impl Searcher {
    /// The entry of the longest pattern starting at byte `at` of `haystack`, when `key` (what
    /// starts there) may begin one.
    fn find_at(&self, haystack: &str, at: usize, key: &str) -> Option<usize> {
        if !self.starts.may_contain(key) {
            return None;
        }
        let input = Input::new(haystack)
            .span(at..haystack.len())
            .anchored(Anchored::Yes);
        let found = self.automaton.find(input)?;
        Some(self.entry_of[found.pattern().as_usize()])
    }
}

/// A Bloom filter with one hash: "no" is certain, "maybe" is right but for a few percent.
#[derive(Debug)]
struct StartFilter {
    bits: Vec<u64>,
    mask: u64,
}

impl StartFilter {
    /// Sixteen bits a key: about one key in sixteen that is not there reads "maybe".
    fn with_keys(keys: usize) -> StartFilter {
        let bits = (keys * 16).next_power_of_two().max(1024);
        StartFilter {
            bits: vec![0; bits / 64],
            mask: bits as u64 - 1,
        }
    }

    fn bit(&self, key: &str) -> (usize, u64) {
        let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes()) & self.mask;
        ((hash / 64) as usize, 1 << (hash % 64))
    }

    fn insert(&mut self, key: &str) {
        let (word, bit) = self.bit(key);
        self.bits[word] |= bit;
    }

    fn may_contain(&self, key: &str) -> bool {
        let (word, bit) = self.bit(key);
        self.bits[word] & bit != 0
    }
}

/// The characters patterns start with, by their low 16 bits: one bit test a character.
#[derive(Debug)]
struct FirstChars {
    bits: Box<[u64; 1024]>,
    /// Whether a pattern starts with an ASCII letter or digit.
    any_ascii: bool,
}

impl Default for FirstChars {
    fn default() -> FirstChars {
        FirstChars {
            bits: Box::new([0; 1024]),
            any_ascii: false,
        }
    }
}

impl FirstChars {
    fn slot(c: char) -> (usize, u64) {
        let low = c as usize & 0xFFFF;
        (low / 64, 1 << (low % 64))
    }

    fn insert(&mut self, c: char) {
        let (word, bit) = FirstChars::slot(c);
        self.bits[word] |= bit;
        self.any_ascii |= c.is_ascii();
    }

    fn may_start(&self, c: char) -> bool {
        let (word, bit) = FirstChars::slot(c);
        self.bits[word] & bit != 0
    }
}

/// ` free money ` starts with `free`.
fn first_word(pattern: &str) -> &str {
    let pattern = &pattern[1..];
    &pattern[..pattern.find(' ').unwrap_or(pattern.len())]
}

/// `优惠券` starts with `优惠`; a one-character entry with itself.
fn first_pair(pattern: &str) -> &str {
    let end = pattern
        .char_indices()
        .nth(2)
        .map_or(pattern.len(), |(end, _)| end);
    &pattern[..end]
}

/// Each word of a ` word word … ` view, with the byte offset of the space before it.
fn word_starts(view: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = view.get(at + 1..)?;
        let length = rest.find(' ')?;
        if length == 0 {
            return None;
        }
        let start = at;
        at += 1 + length;
        Some((start, &rest[..length]))
    })
}

/// The words view with every run of one-letter words joined into one word, or `None` when
/// there is no such run (then it would be the words view itself).
fn joined_view(words: &str) -> Option<String> {
    let single = |word: &str| word.chars().nth(1).is_none();
    let mut previous_single = false;
    let mut has_run = false;
    for (_, word) in word_starts(words) {
        let this_single = single(word);
        if this_single && previous_single {
            has_run = true;
            break;
        }
        previous_single = this_single;
    }
    if !has_run {
        return None;
    }
    let mut joined = String::with_capacity(words.len());
    let mut previous_single = false;
    for (_, word) in word_starts(words) {
        let this_single = single(word);
        if !(this_single && previous_single) {
            joined.push(' ');
        }
        joined.push_str(word);
        previous_single = this_single;
    }
    joined.push(' ');
    Some(joined)
}

/// Scripts written without spaces between words: their entries match inside words.
fn is_unsegmented(c: char) -> bool {
    is_cjk_ideograph(c) || matches!(c as u32, 0x3040..=0x30FF | 0x0E00..=0x0E7F | 0x20000..=0x2A6DF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> List {
        List(KeywordList::parse(text).unwrap())
    }

    /// The list, searched in plain text.
    struct List(KeywordList);

    impl List {
        fn find(&self, text: &str) -> Option<&Entry> {
            self.0.find(&Folded::of(text))
        }
    }

    #[test]
    fn an_entry_matches_through_case_width_look_alikes_invisibles_and_spacing_tricks() {
        let list = list("# spam\nfree money\n");
        for text in [
            "get free money now",
            "Free   MONEY!",
            "ｆｒｅｅ ｍｏｎｅｙ",
            "f.r.e.e m-o-n-e-y",
            "f r e e m o n e y",
            "frее mоnеy", // Cyrillic е and о
            "fr\u{200B}ee mo\u{00AD}ney",
            "FREE, money.",
        ] {
            let found = list.find(text);
            assert_eq!(found, Some(&Entry { line: 2 }), "{text}");
        }
        for text in [
            "freedom money",
            "free moneys",
            "money free",
            "free-ish money",
        ] {
            assert_eq!(list.find(text), None, "{text}");
        }
    }

    #[test]
    fn a_latin_entry_never_matches_inside_a_longer_word() {
        let list = list("ass\nhell\n");
        for text in [
            "first class passport",
            "hello shell",
            "assassin",
            "c l a s s",
        ] {
            assert_eq!(list.find(text), None, "{text}");
        }
        assert!(list.find("you ass").is_some());
        assert!(list.find("a.s.s").is_some());
        assert!(list.find("what the HELL?").is_some());
    }

    #[test]
    fn entries_without_spaces_match_inside_unsegmented_text() {
        let list = list("微信\n加我\n");
        assert_eq!(list.find("快来加我好友").unwrap().line, 2);
        assert_eq!(list.find("领红包请联系微信abc").unwrap().line, 1);
        assert!(list.find("加.我.好.友").is_some());
        assert!(list.find("我明天去北京").is_none());
    }

    #[test]
    fn bad_lines_name_their_line_and_empty_files_are_empty_lists() {
        let error = KeywordList::parse("fine\n\n!!!\n").unwrap_err();
        assert_eq!(error.line, 3);
        let empty = KeywordList::parse("# only comments\n\n").unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.find(&Folded::of("anything")), None);
        let long = format!("fine\n{}\n", "a".repeat(MAX_ENTRY_CHARS + 1));
        assert_eq!(KeywordList::parse(&long).unwrap_err().line, 2);
    }

    #[test]
    fn every_entry_of_a_large_list_is_found_and_near_misses_are_not() {
        // The start filter must never hide an entry, whatever else shares its bits.
        let file: String = (0..20_000)
            .map(|i| match i % 3 {
                0 => format!("spamword{i}\n"),
                1 => format!("cheap pills {i}\n"),
                _ => format!("优惠券{i}\n"),
            })
            .collect();
        let list = list(&file);
        for i in (0..20_000).step_by(7) {
            let text = match i % 3 {
                0 => format!("hi SPAMWORD{i}!"),
                1 => format!("get c.h.e.a.p pills {i} now"),
                _ => format!("快来领优惠券{i}"),
            };
            assert_eq!(list.find(&text).map(|e| e.line), Some(i + 1), "{text}");
        }
        assert_eq!(list.find("spamword cheap pills 优惠"), None);
    }

    #[test]
    fn word_starts_and_joined_views() {
        let starts: Vec<_> = word_starts(" ab c  ").collect();
        assert_eq!(starts, vec![(0, "ab"), (3, "c")]);
        assert_eq!(word_starts(" ").count(), 0);
        assert_eq!(joined_view(" f r e e money "), Some(" free money ".into()));
        assert_eq!(joined_view(" a bc d "), None);
        assert_eq!(joined_view(" x y z "), Some(" xyz ".into()));
    }
}
