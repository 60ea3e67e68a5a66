//! The vocabulary shared by every layer: the rules and their error codes, the limits and modes an
//! operator sets, and what a broken rule looks like ([`Violation`]). No I/O, no wire format.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::catalogue::{CATALOGUE, RuleMap, Scope, Windows};
pub use crate::catalogue::{Mode, Rule, RuleModes};

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

/// Every threshold (README, "Configuration"); `None` (or an empty list) means the rule is `off`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The windows of each rule whose catalogue entry has a threshold variable (burst, rate,
    /// repeat, fanout, strikes, the mentions rule's whole-group uses); empty for the others.
    /// Read through [`Policy::windows`] and [`Policy::limit`].
    pub thresholds: RuleMap<Vec<Limit>>,
    pub repeat_min_chars: usize,
    pub campaign: Option<Limit>,
    pub mention_limit: Option<u32>,
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
            // The catalogue's defaults (a unit test there parses every one).
            thresholds: RuleMap::from_fn(|rule| match rule.entry().threshold() {
                Some(threshold) => threshold
                    .parse(threshold.default)
                    .expect("the catalogue's defaults parse"),
                None => Vec::new(),
            }),
            repeat_min_chars: 10,
            campaign: Some(limit(5, 600)),
            mention_limit: Some(10),
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
    /// `rule`'s windows, as configured (empty: off, or counted elsewhere — an act's windows
    /// are its `Act`'s).
    pub fn windows(&self, rule: Rule) -> &[Limit] {
        match rule.entry().windows {
            Windows::Set(_) => &self.thresholds[rule],
            Windows::Field(field) => field(self),
            Windows::None => &[],
        }
    }

    /// The first of `rule`'s windows (the one of a rule that has at most one); `None`: off.
    pub fn limit(&self, rule: Rule) -> Option<Limit> {
        self.windows(rule).first().copied()
    }

    /// The longest window of any rule kept in a store: how long a sender's state can matter.
    pub fn longest_window_ms(&self) -> u64 {
        CATALOGUE
            .iter()
            .filter(|entry| entry.scope == Scope::Sender)
            .flat_map(|entry| self.windows(entry.rule))
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

/// The text form of durations and limits, as the variables write them (README,
/// "Configuration"); [`HumanDuration`] writes durations back the same way. Each error says
/// what is wrong with the text; the caller names the variable.
pub mod text {
    use std::time::Duration;

    use super::Limit;

    /// `500ms`, `10s`, `1m`, `1h`, `1d`; a positive integer and exactly one unit.
    pub fn duration(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{text}` has no unit (use ms, s, m, h or d)"))?;
        let (digits, unit) = text.split_at(split);
        let amount: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` does not start with a whole number"))?;
        let millis_per_unit = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                return Err(format!(
                    "`{text}` has unknown unit `{unit}` (use ms, s, m, h or d)"
                ));
            }
        };
        let millis = amount
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("`{text}` is too long"))?;
        if millis == 0 {
            return Err(format!("`{text}` must be longer than zero"));
        }
        Ok(Duration::from_millis(millis))
    }

    /// `COUNT/DURATION`, or `off` (`None`).
    pub fn optional_limit(text: &str) -> Result<Option<Limit>, String> {
        if is_off(text) {
            return Ok(None);
        }
        limit(text).map(Some)
    }

    /// `COUNT/DURATION` with COUNT ≥ 1.
    pub fn limit(text: &str) -> Result<Limit, String> {
        let text = text.trim();
        let (count, window) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not COUNT/DURATION (for example 30/10s)"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: `{count}` is not a whole number"))?;
        let window = duration(window)?;
        Limit::new(count, window).ok_or_else(|| format!("`{text}`: the count must be at least 1"))
    }

    /// A comma-separated list of limits, or `off` (empty list).
    pub fn limit_list(text: &str) -> Result<Vec<Limit>, String> {
        if is_off(text) {
            return Ok(Vec::new());
        }
        let limits = text.split(',').map(limit).collect::<Result<Vec<_>, _>>()?;
        Ok(limits)
    }

    /// `off`, in any case: the rule or setting is off.
    pub fn is_off(text: &str) -> bool {
        text.trim().eq_ignore_ascii_case("off")
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
/// Data only: its text for OpenIM's errMsg and errDlt is rendered by `reply_text`.
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
        modes.set(Rule::Repeat, Mode::Shadow);
        modes.set(Rule::Keyword, Mode::Shadow);
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
}
