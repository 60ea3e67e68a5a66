//! The catalogue of rules: each rule once — its errCode, its one name, its mode variable, its
//! errMsg, its scope, the primitive its state is and the windows it counts in (its threshold
//! variable, default and errDlt unit). The mode and threshold variables, the metric labels,
//! errMsg, errDlt and the constants handed to the Lua scripts are generated from [`CATALOGUE`];
//! nothing else lists the rules by hand.

use std::ops::{Index, IndexMut};

use crate::policy::{Limit, Policy, text};

/// The rules (README, "Rules and error codes"). Their order is the catalogue's: a rule's
/// position is its index in [`CATALOGUE`] and in [`RuleModes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    Burst,
    Rate,
    Repeat,
    Campaign,
    Fanout,
    Blocked,
    /// Mentions per message, and uses of the whole group's mention per sender.
    Mentions,
    /// The text contains an entry of the operator's keyword list.
    Keyword,
    /// The text links to a denied domain.
    Link,
    /// Too many friend requests (README, "Friend requests, groups and profiles").
    Friend,
    /// Too many groups created or applied to, or invitees into one group.
    Group,
    /// A cold message from an unknown sender carries a key a moderator reported.
    Reported,
    /// The operator's own webhook failed and `FLOODGATE_UPSTREAM_FAIL_MODE` is `closed`.
    Upstream,
    Unavailable,
}

/// Whose state a rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The sender of a message, in the shared store (one record per sender).
    Sender,
    /// The sender, in each replica's own memory (never a store call).
    Replica,
    /// The actor of an act other than a message (and, for invitees, the group).
    Actor,
    /// A key several senders share (a campaign key).
    Shared,
    /// The message alone: nothing is kept.
    Message,
    /// floodgate itself (its store or the operator's webhook failed).
    Service,
}

/// The shape of a rule's state: what the stores count and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Primitive {
    /// Events in sliding windows, one counter per window.
    Window,
    /// Events per key (a content) in a sliding window.
    CountPerKey,
    /// Distinct keys (recipients, senders) in a sliding window.
    DistinctSet,
    /// Set or not (a block).
    Flag,
    /// No state.
    Stateless,
}

/// One rule, as every layer knows it.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub rule: Rule,
    /// errCode; stable, clients switch on it. An `i32` because OpenIM decodes it as one (a
    /// larger value fails the whole reply).
    pub code: i32,
    /// The one name: the metric label, the log name, the name in the Lua scripts' tables.
    pub name: &'static str,
    /// Its `FLOODGATE_<RULE>_MODE` variable; `None` for a rule that is always enforced.
    /// `<RULE>` is usually `name` in capitals; where the contract spelled the two apart (the
    /// variable `FLOODGATE_BLOCK_MODE`, the label `blocked`) both are kept, as operators'
    /// configuration and dashboards already use them.
    pub mode: Option<&'static str>,
    /// errMsg: short, shown by the client next to the failed message.
    pub reason: &'static str,
    pub scope: Scope,
    pub primitive: Primitive,
    /// Where the windows its state counts in are set ([`Policy::windows`] reads them).
    pub windows: Windows,
    /// The letter naming its state in a stored record (a Redis hash field starts with it; a
    /// distinct set's keys start with it in lower case). Part of the stored layout: changing it
    /// would reset every count on upgrade.
    pub tag: Option<char>,
}

/// Where a rule's windows are set.
#[derive(Clone, Copy, Debug)]
pub enum Windows {
    /// None of its own: no state, or an act's windows (its `Act`'s).
    None,
    /// Its threshold variable, parsed into [`Policy::thresholds`].
    Set(Threshold),
    /// A field of [`Policy`] that the code of its rule reads by name (the campaign rule's).
    Field(fn(&Policy) -> &[Limit]),
}

/// A rule's threshold variable: its `COUNT/DURATION` limit, or a comma-separated list of them,
/// or `off`.
#[derive(Clone, Copy, Debug)]
pub struct Threshold {
    pub variable: &'static str,
    /// The default, as the README states it; `Policy::default()` parses it too.
    pub default: &'static str,
    /// Several windows (a list), or at most one.
    pub list: bool,
    /// What errDlt says is counted (`limit 3 @all per 1h`); `None` for messages, left unsaid
    /// (`limit 30 per 10s`).
    pub unit: Option<&'static str>,
}

impl Threshold {
    const fn one(variable: &'static str, default: &'static str) -> Threshold {
        Threshold {
            variable,
            default,
            list: false,
            unit: None,
        }
    }

