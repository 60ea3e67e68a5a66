//! A text folded once for every rule that reads it: Unicode compatibility forms, invisible
//! characters, combining marks, case and Latin look-alikes undone, word boundaries kept.
//!
//! The fingerprint, the keyword list and the campaign keys all read the same [`Folded`] text,
//! so a message is normalised once however many rules look at it (docs/detection.md).

use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use super::homoglyph::latin_look_alike;

/// A text's letters and digits, folded, as words: ` word word … ` — one space between words
/// and one at each end (a lone space when the text has no letter or digit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    words: String,
}

impl Folded {
    pub fn of(text: &str) -> Folded {
        let mut words = String::with_capacity(text.len() + 2);
        words.push(' ');
        fold_words(text, |c| match c {
            Some(c) => words.push(c),
            None if !words.ends_with(' ') => words.push(' '),
            None => {}
        });
        if !words.ends_with(' ') {
            words.push(' ');
        }
        Folded { words }
    }

    /// ` word word … `.
    pub fn words(&self) -> &str {
        &self.words
    }

    /// The letters and digits, without the spaces between words.
    pub fn letters(&self) -> impl Iterator<Item = char> + '_ {
        self.words.chars().filter(|&c| c != ' ')
    }
}

/// Folds `text` — NFKC, invisibles dropped, marks stripped, case and look-alikes folded — and
/// keeps where words end: `emit(Some(c))` for each letter or digit, `emit(None)` for each
/// character between words (punctuation, whitespace, symbols).
fn fold_words(text: &str, mut emit: impl FnMut(Option<char>)) {
    if text.is_ascii() {
        // ASCII is already NFKC and has no marks, look-alikes or invisibles: one pass.
        for byte in text.bytes() {
            emit(
                byte.is_ascii_alphanumeric()
                    .then(|| byte.to_ascii_lowercase() as char),
            );
        }
        return;
    }
    let mut each = |c: char| {
        if c.is_ascii() {
            // Most of a mixed text: nothing to decompose or fold but case.
            emit(c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase()));
            return;
        }
        if is_cjk_ideograph(c) {
            // No case, no marks, no look-alikes, no decomposition: the common Chinese case.
            emit(Some(c));
            return;
        }
        if is_default_ignorable(c) || is_combining_mark(c) {
            return;
        }
        if !c.is_alphanumeric() {
            emit(None);
            return;
        }
        decompose_canonical(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            // Look-alikes are folded before lowercasing (Greek `Η` reads as H, `η` as n) and
            // again after it, so a capital the table lacks still folds like its small letter
            // and folding twice changes nothing.
            match latin_look_alike(d) {
                Some(latin) => emit(Some(latin)),
                None => d.to_lowercase().for_each(|l| {
                    if l.is_alphanumeric() && !is_combining_mark(l) {
                        emit(Some(latin_look_alike(l).unwrap_or(l)));
                    }
                }),
            }
        });
    };
    // Most chat text is already NFKC (Chinese, look-alike spam, accented Latin): then the
    // characters are folded directly, skipping the normaliser's buffering.
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        text.chars().for_each(&mut each);
    } else {
        text.nfkc().for_each(&mut each);
    }
}

/// CJK Unified Ideographs and Extension A: letters that every step above leaves unchanged.
pub(super) fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF)
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): invisible characters that
/// NFKC keeps — zero-width spaces and joiners, soft hyphen, bidi controls, variation selectors.
fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_separated_by_one_space_whatever_stood_between_them() {
        assert_eq!(Folded::of("Free   MONEY!").words(), " free money ");
        assert_eq!(Folded::of("ｆｒｅｅ，ｍｏｎｅｙ").words(), " free money ");
        assert_eq!(
            Folded::of("fr\u{200B}ee mo\u{00AD}ney").words(),
            " free money "
        );
        assert_eq!(
            Folded::of("加我微信，领红包！").words(),
            " 加我微信 领红包 "
        );
        assert_eq!(Folded::of("!!! ...").words(), " ");
        assert_eq!(Folded::of("").words(), " ");
        let letters: String = Folded::of("Bυy, now").letters().collect();
        assert_eq!(letters, "buynow");
    }
}
