//! The one direction of dependency (`http` → `engine` → `store`, all over `config`, `policy`
//! and `domains`), checked by reading the source: a lower module that names an upper one fails
//! the build's tests instead of waiting for a reviewer to notice.
//!
//! Every `crate::…`, `super::…` and `self::…` path outside comments and the file's test module
//! is resolved to a full module path, with grouped imports (`use crate::{a, b::c}`) expanded.
//! Test modules are skipped: a test may drive a lower module through an upper one. Paths an
//! item is re-exported under are not followed, so each rule names the module that owns a thing.

use std::path::{Path, PathBuf};

/// Which module paths the code under a source path must not name. A prefix `engine` forbids
/// `crate::engine` and everything below it.
const RULES: &[(&str, &[&str])] = &[
    ("src/store", &["app", "http", "engine", "keywords_file"]),
    ("src/engine", &["app", "http", "keywords_file"]),
    (
        "src/config",
        &["app", "http", "engine", "store", "keywords_file"],
    ),
    (
        "src/policy.rs",
        &["app", "http", "engine", "store", "config", "keywords_file"],
    ),
    // The rule catalogue, when there is one, is vocabulary like `policy`.
    (
        "src/catalogue.rs",
        &["app", "http", "engine", "store", "config", "keywords_file"],
    ),
    // A violation's errMsg and errDlt: read by the reply (http) and the moderators' records
    // (engine), so below both, and data-only below it.
    (
        "src/reply_text.rs",
        &["app", "http", "engine", "store", "config", "keywords_file"],
    ),
    (
        "src/domains.rs",
        &["app", "http", "engine", "store", "config", "keywords_file"],
    ),
    // Owned by the app and handed down: counters and time know no layer above them.
    (
        "src/metrics.rs",
        &["app", "http", "engine", "store", "keywords_file"],
    ),
    (
        "src/clock.rs",
        &["app", "http", "engine", "store", "config", "keywords_file"],
    ),
    // The command names have one owner; the two wire parsers read them, not each other's.
    ("src/http/commands.rs", &["http::wire", "http::act_wire"]),
    ("src/http/wire.rs", &["http::act_wire"]),
];

/// The crates a layer must not use at all (`engine`: no axum, no Redis types).
const CRATE_RULES: &[(&str, &[&str])] = &[
    ("src/engine", &["axum", "hyper", "redis"]),
    ("src/store", &["axum", "hyper"]),
    ("src/policy.rs", &["axum", "hyper", "redis"]),
    ("src/domains.rs", &["axum", "hyper", "redis"]),
];

/// The module path of a source file: `src/store/redis/keys.rs` is `store::redis::keys`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix("src").unwrap_or(file);
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without its comments and its trailing test module.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut code = String::new();
    for (i, line) in lines.iter().enumerate() {
        let test_module = *line == "#[cfg(test)]"
            && lines[i + 1..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.starts_with("mod "));
        if test_module {
            break;
        }
        let code_part = line.split("//").next().unwrap_or("");
        code.push_str(code_part);
        code.push('\n');
    }
    code
}

/// Every module path `code` (of the module `module`) names through `crate::`, `super::` or
/// `self::`, as full paths from the crate root, grouped imports expanded.
fn paths_named(code: &str, module: &[String]) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_word = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b':');
        let rest = &code[at..];
        let root = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|root| rest.starts_with(root));
        match root {
            Some(_) if starts_word => {
                let end = path_end(rest);
                for path in expand(&rest[..end]) {
                    if let Some(full) = resolve(&path, module) {
                        found.push(full);
                    }
                }
                at += end.max(1);
            }
            _ => at += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    found
}

/// Where the path starting `text` ends: past balanced braces, at the first character that
/// cannot continue it.
fn path_end(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            c if depth > 0 || c.is_alphanumeric() || c == '_' || c == ':' || c == '*' => {}
            _ => return i,
        }
    }
    text.len()
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else {
        return vec![path.trim().trim_end_matches("::").to_string()];
    };
    let prefix = &path[..open];
    let inner = path[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&path[open + 1..]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            let p = p.split(" as ").next().unwrap_or(p).trim();
            if p == "self" {
                vec![prefix.trim_end_matches("::").to_string()]
            } else {
                expand(&format!("{prefix}{p}"))
            }
        })
        .collect()
}