    const fn list(variable: &'static str, default: &'static str) -> Threshold {
        Threshold {
            list: true,
            ..Threshold::one(variable, default)
        }
    }

    /// errDlt names what it counts `unit`, not messages.
    const fn counting(self, unit: &'static str) -> Threshold {
        Threshold {
            unit: Some(unit),
            ..self
        }
    }

    /// The windows a value of the variable sets (`off`: none). The error says what is wrong
    /// with the value; the caller names the variable.
    pub fn parse(&self, value: &str) -> Result<Vec<Limit>, String> {
        match self.list {
            true => text::limit_list(value),
            false => Ok(text::optional_limit(value)?.into_iter().collect()),
        }
    }
}

/// `FLOODGATE_<RULE>_MODE`, spelled once.
macro_rules! mode {
    ($rule:literal) => {
        Some(concat!("FLOODGATE_", $rule, "_MODE"))
    };
}

/// Every rule, in [`Rule`] order.
pub const CATALOGUE: [Entry; 14] = [
    Entry {
        rule: Rule::Burst,
        code: 5001,
        name: "burst",
        mode: mode!("BURST"),
        reason: "sending too fast",
        scope: Scope::Replica,
        primitive: Primitive::Window,
        windows: Windows::Set(Threshold::one("FLOODGATE_BURST", "10/1s")),
        tag: None,
    },
    Entry {
        rule: Rule::Rate,
        code: 5002,
        name: "rate",
        mode: mode!("RATE"),
        reason: "too many messages",
        scope: Scope::Sender,
        primitive: Primitive::Window,
        windows: Windows::Set(Threshold::list(
            "FLOODGATE_RATE_LIMITS",
            "30/10s,120/1m,1000/1h",
        )),
        // `W`, not the `w` of the msgpack lists an earlier version kept: a replica of either
        // version never misreads the other's field during a rolling upgrade.
        tag: Some('W'),
    },
    Entry {
        rule: Rule::Repeat,
        code: 5003,
        name: "repeat",
        mode: mode!("REPEAT"),
        reason: "same message sent too often",
        scope: Scope::Sender,
        primitive: Primitive::CountPerKey,
        windows: Windows::Set(Threshold::one("FLOODGATE_REPEAT_LIMIT", "3/10m")),
        tag: Some('r'),
    },
    Entry {
        rule: Rule::Campaign,
        code: 5004,
        name: "campaign",
        mode: mode!("CAMPAIGN"),
        reason: "message is part of a spam campaign",
        scope: Scope::Shared,
        primitive: Primitive::DistinctSet,
        windows: Windows::Field(|p| p.campaign.as_slice()),
        tag: None,
    },
    Entry {
        rule: Rule::Fanout,
        code: 5005,
        name: "fanout",
        mode: mode!("FANOUT"),
        reason: "too many different recipients",
        scope: Scope::Sender,
        primitive: Primitive::DistinctSet,
        windows: Windows::Set(Threshold::one("FLOODGATE_FANOUT_LIMIT", "30/10m")),
        // `T<window>` holds the ring; each recipient's last time is `t<recipient>`.
        tag: Some('T'),
    },
    Entry {
        rule: Rule::Blocked,
        code: 5006,
        name: "blocked",
        mode: mode!("BLOCK"),
        reason: "sender is temporarily blocked",
        scope: Scope::Sender,
        primitive: Primitive::Flag,
        // Strikes (a violation of any rule) in a window: the one that reaches the limit blocks.
        windows: Windows::Set(Threshold::one("FLOODGATE_STRIKES", "5/10m")),
        tag: None,
    },
    Entry {
        rule: Rule::Mentions,
        code: 5007,
        name: "mentions",
        mode: mode!("MENTIONS"),
        reason: "too many mentions",
        scope: Scope::Sender,
        // The per-message count is stateless; the stores keep the `AtAllTag` uses.
        primitive: Primitive::Window,
        windows: Windows::Set(Threshold::one("FLOODGATE_AT_ALL_LIMIT", "3/1h").counting("@all")),
        tag: Some('A'),
    },
    Entry {
        rule: Rule::Keyword,
        code: 5008,
        name: "keyword",
        mode: mode!("KEYWORD"),
        // Never the entry or the domain: that would teach evasion.
        reason: "message contains blocked content",
        scope: Scope::Message,
        primitive: Primitive::Stateless,
        windows: Windows::None,
        tag: None,
    },
    Entry {
        rule: Rule::Link,
        code: 5009,
        name: "link",
        mode: mode!("LINK"),
        reason: "message links to a blocked site",
        scope: Scope::Message,
        primitive: Primitive::Stateless,
        windows: Windows::None,
        tag: None,
    },
    Entry {
        rule: Rule::Friend,
        code: 5010,
        name: "friend",
        mode: mode!("FRIEND"),
        reason: "too many friend requests",
        scope: Scope::Actor,
        primitive: Primitive::Window,
        windows: Windows::None,
        tag: None,
    },
    Entry {
        rule: Rule::Group,
        code: 5011,
        name: "group",
        mode: mode!("GROUP"),
        reason: "too many group requests",
        scope: Scope::Actor,
        primitive: Primitive::Window,
        windows: Windows::None,
        tag: None,
    },
    Entry {
        rule: Rule::Reported,
        code: 5012,
        name: "reported",
        mode: mode!("REPORTED"),
        reason: "message matches reported spam",
        // The moderators' reported keys, held by every replica (engine::moderation): a flag
        // per campaign key, never counted per sender.
        scope: Scope::Shared,
        primitive: Primitive::Flag,
        windows: Windows::None,
        tag: None,
    },
    Entry {
        rule: Rule::Upstream,
        code: 5098,
        name: "upstream",
        mode: None,
        reason: "message check unavailable",
        scope: Scope::Service,
        primitive: Primitive::Stateless,
        windows: Windows::None,
        tag: None,
    },
    Entry {
        rule: Rule::Unavailable,
        code: 5099,
        name: "unavailable",
        mode: None,
        reason: "anti-spam check unavailable",
        scope: Scope::Service,
        primitive: Primitive::Stateless,
        windows: Windows::None,
        tag: None,
    },
];

