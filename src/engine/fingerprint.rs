//! Fingerprints of message text: the normalisation of docs/detection.md, then a stable keyed hash.
//!
//! Two texts get the same fingerprint when they read the same to a person after cheap evasion
//! is undone: Unicode compatibility forms, invisible characters, combining marks, case, Latin
//! look-alikes, punctuation, whitespace and runs of one repeated character. CJK text survives
//! unchanged and digits are kept (contact IDs and phone numbers matter in chat spam).

use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use super::homoglyph::latin_look_alike;
use crate::store::Fingerprint;

/// The hash key. Fixed and documented, so every replica and every version agree on the same
/// fingerprint; persisted values (Redis keys) must never change meaning across upgrades.
const FINGERPRINT_SEED: u64 = 0x666c_6f6f_6467_6174; // "floodgat"

/// Normalises `text` into `out` (cleared first) and returns the number of characters kept.
pub fn normalise_into(text: &str, out: &mut String) -> usize {
    out.clear();
    let mut kept = Collapser {
        out,
        last: None,
        count: 0,
    };
    if text.is_ascii() {
        // ASCII is already NFKC and has no marks or look-alikes: one pass over the bytes.
        for byte in text.bytes().filter(u8::is_ascii_alphanumeric) {
            kept.push(byte.to_ascii_lowercase() as char);
        }
        return kept.count;
    }
    // Most chat text is already NFKC (Chinese, look-alike spam, accented Latin): then the
    // characters are folded directly, skipping the normaliser's buffering.
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        text.chars().for_each(|c| fold(c, &mut kept));
    } else {
        text.nfkc().for_each(|c| fold(c, &mut kept));
    }
    kept.count
}

/// Folds one NFKC character into the key: invisibles dropped, marks stripped, look-alikes and
/// case folded.
fn fold(c: char, kept: &mut Collapser<'_>) {
    if is_cjk_ideograph(c) {
        // No case, no marks, no look-alikes, no decomposition: the common Chinese case.
        kept.push(c);
        return;
    }
    if is_default_ignorable(c) {
        return;
    }
    decompose_canonical(c, |d| {
        if is_combining_mark(d) {
            return;
        }
        // Look-alikes are folded before lowercasing (Greek `Η` reads as H, `η` as n) and
        // again after it, so a capital the table lacks still folds like its small letter
        // and normalising twice changes nothing.
        match latin_look_alike(d) {
            Some(latin) => kept.push(latin),
            None => d.to_lowercase().for_each(|l| {
                if l.is_alphanumeric() && !is_combining_mark(l) {
                    kept.push(latin_look_alike(l).unwrap_or(l))
                }
            }),
        }
    });
}

/// Folds `text` as the fingerprint does — NFKC, invisibles dropped, marks stripped, case and
/// look-alikes folded — but keeps where words end: `emit(Some(c))` for each letter or digit,
/// `emit(None)` for each character between words (punctuation, whitespace, symbols). Runs of
/// one character are not collapsed. For the keyword list, which must not find `ass` in `class`.
pub(super) fn fold_words(text: &str, mut emit: impl FnMut(Option<char>)) {
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

/// The normalised form of `text` (for tests, logs and tools; the hot path reuses a buffer).
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalise_into(text, &mut out);
    out
}

/// The fingerprint of `text`, or `None` when its normalised form is shorter than `min_chars`
/// (emoji-only and punctuation-only text normalise to nothing).
pub fn fingerprint(text: &str, min_chars: usize) -> Option<Fingerprint> {
    thread_local! {
        // One buffer per worker thread: a fingerprint is taken for nearly every message.
        static NORMALISED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    NORMALISED.with_borrow_mut(|normalised| {
        let kept = normalise_into(text, normalised);
        if kept == 0 || kept < min_chars {
            return None;
        }
        let hash = xxhash_rust::xxh3::xxh3_64_with_seed(normalised.as_bytes(), FINGERPRINT_SEED);
        // A giant message must not pin its buffer for the life of the thread.
        if normalised.capacity() > 64 * 1024 {
            *normalised = String::new();
        }
        Some(Fingerprint(hash))
    })
}

/// Appends letters and digits, dropping a letter equal to the one before it ("nooow" = "now").
/// Runs of digits are kept whole: "1110" and "10" are different numbers, and contact IDs and
/// phone numbers are what chat spam is about.
struct Collapser<'a> {
    out: &'a mut String,
    last: Option<char>,
    count: usize,
}