/// A path as seen from `module`, from the crate root (`None`: it climbs above the crate).
fn resolve(path: &str, module: &[String]) -> Option<String> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: Vec<String> = match segments.peek().copied() {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        _ => module.to_vec(),
    };
    while let Some(&segment) = segments.peek() {
        match segment {
            "super" => {
                base.pop()?;
            }
            "self" => {}
            _ => break,
        }
        segments.next();
    }
    base.extend(segments.map(String::from));
    Some(base.join("::"))
}

/// Whether `path` is `forbidden` or inside it.
fn is_within(path: &str, forbidden: &str) -> bool {
    path == forbidden
        || path
            .strip_prefix(forbidden)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// Whether `code` uses the external crate `name` (`name::…` not after `::`, or `use name`).
fn uses_crate(code: &str, name: &str) -> bool {
    let needle = format!("{name}::");
    code.match_indices(&needle).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every breach of [`RULES`] and [`CRATE_RULES`] in the crate's `src/`.
fn breaches(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut breaches = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        let Ok(text) = std::fs::read_to_string(&file) else {
            breaches.push(format!("{}: unreadable", relative.display()));
            continue;
        };
        let code = code_of(&text);
        let module = module_of(&relative);
        for (scope, forbidden) in RULES {
            if !relative.starts_with(scope) {
                continue;
            }
            for path in paths_named(&code, &module) {
                if let Some(upper) = forbidden.iter().find(|f| is_within(&path, f)) {
                    breaches.push(format!("{} names {path} ({upper})", relative.display()));
                }
            }
        }
        for (scope, crates) in CRATE_RULES {
            if relative.starts_with(scope) {
                for name in crates.iter().filter(|name| uses_crate(&code, name)) {
                    breaches.push(format!("{} uses the crate {name}", relative.display()));
                }
            }
        }
    }
    breaches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(code: &str, module: &str) -> Vec<String> {
        let module: Vec<String> = module.split("::").map(String::from).collect();
        paths_named(&code_of(code), &module)
    }

    #[test]
    fn no_lower_layer_names_an_upper_one() {
        let breaches = breaches(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(breaches.is_empty(), "{breaches:#?}");
    }

    #[test]
    fn the_check_sees_through_groups_super_and_renames() {
        assert_eq!(
            named(
                "use crate::{engine::links::{self, X}, policy as p};",
                "store"
            ),
            ["engine::links", "engine::links::X", "policy"]
        );
        assert_eq!(
            named(
                "use super::super::super::engine::Engine;",
                "store::redis::keys"
            ),
            ["engine::Engine"]
        );
        assert_eq!(
            named("let x = super::act_wire::BEFORE_INVITE;", "http::wire"),
            ["http::act_wire::BEFORE_INVITE"]
        );
        assert_eq!(
            named("f(self::shards::N, crate::policy::Rule::Burst);", "store"),
            ["store::shards::N", "policy::Rule::Burst"]
        );
    }

    #[test]
    fn comments_and_the_test_module_are_not_code() {
        let text = "use crate::policy::Rule; // not crate::engine\n\
                    /// see [`crate::http::wire`]\n\
                    #[cfg(test)]\nmod tests {\n    use crate::engine::Engine;\n}\n";
        assert_eq!(named(text, "store"), ["policy::Rule"]);
        assert!(uses_crate("use redis::Value;", "redis"));
        assert!(!uses_crate("use crate::store::redis::Keys;", "redis"));
    }

    #[test]
    fn a_breach_is_reported_with_its_file() {
        let root = std::env::temp_dir().join(format!("floodgate-layering-{}", std::process::id()));
        let store = root.join("src/store");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(
            store.join("leak.rs"),
            "pub use crate::engine::campaign_keys::Key;\n",
        )
        .unwrap();
        let found = breaches(&root);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            found,
            ["src/store/leak.rs names engine::campaign_keys::Key (engine)"]
        );
    }
}
