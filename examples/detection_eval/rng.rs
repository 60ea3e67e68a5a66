//! The evaluation's one source of chance: a seeded generator, so every run sends the same
//! traffic, and the small random pieces (digits, tokens, placements) spam and people are made of.

/// A small deterministic generator (xorshift64*).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A number in `low..=high`.
    pub(crate) fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high.saturating_sub(low) + 1)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// An index in 0..n, skewed like word frequencies (Zipf, s = 1).
    pub(crate) fn zipf(&mut self, n: usize) -> usize {
        let harmonic: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        let mut target = (self.next() >> 11) as f64 / (1u64 << 53) as f64 * harmonic;
        for k in 1..=n {
            target -= 1.0 / k as f64;
            if target <= 0.0 {
                return k - 1;
            }
        }
        n - 1
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `count` different items, in random order.
    pub(crate) fn pick_distinct<T: Clone>(&mut self, items: &[T], count: usize) -> Vec<T> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        self.shuffle(&mut order);
        order
            .into_iter()
            .take(count)
            .map(|i| items[i].clone())
            .collect()
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `len` decimal digits, the first not a zero.
    pub(crate) fn digits(&mut self, len: usize) -> String {
        (0..len)
            .map(|i| {
                let d = if i == 0 {
                    1 + self.below(9)
                } else {
                    self.below(10)
                };
                char::from(b'0' + d as u8)
            })
            .collect()
    }

    /// `len` characters from `alphabet`.
    pub(crate) fn token(&mut self, alphabet: &str, len: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..len).map(|_| *self.pick(&chars)).collect()
    }

    /// `len` lowercase letters and digits: a rotated path, a tracking value.
    pub(crate) fn lower(&mut self, len: usize) -> String {
        self.token("abcdefghijklmnopqrstuvwxyz0123456789", len)
    }

    /// `len` letters of both cases, digits, `-` and `_`: a video id, a share id.
    pub(crate) fn mixed(&mut self, len: usize) -> String {
        self.token(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            len,
        )
    }
}

/// Where a piece goes into a text: before it, after it, or at a random word (or, in Chinese,
/// character) boundary inside it.
pub(crate) fn place(rng: &mut Rng, text: &str, piece: &str) -> String {
    let cjk = text.chars().any(is_cjk);
    let (before, after) = if cjk {
        (
            *rng.pick(&["，", " ", "", "! "]),
            *rng.pick(&["，", " ", "", "。"]),
        )
    } else {
        (
            *rng.pick(&[" ", ", ", " - ", "! "]),
            *rng.pick(&[" ", ", ", ". "]),
        )
    };
    match rng.below(3) {
        0 => format!("{piece}{before}{text}"),
        1 => format!("{text}{after}{piece}"),
        _ => {
            // Inside: at a space, or beside a Chinese character, never at either end nor
            // inside a Latin word.
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            let cuts: Vec<(usize, bool)> = chars
                .windows(2)
                .filter(|pair| pair[1].1 == ' ' || is_cjk(pair[0].1) || is_cjk(pair[1].1))
                .map(|pair| (pair[1].0, pair[1].1 == ' '))
                .collect();
            if cuts.is_empty() {
                return format!("{text}{after}{piece}");
            }
            let (cut, at_space) = *rng.pick(&cuts);
            let (head, tail) = text.split_at(cut);
            if at_space {
                format!("{head} {piece}{tail}")
            } else {
                format!("{head}{before}{piece}{after}{tail}")
            }
        }
    }
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}
