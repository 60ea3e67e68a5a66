//! Letters that look Latin but are not: Cyrillic, Greek and small-capital look-alikes, folded to
//! the lowercase Latin letter a reader sees. Case matters: Greek `Η` looks like `H`, `η` like `n`.
//!
//! A hand-kept table (from Unicode's confusables for these scripts) rather than a general
//! "decancer": it leaves every CJK character alone and costs one `match` per non-ASCII letter.

/// The Latin letter `c` is mistaken for, if it is a known look-alike.
pub(super) fn latin_look_alike(c: char) -> Option<char> {
    let latin = match c {
        // Cyrillic capitals
        'А' => 'a',
        'В' => 'b',
        'Е' | 'Ё' => 'e',
        'К' => 'k',
        'М' => 'm',
        'Н' | 'Һ' => 'h',
        'О' => 'o',
        'Р' => 'p',
        'С' => 'c',
        'Т' => 't',
        'Х' => 'x',
        'У' | 'Ү' => 'y',
        'Ѕ' => 's',
        'І' | 'Ї' | 'Ӏ' => 'i',
        'Ј' => 'j',
        'Ԛ' => 'q',
        'Ԝ' => 'w',
        'Ԁ' => 'd',
        // Cyrillic small letters
        'а' => 'a',
        'е' | 'ё' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' | 'ү' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'һ' => 'h',
        'ӏ' => 'l',
        'к' => 'k',
        'м' => 'm',
        'т' => 't',
        'в' => 'b',
        'н' => 'h',
        'ь' => 'b',
        'п' => 'n',
        // Greek capitals
        'Α' => 'a',
        'Β' => 'b',
        'Ε' => 'e',
        'Ζ' => 'z',
        'Η' => 'h',
        'Ι' => 'i',
        'Κ' => 'k',
        'Μ' => 'm',
        'Ν' => 'n',
        'Ο' => 'o',
        'Ρ' => 'p',
        'Τ' => 't',
        'Υ' => 'y',
        'Χ' => 'x',
        'Ϲ' => 'c',
        // Greek small letters
        'α' => 'a',
        'β' => 'b',
        'γ' => 'y',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'ϲ' => 'c',
        'μ' => 'u',
        // Latin letters NFKC leaves alone: dotless, script and small-capital forms
        'ı' => 'i',
        'ȷ' => 'j',
        'ɑ' => 'a',
        'ɡ' => 'g',
        'ǀ' => 'l',
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => return None,
    };
    Some(latin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_and_latin_are_not_look_alikes() {
        for c in "加我微信领红包abcXYZ好的".chars() {
            assert_eq!(latin_look_alike(c), None, "{c}");
        }
    }

    #[test]
    fn case_decides_the_greek_eta() {
        assert_eq!(latin_look_alike('Η'), Some('h'));
        assert_eq!(latin_look_alike('η'), Some('n'));
    }
}
