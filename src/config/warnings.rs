//! What start-up warns about without refusing to start: a `FLOODGATE_*` variable floodgate does
//! not know (a misspelling would otherwise be silently ignored), and a listener open beyond
//! loopback without its token. Data here; `main` logs each one once logging is set up.

use std::fmt;
use std::net::SocketAddr;

use super::vars;

/// Longest part of a variable's name compared or shown: names are short, and a very long one
/// (from anywhere in the environment) must not cost more than a fixed amount of work.
const MAX_NAME: usize = 64;

/// One thing start-up warns about. Never carries a variable's value: it may be a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A `FLOODGATE_*` variable that is not one of [`vars::ALL`]; `closest` is the known name
    /// nearest to it by edit distance.
    UnknownVariable { name: String, closest: &'static str },
    /// `FLOODGATE_AUTH_TOKEN` unset with the webhook listening beyond loopback.
    OpenWebhook { listen: SocketAddr },
    /// `FLOODGATE_ADMIN_TOKEN` unset with the admin listener beyond loopback.
    OpenAdmin { listen: SocketAddr },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnknownVariable { name, closest } => write!(
                f,
                "unknown variable {name} is ignored; did you mean {closest}? \
                 (README, \"Configuration\")"
            ),
            Warning::OpenWebhook { listen } => write!(
                f,
                "FLOODGATE_AUTH_TOKEN is unset and the webhook listens beyond loopback \
                 ({listen}): anyone who reaches it can forge callbacks that strike and block \
                 any user; set the token (and put it in OpenIM's webhook url) or bind \
                 FLOODGATE_LISTEN to 127.0.0.1"
            ),
            Warning::OpenAdmin { listen } => write!(
                f,
                "FLOODGATE_ADMIN_TOKEN is unset and the admin API listens beyond loopback \
                 ({listen}): anyone who reaches it can lift blocks \
                 (DELETE /v1/senders/…/block); set the token or bind FLOODGATE_ADMIN_LISTEN \
                 to 127.0.0.1"
            ),
        }
    }
}

/// One warning per `FLOODGATE_*` name in `names` that floodgate does not know, in `names`' order.
pub(super) fn unknown_variables<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Warning> {
    names
        .filter(|name| !vars::ALL.contains(name))
        .map(|name| Warning::UnknownVariable {
            name: shown_name(name),
            closest: closest(name),
        })
        .collect()
}

/// The listeners that anyone beyond this host can reach without a token.
pub(super) fn open_listeners(
    listen: SocketAddr,
    auth_token: bool,
    admin_listen: SocketAddr,
    admin_token: bool,
) -> Vec<Warning> {
    let beyond_loopback = |addr: SocketAddr| !addr.ip().to_canonical().is_loopback();
    let mut warnings = Vec::new();
    if !auth_token && beyond_loopback(listen) {
        warnings.push(Warning::OpenWebhook { listen });
    }
    if !admin_token && beyond_loopback(admin_listen) {
        warnings.push(Warning::OpenAdmin {
            listen: admin_listen,
        });
    }
    warnings
}

/// The name as logged: its first [`MAX_NAME`] characters.
fn shown_name(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_string(),
    }
}

/// The known name nearest to `name` (case ignored); the first of equals in [`vars::ALL`]'s order.
fn closest(name: &str) -> &'static str {
    let name: Vec<u8> = name
        .bytes()
        .take(MAX_NAME)
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let mut best = (usize::MAX, vars::ALL[0]);
    for known in vars::ALL {
        let distance = edit_distance(&name, known.as_bytes());
        if distance < best.0 {
            best = (distance, known);
        }
    }
    best.1
}