impl Collapser<'_> {
    fn push(&mut self, c: char) {
        if !c.is_alphanumeric() || (self.last == Some(c) && !c.is_numeric()) {
            return;
        }
        self.last = Some(c);
        self.out.push(c);
        self.count += 1;
    }
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
    fn evasion_variants_fold_together() {
        let base = "Buy cheap followers now at example shop 42";
        let variants = [
            "BUY  cheap-followers NOW!!! at example... shop 42",
            "Bυy cheap fоllowers now at еxample shop 42", // Greek upsilon, Cyrillic o and e
            "B\u{200B}uy che\u{00AD}ap fol\u{2060}lowers now at example shop 42", // invisibles
            "Ｂｕｙ ｃｈｅａｐ ｆｏｌｌｏｗｅｒｓ ｎｏｗ ａｔ ｅｘａｍｐｌｅ ｓｈｏｐ ４２", // fullwidth
            "Bùy chéap fõllowérs now at exämple shop 42", // diacritics
            "B\u{0337}u\u{0337}y\u{0337} cheap followers now at example shop 42", // zalgo
            "Buuuuy cheeeap followers nooooow at example shop 42", // stretched letters
            "𝐁𝐮𝐲 𝐜𝐡𝐞𝐚𝐩 𝐟𝐨𝐥𝐥𝐨𝐰𝐞𝐫𝐬 𝐧𝐨𝐰 at example shop 42", // mathematical bold
            "ΒUΥ CHEAP FOLLOWERS NOW AT EXAMPLE SHOP 42", // Greek capitals
            "ᴮuy ᴄʜᴇᴀᴘ followers now at example shop 42", // superscript and small caps
            "Buy\tcheap\nfollowers now at example shop 4\u{FE0F}2",
        ];
        let expected = normalise(base);
        assert_eq!(expected, "buycheapfolowersnowatexampleshop42");
        for variant in variants {
            assert_eq!(normalise(variant), expected, "{variant}");
            assert_eq!(fingerprint(variant, 10), fingerprint(base, 10), "{variant}");
        }
    }

    #[test]
    fn distinct_sentences_stay_distinct() {
        let pairs = [
            ("加我微信领红包", "加我微信领红旗"),
            ("明天下午三点开会", "明天下午四点开会"),
            ("call me at 555 1234 tonight", "call me at 555 1235 tonight"),
            ("hello world how are you", "hello word how are you"),
            ("the meeting is at noon", "the meeting is at moon"),
            ("привет как дела у тебя", "привет как дела у меня"),
        ];
        for (a, b) in pairs {
            assert_ne!(normalise(a), normalise(b), "{a} / {b}");
            assert_ne!(fingerprint(a, 1), fingerprint(b, 1), "{a} / {b}");
        }
    }

    #[test]
    fn chinese_survives_unchanged() {
        assert_eq!(normalise("加我微信领红包"), "加我微信领红包");
        assert_eq!(normalise("加我微信，领红包！"), "加我微信领红包");
    }

    #[test]
    fn digits_are_kept_and_repeats_collapse() {
        assert_eq!(normalise("nooow"), "now");
        assert_eq!(normalise("Room 1001"), "rom1001");
        assert_ne!(normalise("wave 1110"), normalise("wave 10"));
        assert_eq!(normalise("１２３"), "123");
    }

    #[test]
    fn short_and_emoji_only_content_has_no_fingerprint() {
        for text in [
            "ok",
            "thanks",
            "好的",
            "收到",
            "😀😀😀😀😀😀😀😀😀😀😀",
            "!!! ??? ...",
            "👍🏽👍🏽👍🏽",
        ] {
            assert_eq!(fingerprint(text, 10), None, "{text}");
        }
        assert!(fingerprint("thanks a lot my friend", 10).is_some());
        assert_eq!(
            fingerprint("???", 0),
            None,
            "empty after normalisation is never a fingerprint"
        );
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // Pinned: a change here changes every stored fingerprint in every Redis.
        assert_eq!(
            fingerprint("hello world", 1),
            Some(Fingerprint(0xd7bc_4006_1977_8714))
        );
    }
}