// A rule's index is its position: the catalogue must list them in `Rule` order.
const _: () = {
    let mut i = 0;
    while i < CATALOGUE.len() {
        assert!(
            CATALOGUE[i].rule as usize == i,
            "CATALOGUE out of Rule order"
        );
        i += 1;
    }
};

impl Rule {
    /// Every rule, for exporting each metric series from start-up.
    pub const ALL: [Rule; CATALOGUE.len()] = {
        let mut all = [Rule::Burst; CATALOGUE.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = CATALOGUE[i].rule;
            i += 1;
        }
        all
    };

    /// Its catalogue entry.
    pub fn entry(self) -> &'static Entry {
        &CATALOGUE[self as usize]
    }

    /// Its position in [`Rule::ALL`] and [`CATALOGUE`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The errCode OpenIM passes to the sender's client.
    pub fn err_code(self) -> i32 {
        self.entry().code
    }

    /// The metric label and log name.
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// errMsg: short, shown by the client next to the failed message.
    pub fn reason(self) -> &'static str {
        self.entry().reason
    }

    /// The rule with this errCode.
    pub fn of_code(code: i64) -> Option<Rule> {
        CATALOGUE
            .iter()
            .find(|entry| i64::from(entry.code) == code)
            .map(|entry| entry.rule)
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

/// The mode of each rule (`FLOODGATE_<RULE>_MODE`, overridden by `FLOODGATE_MODE=shadow`),
/// indexed by rule. A rule without a mode variable is always enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleModes([Mode; CATALOGUE.len()]);

impl RuleModes {
    /// Every rule that has a mode in `mode`.
    pub fn all(mode: Mode) -> RuleModes {
        RuleModes(CATALOGUE.map(|entry| match entry.mode {
            Some(_) => mode,
            None => Mode::Enforce,
        }))
    }

    pub fn of(&self, rule: Rule) -> Mode {
        self.0[rule.index()]
    }

    /// Sets `rule`'s mode; a rule without a mode variable stays enforced.
    pub fn set(&mut self, rule: Rule, mode: Mode) {
        if rule.entry().mode.is_some() {
            self.0[rule.index()] = mode;
        }
    }
}

/// How many rules have a mode variable.
const MODE_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < CATALOGUE.len() {
        if CATALOGUE[i].mode.is_some() {
            n += 1;
        }
        i += 1;
    }
    n
};

/// `FLOODGATE_<RULE>_MODE` of every rule that has one, in catalogue order.
pub const MODE_VARIABLES: [&str; MODE_COUNT] = {
    let mut vars = [""; MODE_COUNT];
    let (mut n, mut i) = (0, 0);
    while i < CATALOGUE.len() {
        if let Some(var) = CATALOGUE[i].mode {
            vars[n] = var;
            n += 1;
        }
        i += 1;
    }
    vars
};

/// How many rules have a threshold variable.
const THRESHOLD_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < CATALOGUE.len() {
        if let Windows::Set(_) = CATALOGUE[i].windows {
            n += 1;
        }
        i += 1;
    }
    n
};

