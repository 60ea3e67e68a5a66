//! Fingerprints of message text: the folded text's letters, runs of one letter collapsed, then a
//! stable keyed hash (docs/detection.md).
//!
//! Two texts get the same fingerprint when they read the same to a person after cheap evasion
//! is undone: Unicode compatibility forms, invisible characters, combining marks, case, Latin
//! look-alikes, punctuation, whitespace and runs of one repeated character. CJK text survives
//! unchanged and digits are kept (contact IDs and phone numbers matter in chat spam).

use super::folded::Folded;
use crate::store::Fingerprint;

/// The hash key. Fixed and documented, so every replica and every version agree on the same
/// fingerprint; persisted values (Redis keys) must never change meaning across upgrades.
const FINGERPRINT_SEED: u64 = 0x666c_6f6f_6467_6174; // "floodgat"

/// The normalised form of `text`: its folded letters and digits, runs of one letter collapsed.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    collapse_into(&Folded::of(text), &mut out);
    out
}

/// The normalised text of an already folded message (what [`fingerprint`] hashes).
pub fn normalise_folded(folded: &Folded) -> String {
    let mut out = String::with_capacity(folded.words().len());
    collapse_into(folded, &mut out);
    out
}

/// The fingerprint of an already normalised text ([`normalise_folded`]), or `None` when it is
/// shorter than `min_chars` (emoji-only and punctuation-only text normalise to nothing).
pub fn of_normalised(normalised: &str, min_chars: usize) -> Option<Fingerprint> {
    let kept = normalised.chars().count();
    if kept == 0 || kept < min_chars {
        return None;
    }
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(normalised.as_bytes(), FINGERPRINT_SEED);
    Some(Fingerprint(hash))
}

/// The fingerprint of a folded text (see [`of_normalised`]). The engine normalises once for
/// the fingerprint and the campaign keys and calls [`of_normalised`] itself.
pub fn fingerprint(folded: &Folded, min_chars: usize) -> Option<Fingerprint> {
    of_normalised(&normalise_folded(folded), min_chars)
}

/// The repeat rule's key for a content sent in one conversation (`peer`: the recipient's or
/// the group's hash): an established conversation counts copies per peer, so a greeting sent to
/// four friends is four contents, each allowed its own repeats.
pub fn per_peer(fingerprint: Fingerprint, peer: u64) -> Fingerprint {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fingerprint.0.to_le_bytes());
    bytes[8..].copy_from_slice(&peer.to_le_bytes());
    Fingerprint(xxhash_rust::xxh3::xxh3_64_with_seed(
        &bytes,
        FINGERPRINT_SEED,
    ))
}

/// Writes the normalised form of `folded` into `out` (cleared first); returns its characters.
fn collapse_into(folded: &Folded, out: &mut String) -> usize {
    out.clear();
    let mut kept = Collapser {
        out,
        last: None,
        count: 0,
    };
    folded.letters().for_each(|c| kept.push(c));
    kept.count
}

/// Appends the folded letters and digits, dropping a letter equal to the one before it
/// ("nooow" = "now").
/// Runs of digits are kept whole: "1110" and "10" are different numbers, and contact IDs and
/// phone numbers are what chat spam is about.
struct Collapser<'a> {
    out: &'a mut String,
    last: Option<char>,
    count: usize,
}

impl Collapser<'_> {
    fn push(&mut self, c: char) {
        if self.last == Some(c) && !c.is_numeric() {
            return;
        }
        self.last = Some(c);
        self.out.push(c);
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(text: &str, min_chars: usize) -> Option<Fingerprint> {
        fingerprint(&Folded::of(text), min_chars)
    }

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
            assert_eq!(fp(variant, 10), fp(base, 10), "{variant}");
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
            assert_ne!(fp(a, 1), fp(b, 1), "{a} / {b}");
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
            assert_eq!(fp(text, 10), None, "{text}");
        }
        assert!(fp("thanks a lot my friend", 10).is_some());
        assert_eq!(
            fp("???", 0),
            None,
            "empty after normalisation is never a fingerprint"
        );
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // Pinned: a change here changes every stored fingerprint in every Redis.
        assert_eq!(
            fp("hello world", 1),
            Some(Fingerprint(0xd7bc_4006_1977_8714))
        );
    }
}
