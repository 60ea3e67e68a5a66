//! The vocabulary shared by every layer: the rules and their error codes, the limits and modes an
//! operator sets, and what a broken rule looks like ([`Violation`]). No I/O, no wire format.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// The rules (README, "Rules and error codes"), in the order a message is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    Blocked,
    Burst,
    Mentions,
    Rate,
    Repeat,
    Fanout,
    Campaign,
    /// The text contains an entry of the operator's keyword list.
    Keyword,
    /// The text links to a denied domain.
    Link,
    /// Too many friend requests (README, "Friend requests, groups and profiles").
    Friend,
    /// Too many groups created or applied to, or invitees into one group.
    Group,
    /// The operator's own webhook failed and `FLOODGATE_UPSTREAM_FAIL_MODE` is `closed`.
    Upstream,
    Unavailable,
    /// A cold message from an unknown sender carries a key a moderator reported.
    Reported,
}

impl Rule {
    /// Every rule, for exporting each metric series from start-up.
    pub const ALL: [Rule; 14] = [
        Rule::Burst,
        Rule::Rate,
        Rule::Repeat,
        Rule::Campaign,
        Rule::Fanout,
        Rule::Blocked,
        Rule::Mentions,
        Rule::Keyword,
        Rule::Link,
        Rule::Friend,
        Rule::Group,
        Rule::Reported,
        Rule::Upstream,
        Rule::Unavailable,
    ];

    /// The errCode OpenIM passes to the sender's client; stable, clients switch on it. An
    /// `i32` because OpenIM decodes it as one (a larger value fails the whole reply).
    pub fn err_code(self) -> i32 {
        match self {
            Rule::Burst => 5001,
            Rule::Rate => 5002,
            Rule::Repeat => 5003,
            Rule::Campaign => 5004,
            Rule::Fanout => 5005,
            Rule::Blocked => 5006,
            Rule::Mentions => 5007,
            Rule::Keyword => 5008,
            Rule::Link => 5009,
            Rule::Friend => 5010,
            Rule::Group => 5011,
            Rule::Upstream => 5098,
            Rule::Unavailable => 5099,
            Rule::Reported => 5012,
        }
    }

    /// The metric label and log name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Burst => "burst",
            Rule::Rate => "rate",
            Rule::Repeat => "repeat",
            Rule::Campaign => "campaign",
            Rule::Fanout => "fanout",
            Rule::Blocked => "blocked",
            Rule::Mentions => "mentions",
            Rule::Keyword => "keyword",
            Rule::Link => "link",
            Rule::Friend => "friend",
            Rule::Group => "group",
            Rule::Upstream => "upstream",
            Rule::Unavailable => "unavailable",
            Rule::Reported => "reported",
        }
    }

    /// errMsg: short, shown by the client next to the failed message.
    pub fn reason(self) -> &'static str {
        match self {
            Rule::Burst => "sending too fast",
            Rule::Rate => "too many messages",
            Rule::Repeat => "same message sent too often",
            Rule::Campaign => "message is part of a spam campaign",
            Rule::Fanout => "too many different recipients",
            Rule::Blocked => "sender is temporarily blocked",
            Rule::Mentions => "too many mentions",
            // Never the entry or the domain: that would teach evasion.
            Rule::Keyword => "message contains blocked content",
            Rule::Link => "message links to a blocked site",
            Rule::Friend => "too many friend requests",
            Rule::Group => "too many group requests",
            Rule::Upstream => "message check unavailable",
            Rule::Unavailable => "anti-spam check unavailable",
            Rule::Reported => "message matches reported spam",
        }
    }
}

/// `COUNT` events per `window`: the unit of every windowed rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: NonZeroU32,
    pub window: Duration,
}

impl Limit {
    pub fn new(count: u32, window: Duration) -> Option<Limit> {
        if window.is_zero() {
            return None;
        }
        Some(Limit {
            count: NonZeroU32::new(count)?,
            window,
        })
    }

    pub fn count(&self) -> u64 {
        u64::from(self.count.get())
    }

    pub fn window_ms(&self) -> u64 {
        self.window.as_millis() as u64
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.count, HumanDuration(self.window))
    }
}

/// Whether a rule rejects, or only counts and logs what it would reject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Enforce,
    Shadow,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }
}

