//! The text of a rejection as OpenIM shows it: errMsg (the client's line next to the failed
//! message) and errDlt (the detail). Rendered apart from [`Violation`], which stays data, for
//! the reply (`http`) and the moderators' records (`engine::moderation`); every string is part
//! of what clients and operators read, so tests pin them.

use crate::policy::{HumanDuration, Limit, Rule, Violation};

/// A violation's errMsg and errDlt.
pub trait ReplyText {
    /// errMsg: the rule's reason and, when waiting helps, when to retry. OpenIM drops errDlt
    /// on the WebSocket path, so this is the only text an app user sees.
    fn message(&self) -> String;

    /// errDlt: the limit, the window and when the sender may send again.
    fn detail(&self) -> String;
}

impl ReplyText for Violation {
    fn message(&self) -> String {
        let reason = self.rule.reason();
        if self.retry_after.is_zero() {
            reason.to_string()
        } else {
            format!("{reason}; retry after {}", HumanDuration(self.retry_after))
        }
    }

    fn detail(&self) -> String {
        let retry = HumanDuration(self.retry_after);
        let mut text = match (self.rule, self.limit) {
            // The count in one message; the rule's windowed violations have a limit and none.
            (Rule::Mentions, limit) if self.observed.is_some() || limit.is_none() => format!(
                "limit {} mentions per message; message has {}; retry now with fewer mentions",
                self.limit.map(|l| l.count()).unwrap_or(0),
                self.observed.unwrap_or(0)
            ),
            (Rule::Group, Some(limit)) if self.observed.is_some() => {
                let n = self.observed.unwrap_or(0);
                let fewer = if self.members { "members" } else { "invitees" };
                let when = if self.retry_after.is_zero() {
                    format!("retry with fewer {fewer}")
                } else {
                    format!("retry after {retry}")
                };
                let (count, window) = (limit.count(), HumanDuration(limit.window));
                if self.members {
                    format!(
                        "limit {count} initial members per {window} in the groups one user \
                         creates; this creation adds {n}; {when}"
                    )
                } else {
                    format!(
                        "limit {count} invitees per {window} per group; this invitation has {n}; \
                         {when}"
                    )
                }
            }
            (Rule::Blocked, Some(block)) => format!(
                "blocked for {} after repeated violations; retry after {retry}",
                HumanDuration(block.window)
            ),
            (Rule::Unavailable, _) => format!("shared store unreachable; retry after {retry}"),
            (Rule::Upstream, _) => format!("the operator's webhook failed; retry after {retry}"),
            (Rule::Keyword, _) => {
                "the text contains an entry of FLOODGATE_KEYWORDS_FILE".to_string()
            }
            (Rule::Link, _) => "the text links to a domain of FLOODGATE_LINK_DENY".to_string(),
            (Rule::Reported, _) => {
                "the text carries content a moderator reported as spam".to_string()
            }
            (rule, Some(limit)) => format!("limit {}; retry after {retry}", counted(rule, limit)),
            (_, None) => format!("retry after {retry}"),
        };
        if let Some(block) = self.started_block {
            text.push_str(&format!("; blocked for {}", HumanDuration(block)));
        }
        text
    }
}

/// `30 per 10s`, or `3 <unit> per 1h` when the rule's threshold names what it counts (when
/// that is not messages).
fn counted(rule: Rule, limit: Limit) -> String {
    match rule
        .entry()
        .threshold()
        .and_then(|threshold| threshold.unit)
    {
        Some(unit) => format!(
            "{} {unit} per {}",
            limit.count(),
            HumanDuration(limit.window)
        ),
        None => limit.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::Limit;

    #[test]
    fn details_tell_limit_window_and_retry() {
        let limit = Limit::new(60, Duration::from_secs(60));
        let violation = Violation::new(Rule::Rate, limit, Duration::from_millis(16_200));
        assert_eq!(violation.detail(), "limit 60 per 1m; retry after 17s");
        assert_eq!(violation.message(), "too many messages; retry after 17s");
    }

    #[test]
    fn a_rejection_that_waiting_does_not_cure_says_no_retry_time() {
        let mut mentions = Violation::new(
            Rule::Mentions,
            Limit::new(3, Duration::from_secs(1)),
            Duration::ZERO,
        );
        mentions.observed = Some(4);
        assert_eq!(mentions.message(), "too many mentions");
        let at_all = Violation::new(
            Rule::Mentions,
            Limit::new(3, Duration::from_secs(3600)),
            Duration::from_secs(60),
        );
        assert_eq!(at_all.detail(), "limit 3 @all per 1h; retry after 1m");
    }
}