/// Levenshtein distance over bytes, one row at a time: O(|a|·|b|) time, O(|b|) memory.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance(b"", b"abc"), 3);
        assert_eq!(edit_distance(b"abc", b"abc"), 0);
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
        assert_eq!(edit_distance(b"RATE_LIMIT", b"RATE_LIMITS"), 1);
    }

    #[test]
    fn a_misspelt_name_gets_the_closest_known_one() {
        assert_eq!(closest("FLOODGATE_RATE_LIMIT"), "FLOODGATE_RATE_LIMITS");
        assert_eq!(closest("FLOODGATE_AUTH_TOKN"), "FLOODGATE_AUTH_TOKEN");
        assert_eq!(closest("floodgate_admin_listen"), "FLOODGATE_ADMIN_LISTEN");
        assert_eq!(closest("FLOODGATE_REPEAT_MODES"), "FLOODGATE_REPEAT_MODE");
    }

    fn config(vars: &[(&str, &str)]) -> crate::config::Config {
        crate::config::Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap()
    }

    #[test]
    fn an_unknown_variable_is_named_with_the_closest_known_one_and_never_its_value() {
        let config = config(&[
            ("FLOODGATE_RATE_LIMIT", "1/1m"),
            ("FLOODGATE_ADMIN_TOKN", "s3cret-admin-token"),
            ("FLOODGATE_RATE_LIMITS", "30/10s"),
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "127.0.0.1:0"),
            ("PATH", "/usr/bin"),
        ]);
        assert_eq!(
            config.warnings(),
            [
                Warning::UnknownVariable {
                    name: "FLOODGATE_ADMIN_TOKN".into(),
                    closest: "FLOODGATE_ADMIN_TOKEN",
                },
                Warning::UnknownVariable {
                    name: "FLOODGATE_RATE_LIMIT".into(),
                    closest: "FLOODGATE_RATE_LIMITS",
                },
            ]
        );
        let text: Vec<String> = config.warnings().iter().map(Warning::to_string).collect();
        assert!(text[1].contains("FLOODGATE_RATE_LIMIT ") && text[1].contains("RATE_LIMITS?"));
        assert!(!text.concat().contains("s3cret") && !text.concat().contains("1/1m"));
    }

    #[test]
    fn known_and_announced_variables_are_not_warned_about() {
        let mut vars: Vec<(&str, &str)> = vars::ANNOUNCED.iter().map(|n| (*n, "x")).collect();
        vars.extend(vars::RULE_MODES.iter().map(|n| (*n, "shadow")));
        vars.extend([
            ("FLOODGATE_LISTEN", "127.0.0.1:0"),
            ("FLOODGATE_ADMIN_LISTEN", "[::1]:0"),
        ]);
        assert_eq!(config(&vars).warnings(), []);
    }

    #[test]
    fn every_variable_of_the_readmes_table_is_known_and_every_known_one_is_in_the_table() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let mut table: Vec<String> = Vec::new();
        for line in readme.lines() {
            let Some(name) = line
                .strip_prefix("| ")
                .and_then(|rest| rest.split(' ').next())
                .filter(|name| name.starts_with("FLOODGATE_"))
            else {
                continue;
            };
            if name == "FLOODGATE_&lt;RULE&gt;_MODE" {
                table.extend(vars::RULE_MODES.iter().map(|n| n.to_string()));
            } else {
                table.push(name.to_string());
            }
        }
        for name in &table {
            assert!(
                vars::ALL.contains(&name.as_str()),
                "{name} is not in vars::ALL"
            );
        }
        for name in vars::ALL {
            // Announced names join the table with the change that makes floodgate read them.
            let documented = table.iter().any(|n| n == name) || vars::ANNOUNCED.contains(name);
            assert!(documented, "{name} is missing from the README's table");
        }
        assert!(table.len() >= 50, "the table was not found: {table:?}");
    }

    #[test]
    fn a_listener_beyond_loopback_without_its_token_is_warned_about() {
        let open = config(&[]);
        assert_eq!(
            open.warnings(),
            [
                Warning::OpenWebhook {
                    listen: "0.0.0.0:8080".parse().unwrap()
                },
                Warning::OpenAdmin {
                    listen: "0.0.0.0:9091".parse().unwrap()
                },
            ]
        );
        let text = open.warnings()[0].to_string();
        assert!(text.contains("FLOODGATE_AUTH_TOKEN") && text.contains("forge callbacks"));
        assert!(open.warnings()[1].to_string().contains("lift blocks"));

        let webhook_only = config(&[
            ("FLOODGATE_LISTEN", "10.0.0.5:8080"),
            ("FLOODGATE_ADMIN_LISTEN", "[::1]:9091"),
        ]);
        assert!(matches!(
            webhook_only.warnings()[..],
            [Warning::OpenWebhook { .. }]
        ));
        let admin_only = config(&[
            ("FLOODGATE_LISTEN", "[::]:8080"),
            ("FLOODGATE_AUTH_TOKEN", "webhook-t0ken"),
        ]);
        assert!(matches!(
            admin_only.warnings()[..],
            [Warning::OpenAdmin { .. }]
        ));
        let with_tokens = config(&[
            ("FLOODGATE_AUTH_TOKEN", "webhook-t0ken"),
            ("FLOODGATE_ADMIN_TOKEN", "admin-t0ken"),
        ]);
        assert_eq!(with_tokens.warnings(), []);
        for loopback in ["127.0.0.1:8080", "[::1]:8080", "[::ffff:127.0.0.1]:8080"] {
            let quiet = config(&[
                ("FLOODGATE_LISTEN", loopback),
                ("FLOODGATE_ADMIN_LISTEN", loopback),
            ]);
            assert_eq!(quiet.warnings(), [], "{loopback}");
        }
        assert_eq!(crate::config::Config::for_tests().warnings(), []);
    }

    #[test]
    fn a_huge_name_is_compared_and_shown_only_in_part() {
        let huge = format!("FLOODGATE_{}", "X".repeat(100_000));
        let warnings = unknown_variables([huge.as_str()].into_iter());
        let [Warning::UnknownVariable { name, .. }] = &warnings[..] else {
            panic!("{warnings:?}");
        };
        assert_eq!(name.chars().count(), MAX_NAME + 1);
    }
}
