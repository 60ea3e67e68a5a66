//! The operator's keyword list (`FLOODGATE_KEYWORDS_FILE`): parsed once into one Aho-Corasick
//! automaton, matched against normalised text in linear time.
//!
//! Text and entries are folded alike (`fingerprint::fold_words`: width, case, look-alikes,
//! invisible characters and marks), and matched in three views of the text:
//! - **words**: the words, one space between them, a space at each end. A Latin entry matches
//!   only whole words (` ass ` is not in ` class `), whatever spacing or punctuation stood
//!   between the words of `Free   MONEY!`.
//! - **joined**: the same, with every run of one-letter words joined into one word, so that
//!   `f.r.e.e m-o-n-e-y` reads ` freemoney ` and meets the entry's joined form.
//! - **compact**: every letter and digit, nothing between them, for entries in scripts written
//!   without spaces (Chinese, Japanese, Thai): `加.我.微.信` still contains `微信`.
//!
//! What it does not catch: words split other than letter by letter (`fr ee`), letters swapped
//! for digits (`fr33`), and misspellings. Those belong to a list that names them.

use aho_corasick::{AhoCorasick, MatchKind};

use super::fingerprint::{fold_words, is_cjk_ideograph};

/// An entry of the list, as the operator wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line of the file, for the log (never for the reply: it would teach evasion).
    pub line: usize,
}

/// How a pattern of the automaton is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    /// Whole words (the words and the joined views).
    Words,
    /// Anywhere in the compact view (scripts without spaces).
    Anywhere,
}

/// The list in force: one automaton over every form of every entry.
#[derive(Debug)]
pub struct KeywordList {
    automaton: Option<AhoCorasick>,
    /// For each pattern of the automaton: its entry and view.
    patterns: Vec<(usize, View)>,
    entries: Vec<Entry>,
    /// Whether any entry is in a script without spaces (only then is the compact view searched).
    unsegmented: bool,
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
            automaton: None,
            patterns: Vec::new(),
            entries: Vec::new(),
            unsegmented: false,
        }
    }

    /// One entry per line; blank lines and lines starting with `#` are ignored.
    pub fn parse(text: &str) -> Result<KeywordList, ListError> {
        let mut patterns = Vec::new();
        let mut strings: Vec<String> = Vec::new();
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let views = Views::of(entry, true);
            let joined_entry = format!(" {} ", views.compact);
            if views.compact.is_empty() {
                return Err(ListError {
                    line,
                    reason: "the entry has no letter or digit".into(),
                });
            }
            let id = entries.len();
            entries.push(Entry { line });
            if entry.chars().any(is_unsegmented) {
                strings.push(views.compact);
                patterns.push((id, View::Anywhere));
                continue;
            }
            if joined_entry != views.words {
                strings.push(joined_entry);
                patterns.push((id, View::Words));
            }
            strings.push(views.words);
            patterns.push((id, View::Words));
        }
        let automaton = if strings.is_empty() {
            None
        } else {
            let built = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&strings)
                .map_err(|error| ListError {
                    line: 0,
                    reason: format!("the list is too large: {error}"),
                })?;
            Some(built)
        };
        let unsegmented = patterns.iter().any(|&(_, view)| view == View::Anywhere);
        Ok(KeywordList {
            automaton,
            patterns,
            entries,
            unsegmented,
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
    pub fn find(&self, text: &str) -> Option<&Entry> {
        let automaton = self.automaton.as_ref()?;
        let views = Views::of(text, self.unsegmented);
        let hit = |haystack: &str, wanted: View| {
            automaton
                .find_iter(haystack)
                .map(|found| self.patterns[found.pattern().as_usize()])
                .find(|&(_, view)| view == wanted || wanted == View::Words)
                .map(|(entry, _)| entry)
        };
        hit(&views.words, View::Words)
            .or_else(|| (!views.joined.is_empty()).then(|| hit(&views.joined, View::Words))?)
            .or_else(|| {
                self.unsegmented
                    .then(|| hit(&views.compact, View::Anywhere))?
            })
            .map(|entry| &self.entries[entry])
    }
}

/// Scripts written without spaces between words: their entries match inside words.
fn is_unsegmented(c: char) -> bool {
    is_cjk_ideograph(c) || matches!(c as u32, 0x3040..=0x30FF | 0x0E00..=0x0E7F | 0x20000..=0x2A6DF)
}

/// The views of a text (see the module doc), built in one pass over its folded characters.
struct Views {
    /// ` word word … `.
    words: String,
    /// The words view with runs of one-letter words joined; empty when there is no such run
    /// (then it would equal `words`).
    joined: String,
    /// The letters and digits alone (empty unless asked for).
    compact: String,
}

impl Views {
    /// `compact`: whether to build the compact view too (only entries in scripts without
    /// spaces are looked for there).
    fn of(text: &str, compact: bool) -> Views {
        let mut views = Views {
            words: String::with_capacity(text.len() + 2),
            joined: String::new(),
            compact: String::with_capacity(if compact { text.len() } else { 0 }),
        };
        views.words.push(' ');
        // The current word's length in characters, and whether the previous word had one.
        let mut length = 0usize;
        let mut previous_single = false;
        let mut word_start = 1;
        let mut joined_from: Option<usize> = None;
        let mut end_word = |views: &mut Views, length: &mut usize, word_start: &mut usize| {
            if *length == 0 {
                return;
            }
            let single = *length == 1;
            if single && previous_single && joined_from.is_none() {
                // The first run of one-letter words: the joined view starts as a copy of what
                // came before the run's second letter.
                joined_from = Some(*word_start - 1);
                views.joined.push_str(&views.words[..*word_start - 1]);
            }
            if joined_from.is_some() {
                let word = &views.words[*word_start..];
                if !(single && previous_single) {
                    views.joined.push(' ');
                }
                views.joined.push_str(word);
            }
            previous_single = single;
            views.words.push(' ');
            *word_start = views.words.len();
            *length = 0;
        };
        fold_words(text, |c| match c {
            Some(c) => {
                views.words.push(c);
                if compact {
                    views.compact.push(c);
                }
                length += 1;
            }
            None => end_word(&mut views, &mut length, &mut word_start),
        });
        end_word(&mut views, &mut length, &mut word_start);
        if views.words.len() == 1 {
            views.words.push(' ');
        }
        if !views.joined.is_empty() {
            views.joined.push(' ');
        }
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> KeywordList {
        KeywordList::parse(text).unwrap()
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
        assert_eq!(empty.find("anything"), None);
    }
}