/// The mode of each rule (`FLOODGATE_<RULE>_MODE`, overridden by `FLOODGATE_MODE=shadow`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleModes {
    pub burst: Mode,
    pub rate: Mode,
    pub repeat: Mode,
    pub campaign: Mode,
    pub fanout: Mode,
    pub mentions: Mode,
    pub block: Mode,
    pub keyword: Mode,
    pub link: Mode,
    pub friend: Mode,
    pub group: Mode,
    pub reported: Mode,
}

impl RuleModes {
    pub fn all(mode: Mode) -> RuleModes {
        RuleModes {
            burst: mode,
            rate: mode,
            repeat: mode,
            campaign: mode,
            fanout: mode,
            mentions: mode,
            block: mode,
            keyword: mode,
            link: mode,
            friend: mode,
            group: mode,
            reported: mode,
        }
    }

    pub fn of(&self, rule: Rule) -> Mode {
        match rule {
            Rule::Burst => self.burst,
            Rule::Rate => self.rate,
            Rule::Repeat => self.repeat,
            Rule::Campaign => self.campaign,
            Rule::Fanout => self.fanout,
            Rule::Mentions => self.mentions,
            Rule::Blocked => self.block,
            Rule::Keyword => self.keyword,
            Rule::Link => self.link,
            Rule::Friend => self.friend,
            Rule::Group => self.group,
            Rule::Reported => self.reported,
            Rule::Upstream | Rule::Unavailable => Mode::Enforce,
        }
    }
}

/// Every threshold (README, "Configuration"); `None` (or an empty list) means the rule is `off`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub burst: Option<Limit>,
    pub rate: Vec<Limit>,
    pub repeat: Option<Limit>,
    pub repeat_min_chars: usize,
    pub campaign: Option<Limit>,
    pub fanout: Option<Limit>,
    pub mention_limit: Option<u32>,
    /// `AtAllTag` uses per sender (it notifies a whole group): judged with the mentions rule.
    pub at_all: Option<Limit>,
    pub strikes: Option<Limit>,
    pub block_for: Duration,
    pub block_max: Duration,
    /// How long a recipient's message keeps a conversation established (`None`: every message
    /// is cold, and no conversation is remembered).
    pub contact_memory: Option<Duration>,
    /// How long a sender must have been posting in a group before their messages there are
    /// established.
    pub group_seasoning: Duration,
    /// Friend requests per requester (`FLOODGATE_FRIEND_LIMITS`).
    pub friend: Vec<Limit>,
    /// Groups created per owner.
    pub group_create: Vec<Limit>,
    /// Applications to join a group per applicant.
    pub group_join: Vec<Limit>,
    /// Initial members (owner excluded) of the groups one owner creates: `initMemberList` has
    /// no cap and fires no invite callback.
    pub group_members: Vec<Limit>,
    /// Invitees per group.
    pub group_invite: Option<Limit>,
    pub modes: RuleModes,
}

impl Default for Policy {
    /// The contract's defaults.
    fn default() -> Self {
        let limit = |count, secs| Limit::new(count, Duration::from_secs(secs)).expect("non-zero");
        Policy {
            burst: Some(limit(10, 1)),
            rate: vec![limit(30, 10), limit(120, 60), limit(1000, 3600)],
            repeat: Some(limit(3, 600)),
            repeat_min_chars: 10,
            campaign: Some(limit(5, 600)),
            fanout: Some(limit(30, 600)),
            mention_limit: Some(10),
            at_all: Some(limit(3, 3600)),
            strikes: Some(limit(5, 600)),
            block_for: Duration::from_secs(600),
            block_max: Duration::from_secs(86_400),
            contact_memory: Some(Duration::from_secs(30 * 86_400)),
            group_seasoning: Duration::from_secs(3600),
            friend: vec![limit(10, 3600), limit(30, 86_400)],
            group_create: vec![limit(5, 3600), limit(20, 86_400)],
            group_join: vec![limit(10, 3600), limit(50, 86_400)],
            group_members: vec![limit(500, 3600), limit(2000, 86_400)],
            group_invite: Some(limit(200, 3600)),
            modes: RuleModes::default(),
        }
    }
}

impl Policy {
    /// The longest window of any rule kept in a store: how long a sender's state can matter.
    pub fn longest_window_ms(&self) -> u64 {
        self.rate
            .iter()
            .chain(&self.repeat)
            .chain(&self.fanout)
            .chain(&self.strikes)
            .chain(&self.at_all)
            .map(Limit::window_ms)
            .max()
            .unwrap_or(0)
    }

