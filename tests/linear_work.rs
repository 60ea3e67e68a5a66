//! Linear work on any text: every pass the engine makes over a message text
//! (`engine::content::every_pass`) allocates a bounded number of bytes per byte of text.
//!
//! Allocated bytes are the measure of work here: deterministic, and what a pass that copies the
//! rest of the text into a new token at every hit (the quadratic `tg.tg.tg…` of issue 27)
//! cannot hide. The allocator counts the whole process, so this binary holds a single test.
//! The time a pass takes against prose is the `adversarial` bench's (BENCHMARKS.md).

use std::alloc::System;

use floodgate::engine::ContentRules;
use floodgate::engine::content::every_pass;
use floodgate::engine::links::DomainList;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

mod adversarial;
use adversarial::{repeated, rules};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocated_by(f: impl FnOnce()) -> usize {
    let region = Region::new(ALLOCATOR);
    f();
    region.change().bytes_allocated
}

/// Texts built from repeated markers, one per extractor or pass (what each one's scan stops
/// at, starts from or collects), and a few of them mixed.
const MARKERS: &[&str] = &[
    "tg.",
    "tg-",
    "tg_",
    "ｔｇ．",
    "wx:",
    "wx: ",
    "微信",
    "微信号：",
    "qq",
    "vx",
    "telegram ",
    "http://",
    "https://a.b/",
    "http://http://",
    "www.",
    "a.b/",
    "a.",
    ".",
    "．",
    "a.a",
    "a.-",
    "xn--",
    ":",
    "a:",
    "a://",
    "/",
    "@",
    "@a",
    "@@a",
    "a@",
    "a@b.",
    "a@a.",
    ".@",
    "1",
    "1 ",
    "1-",
    "1.",
    "+1",
    "(1) ",
    "free ",
    "f r e e ",
    "f.r.e.e.",
    "加我",
    "😀",
    "👍🏽",
    "a\u{301}",
    "\u{301}",
    "\u{301}\u{316}",
    "\u{200b}",
    "ｆ",
    "Ｗｅｃｈａｔ：",
    "tg.http://a@b.1 ",
    "a.a:",
    "a.a_",
    "a.a~",
    "1.1:",
    "中.中:",
    "a.a-",
    "http://a.a:",
    "a.b@",
];

/// Texts of `bytes` made of one long thing: a label, a host, a user name, a path.
fn long_ones(bytes: usize) -> Vec<(&'static str, String)> {
    let fill = |unit: &str, before: &str, after: &str| {
        format!(
            "{before}{}{after}",
            repeated(unit, bytes - before.len() - after.len())
        )
    };
    vec![
        ("one label", fill("中", "", ".com")),
        ("one ASCII label", fill("a", "", ".com")),
        ("one host", fill("a", "http://", ".com/x")),
        ("one user", fill("a", "http://", "@evil.example/")),
        ("one path", fill("a/", "https://evil.example/", "")),
        ("one number", fill("1", "+", "")),
        ("one e-mail", fill("a", "", "@b.com")),
    ]
}

/// Every adversarial text of `bytes`, by name.
fn adversarial(bytes: usize) -> Vec<(String, String)> {
    let repeats = MARKERS
        .iter()
        .map(|&marker| (format!("{marker:?}"), repeated(marker, bytes)));
    let long = long_ones(bytes)
        .into_iter()
        .map(|(name, text)| (name.to_string(), text));
    repeats.chain(long).collect()
}

fn prose(bytes: usize) -> String {
    repeated(
        "The quick brown fox jumps over the lazy dog near 42 river banks, then rests. ",
        bytes,
    )
}

#[test]
fn every_pass_allocates_a_bounded_amount_per_byte_of_any_text() {
    let (rules, allow) = rules();
    markers_allocate_a_bounded_amount_per_byte(&rules, &allow);
    fuzz_inputs_allocate_a_bounded_amount_per_byte(&rules, &allow);
}

fn markers_allocate_a_bounded_amount_per_byte(rules: &ContentRules, allow: &DomainList) {
    const SIZE: usize = 8 * 1024;
    // Folding, normalising and the extractors' lowercase copy each take a few bytes per byte;
    // a pass that copies the rest of the text at every hit takes thousands.
    const PER_BYTE: usize = 64;
    let mut worst = (0, String::new());
    let texts = adversarial(SIZE)
        .into_iter()
        .chain([("prose".into(), prose(SIZE))]);
    for (name, text) in texts {
        let bytes = allocated_by(|| {
            every_pass(101, &text, usize::MAX, rules, allow);
        });
        assert!(
            bytes <= PER_BYTE * text.len(),
            "{name}: {bytes} bytes allocated for {} bytes of text",
            text.len()
        );
        worst = worst.max((bytes / text.len(), name));
    }
    eprintln!("most allocated per byte: {worst:?}");
}

fn fuzz_inputs_allocate_a_bounded_amount_per_byte(rules: &ContentRules, allow: &DomainList) {
    // The minimised corpus, and the long inputs the fuzzer timed out on (on a loaded machine;
    // alone each ran well within the limit) with the 64 KB marker texts it started from.
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let dirs = [
        fuzz.join("corpus/content"),
        fuzz.join("regressions/content"),
    ];
    let files = dirs.iter().flat_map(|dir| std::fs::read_dir(dir).unwrap());
    let mut inputs = 0;
    for entry in files {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        // Short inputs allocate their fixed overhead (automaton state, a few strings).
        let budget = 64 * text.len() + 64 * 1024;
        let allocated = allocated_by(|| {
            every_pass(101, text, usize::MAX, rules, allow);
        });
        assert!(allocated <= budget, "{text:?}: {allocated} bytes");
        inputs += 1;
    }
    assert!(inputs >= 10, "{inputs} inputs in {}", fuzz.display());
}
