//! What the engine decides on and what it answers, as values: the parts of a callback the rules
//! look at ([`Message`]) and the verdict with what rules in shadow found ([`Decision`]).

use crate::policy::Violation;

/// OpenIM's notification content types (docs/openim.md): not written by a user, exempt unless
/// `FLOODGATE_CHECK_SYSTEM=true`. `msgFrom` 200 exempts nothing: any modified client sets it.
pub const NOTIFICATION_TYPES: std::ops::RangeInclusive<i32> = 1000..=5000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chat {
    /// `callbackBeforeSendSingleMsgCommand`: every rule.
    Single,
    /// `callbackBeforeSendGroupMsgCommand`: every rule but fanout; mentions only here.
    Group,
}

/// The parts of a before-send callback the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub chat: Chat,
    pub send_id: &'a str,
    /// `recvID` of a one-to-one message.
    pub recv_id: &'a str,
    /// `groupID` of a group message.
    pub group_id: &'a str,
    pub content_type: i32,
    pub content: &'a str,
    /// Distinct users @-mentioned (`AtAllTag` counts as one).
    pub mentions: usize,
    /// `atUserList` holds `AtAllTag`: the whole group is notified.
    pub at_all: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Reject(Violation),
}

/// The answer for one message, and what shadow-mode rules would have rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub shadow: Vec<Violation>,
    /// A retried callback answered from its first decision: nothing was counted, and nothing
    /// goes on to an upstream webhook again.
    pub replayed: bool,
}

impl Decision {
    pub(super) fn allow(shadow: Vec<Violation>) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            shadow,
            replayed: false,
        }
    }

    pub(super) fn reject(violation: Violation, shadow: Vec<Violation>) -> Decision {
        Decision {
            verdict: Verdict::Reject(violation),
            shadow,
            replayed: false,
        }
    }
}
