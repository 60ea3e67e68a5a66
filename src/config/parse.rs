//! Parsers for the value syntaxes of the README's "Configuration": durations, `COUNT/DURATION` limits, sizes,
//! booleans and modes. Pure functions; the caller attaches the variable's name to any error.

use std::time::Duration;

use crate::policy::Mode;
// The durations and limits are the policy's own syntax; the config reads it from there.
pub(super) use crate::policy::text::{duration, is_off, limit_list, optional_limit};

/// A duration, or `off` (`None`).
pub(super) fn optional_duration(text: &str) -> Result<Option<Duration>, String> {
    if is_off(text) {
        return Ok(None);
    }
    duration(text).map(Some)
}

/// A count, or `off` (`None`).
pub(super) fn optional_count(text: &str) -> Result<Option<u32>, String> {
    if is_off(text) {
        return Ok(None);
    }
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("`{text}` is not a whole number or `off`"))
}

/// Bytes, or with a `KiB`/`MiB`/`KB`/`MB` suffix.
pub(super) fn size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let amount: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let multiplier = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "KB" => 1000,
        "MB" => 1000 * 1000,
        other => {
            return Err(format!(
                "`{text}` has unknown unit `{other}` (use KiB, MiB, KB or MB)"
            ));
        }
    };
    match amount.checked_mul(multiplier) {
        Some(0) => Err(format!("`{text}` must be larger than zero")),
        Some(bytes) => Ok(bytes),
        None => Err(format!("`{text}` is too large")),
    }
}

pub(super) fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("`{text}` is not true or false")),
    }
}

pub(super) fn mode(text: &str) -> Result<Mode, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "enforce" => Ok(Mode::Enforce),
        "shadow" => Ok(Mode::Shadow),
        _ => Err(format!("`{text}` is not `enforce` or `shadow`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::text::limit;

    #[test]
    fn durations_take_every_documented_unit() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn durations_without_unit_or_with_zero_or_junk_are_refused() {
        for bad in [
            "10",
            "0s",
            "s",
            "1.5s",
            "10 parsecs",
            "-1s",
            "",
            "99999999999999999999d",
        ] {
            assert!(duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn limits_parse_count_and_window() {
        let limit = limit("30/10s").unwrap();
        assert_eq!(limit.count(), 30);
        assert_eq!(limit.window, Duration::from_secs(10));
        assert_eq!(optional_limit("off"), Ok(None));
        assert_eq!(optional_limit("OFF"), Ok(None));
        for bad in ["0/10s", "30", "30/", "/10s", "x/1m", "30/10"] {
            assert!(
                crate::policy::text::limit(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn limit_lists_split_on_commas_and_accept_off() {
        let limits = limit_list("30/10s, 120/1m,1000/1h").unwrap();
        assert_eq!(limits.len(), 3);
        assert_eq!(limits[2].window, Duration::from_secs(3600));
        assert_eq!(limit_list("off"), Ok(vec![]));
        assert!(limit_list("30/10s,,").is_err());
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(size("256KiB"), Ok(262_144));
        assert_eq!(size("1MiB"), Ok(1_048_576));
        assert_eq!(size("2KB"), Ok(2000));
        assert_eq!(size("1MB"), Ok(1_000_000));
        assert_eq!(size("4096"), Ok(4096));
        assert!(size("0").is_err());
        assert!(size("1GiB?").is_err());
    }

    #[test]
    fn booleans_and_modes() {
        assert_eq!(boolean("TRUE"), Ok(true));
        assert_eq!(boolean("false"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(mode("shadow"), Ok(Mode::Shadow));
        assert!(mode("dry-run").is_err());
    }
}
