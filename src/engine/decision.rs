//! What the engine decides on and what it answers, as values: the parts of a callback the rules
//! look at ([`Message`]) and the verdict with what rules in shadow found ([`Decision`]).

use crate::policy::{Rule, Violation};
use crate::store::Counted;

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

/// The parts of a before-send callback the rules look at. Built in one place from the wire
/// (`http::wire`); elsewhere start from [`Message::new`] (`..Message::new(chat, sender)`), so
/// that a field added for a new rule touches no other caller.
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

impl<'a> Message<'a> {
    /// A message known by its chat and sender alone: no recipient, text or mentions (a body
    /// read only in part).
    pub fn new(chat: Chat, send_id: &'a str) -> Message<'a> {
        Message {
            chat,
            send_id,
            recv_id: "",
            group_id: "",
            content_type: 0,
            content: "",
            mentions: 0,
            at_all: false,
        }
    }

    /// The predicates of the sender's windowed rules that count a message under its sender
    /// alone (`Counted::holds`): which of them count this one. A new such rule adds its line
    /// here, beside the field it reads.
    pub fn counted(&self) -> Counted {
        Counted::default()
            // `AtAllTag` notifies a whole group; in a one-to-one chat it is one person.
            .with(Rule::Mentions, self.chat == Chat::Group && self.at_all)
    }
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