    /// The longest window of the acts' own counts (friend requests, groups created and joined),
    /// kept apart from the message windows: a day, where a message's state lasts an hour.
    pub fn longest_act_window_ms(&self) -> u64 {
        Act::ALL
            .iter()
            .flat_map(|act| act.limits(self))
            .map(Limit::window_ms)
            .max()
            .unwrap_or(0)
    }

    /// The duration of block number `blocks_before + 1`: doubles each time, capped.
    pub fn block_duration(&self, blocks_before: u32) -> Duration {
        let factor = 1u32.checked_shl(blocks_before.min(31)).unwrap_or(u32::MAX);
        self.block_for
            .checked_mul(factor)
            .unwrap_or(self.block_max)
            .min(self.block_max)
    }
}

/// What a user does, other than messaging, that their own windows count (README, "Friend requests,
/// groups and profiles").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    FriendRequest,
    CreateGroup,
    JoinGroup,
    /// The initial members of the groups a user creates: counted with each creation, weighted
    /// by how many it adds, never an act of its own.
    GroupMembers,
}

impl Act {
    pub const ALL: [Act; 4] = [
        Act::FriendRequest,
        Act::CreateGroup,
        Act::JoinGroup,
        Act::GroupMembers,
    ];

    /// Its windows (none: off).
    pub fn limits(self, policy: &Policy) -> &[Limit] {
        match self {
            Act::FriendRequest => &policy.friend,
            Act::CreateGroup => &policy.group_create,
            Act::JoinGroup => &policy.group_join,
            Act::GroupMembers => &policy.group_members,
        }
    }

    /// The rule its windows answer to.
    pub fn rule(self) -> Rule {
        match self {
            Act::FriendRequest => Rule::Friend,
            Act::CreateGroup | Act::JoinGroup | Act::GroupMembers => Rule::Group,
        }
    }

    /// Whether its violations strike the actor. An application's `applyID` is not checked by
    /// OpenIM against the caller: anyone can name a victim, so a strike there would let anyone
    /// frame them into a block.
    pub fn strikes(self) -> bool {
        self != Act::JoinGroup
    }

    /// Its name in the stores (the Redis script's table of acts, field names).
    pub fn name(self) -> &'static str {
        match self {
            Act::FriendRequest => "friend",
            Act::CreateGroup => "create",
            Act::JoinGroup => "join",
            Act::GroupMembers => "members",
        }
    }

    /// Its position in [`Act::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Violations sorted by their rule's mode, in the order they were found: the first of an enforced
/// rule is the answer; those of rules in shadow are reported beside it. (The Lua side keeps the
/// same order in `lua/decision.lua`'s `C.note`.)
#[derive(Debug, Default)]
pub struct ByMode {
    pub enforced: Option<Violation>,
    pub shadow: Vec<Violation>,
}

impl ByMode {
    pub fn note(&mut self, modes: &RuleModes, violation: Violation) {
        match modes.of(violation.rule) {
            Mode::Shadow => self.shadow.push(violation),
            Mode::Enforce if self.enforced.is_none() => self.enforced = Some(violation),
            Mode::Enforce => {}
        }
    }

    pub fn of(modes: &RuleModes, violations: impl IntoIterator<Item = Violation>) -> ByMode {
        let mut sorted = ByMode::default();
        for violation in violations {
            sorted.note(modes, violation);
        }
        sorted
    }
}

/// What breaking a rule looks like: enough to answer OpenIM and to tell the sender when to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    /// The limit that was reached, for errDlt (for `Blocked`: the block's length in `window`).
    pub limit: Option<Limit>,
    /// When the sender may send again.
    pub retry_after: Duration,
    /// Set when this violation reached the strike limit and started a block of this length.
    pub started_block: Option<Duration>,
    /// Mentions only: how many the message carried.
    pub observed: Option<u64>,
    /// Keyword only: the line of the list entry that matched (for the log, never the reply).
    pub list_line: Option<usize>,
    /// Group only: the limit counts the initial members of created groups (`observed` of them
    /// in this creation), not invitees.
    pub members: bool,
}

impl Violation {
    pub fn new(rule: Rule, limit: Option<Limit>, retry_after: Duration) -> Violation {
        Violation {
            rule,
            limit,
            retry_after,
            started_block: None,
            observed: None,
            list_line: None,
            members: false,
        }
    }

    /// `n` invitees at once that do not fit under a group's `limit` before `retry_after` (never,
    /// when zero: more than the limit at once).
    pub fn invitees(limit: Limit, n: u32, retry_after: Duration) -> Violation {
        let mut violation = Violation::new(Rule::Group, Some(limit), retry_after);
        violation.observed = Some(u64::from(n));
        violation
    }