/// The threshold variable of every rule that has one, in catalogue order.
pub const THRESHOLD_VARIABLES: [&str; THRESHOLD_COUNT] = {
    let mut vars = [""; THRESHOLD_COUNT];
    let (mut n, mut i) = (0, 0);
    while i < CATALOGUE.len() {
        if let Windows::Set(threshold) = CATALOGUE[i].windows {
            vars[n] = threshold.variable;
            n += 1;
        }
        i += 1;
    }
    vars
};

impl Entry {
    /// Its threshold variable, if its windows are set by one.
    pub fn threshold(&self) -> Option<&'static Threshold> {
        match &CATALOGUE[self.rule as usize].windows {
            Windows::Set(threshold) => Some(threshold),
            Windows::None | Windows::Field(_) => None,
        }
    }
}

/// The rules with a threshold variable, and their thresholds, in catalogue order.
pub fn thresholds() -> impl Iterator<Item = (Rule, &'static Threshold)> {
    CATALOGUE
        .iter()
        .filter_map(|entry| Some((entry.rule, entry.threshold()?)))
}

/// One value per rule, indexed by rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMap<T>([T; CATALOGUE.len()]);

impl<T> RuleMap<T> {
    pub fn from_fn(mut value: impl FnMut(Rule) -> T) -> RuleMap<T> {
        RuleMap(std::array::from_fn(|i| value(Rule::ALL[i])))
    }
}

impl<T> Index<Rule> for RuleMap<T> {
    type Output = T;

    fn index(&self, rule: Rule) -> &T {
        &self.0[rule.index()]
    }
}

impl<T> IndexMut<Rule> for RuleMap<T> {
    fn index_mut(&mut self, rule: Rule) -> &mut T {
        &mut self.0[rule.index()]
    }
}

/// The mode variables with their rules, in catalogue order.
pub fn mode_variables() -> impl Iterator<Item = (Rule, &'static str)> {
    CATALOGUE
        .iter()
        .filter_map(|entry| Some((entry.rule, entry.mode?)))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn mode_variables_and_labels_are_the_contracts() {
        let vars: Vec<&str> = mode_variables().map(|(_, var)| var).collect();
        let contract = [
            "BURST", "RATE", "REPEAT", "CAMPAIGN", "FANOUT", "BLOCK", "MENTIONS", "KEYWORD",
            "LINK", "FRIEND", "GROUP", "REPORTED",
        ]
        .map(|rule| format!("FLOODGATE_{rule}_MODE"));
        assert_eq!(vars, contract);
        assert_eq!(MODE_VARIABLES, contract.each_ref().map(String::as_str));
        let labels: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(
            labels,
            [
                "burst",
                "rate",
                "repeat",
                "campaign",
                "fanout",
                "blocked",
                "mentions",
                "keyword",
                "link",
                "friend",
                "group",
                "reported",
                "upstream",
                "unavailable"
            ]
        );
    }

    #[test]
    fn every_threshold_default_parses_and_the_variables_are_the_contracts() {
        let defaults = Policy::default();
        for (rule, threshold) in thresholds() {
            let windows = threshold.parse(threshold.default);
            assert!(windows.is_ok(), "{}: {windows:?}", rule.name());
            let windows = windows.unwrap_or_default();
            assert!(threshold.list || windows.len() <= 1, "{}", rule.name());
            assert_eq!(defaults.windows(rule), windows, "{}", rule.name());
            assert_eq!(threshold.parse("off"), Ok(Vec::new()));
        }
        assert_eq!(
            THRESHOLD_VARIABLES,
            [
                "FLOODGATE_BURST",
                "FLOODGATE_RATE_LIMITS",
                "FLOODGATE_REPEAT_LIMIT",
                "FLOODGATE_FANOUT_LIMIT",
                "FLOODGATE_STRIKES",
                "FLOODGATE_AT_ALL_LIMIT"
            ]
        );
    }

    #[test]
    fn every_code_names_its_rule_and_rules_without_a_mode_stay_enforced() {
        for rule in Rule::ALL {
            assert_eq!(Rule::of_code(i64::from(rule.err_code())), Some(rule));
        }
        let mut modes = RuleModes::all(Mode::Shadow);
        modes.set(Rule::Unavailable, Mode::Shadow);
        assert_eq!(modes.of(Rule::Unavailable), Mode::Enforce);
        assert_eq!(modes.of(Rule::Upstream), Mode::Enforce);
        assert_eq!(modes.of(Rule::Blocked), Mode::Shadow);
    }
}