    /// A creation whose `n` initial members do not fit under its owner's `limit` before
    /// `retry_after` (never, when zero: more than the limit at once).
    pub fn members(limit: Limit, n: u64, retry_after: Duration) -> Violation {
        let mut violation = Violation::new(Rule::Group, Some(limit), retry_after);
        violation.observed = Some(n);
        violation.members = true;
        violation
    }

    /// This violation's strike started a block of `length`: say so, and (blocks enforced) the
    /// sender may not send again before the block ends.
    pub fn with_block_started(mut self, length: Option<Duration>, block_mode: Mode) -> Violation {
        if let Some(length) = length {
            self.started_block = Some(length);
            if block_mode == Mode::Enforce {
                self.retry_after = self.retry_after.max(length);
            }
        }
        self
    }

    /// errMsg: the rule's reason and, when waiting helps, when to retry. OpenIM drops errDlt
    /// on the WebSocket path, so this is the only text an app user sees.
    pub fn message(&self) -> String {
        let reason = self.rule.reason();
        if self.retry_after.is_zero() {
            reason.to_string()
        } else {
            format!("{reason}; retry after {}", HumanDuration(self.retry_after))
        }
    }

    /// errDlt: the limit, the window and when the sender may send again.
    pub fn detail(&self) -> String {
        let retry = HumanDuration(self.retry_after);
        let mut text = match (self.rule, self.limit) {
            (Rule::Mentions, Some(limit)) if self.observed.is_none() => format!(
                "limit {} @all per {}; retry after {retry}",
                limit.count(),
                HumanDuration(limit.window)
            ),
            (Rule::Mentions, _) => format!(
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
            (_, Some(limit)) => format!("limit {limit}; retry after {retry}"),
            (_, None) => format!("retry after {retry}"),
        };
        if let Some(block) = self.started_block {
            text.push_str(&format!("; blocked for {}", HumanDuration(block)));
        }
        text
    }
}

/// Formats a duration the way the variables are written: `500ms`, `17s`, `1m40s`, `2h`, `1d`.
#[derive(Clone, Copy, Debug)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis() as u64;
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        // Round up to whole seconds: "retry after 0s" would invite an immediate retry.
        let mut secs = ms.div_ceil(1000);
        let mut wrote = false;
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
                wrote = true;
            }
        }
        if secs > 0 || !wrote {
            write!(f, "{secs}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_double_up_to_the_maximum() {
        let policy = Policy {
            block_for: Duration::from_secs(600),
            block_max: Duration::from_secs(3000),
            ..Policy::default()
        };
        let lengths: Vec<u64> = (0..5).map(|n| policy.block_duration(n).as_secs()).collect();
        assert_eq!(lengths, vec![600, 1200, 2400, 3000, 3000]);
        assert_eq!(policy.block_duration(400).as_secs(), 3000);
    }

    #[test]
    fn the_first_enforced_violation_answers_and_shadow_ones_are_kept_in_order() {
        let mut modes = RuleModes::all(Mode::Enforce);
        modes.repeat = Mode::Shadow;
        modes.keyword = Mode::Shadow;
        let found = |rule| Violation::new(rule, None, Duration::ZERO);
        let sorted = ByMode::of(
            &modes,
            [
                found(Rule::Repeat),
                found(Rule::Rate),
                found(Rule::Keyword),
                found(Rule::Fanout),
            ],
        );
        assert_eq!(sorted.enforced.map(|v| v.rule), Some(Rule::Rate));
        let shadow: Vec<Rule> = sorted.shadow.iter().map(|v| v.rule).collect();
        assert_eq!(shadow, [Rule::Repeat, Rule::Keyword]);
    }

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

    #[test]
    fn human_durations_read_like_the_variables() {
        let show = |ms| HumanDuration(Duration::from_millis(ms)).to_string();
        assert_eq!(show(250), "250ms");
        assert_eq!(show(17_000), "17s");
        assert_eq!(show(16_001), "17s");
        assert_eq!(show(100_000), "1m40s");
        assert_eq!(show(600_000), "10m");
        assert_eq!(show(86_400_000), "1d");
        assert_eq!(show(90_061_000), "1d1h1m1s");
    }

    #[test]
    fn error_codes_are_the_contracts() {
        let codes: Vec<i32> = Rule::ALL.iter().map(|r| r.err_code()).collect();
        assert_eq!(
            codes,
            vec![
                5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009, 5010, 5011, 5012, 5098, 5099
            ]
        );
    }
}
