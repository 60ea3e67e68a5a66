//! The protocol between Rust and `lua/sender.lua`, in one place: the operations, the arguments
//! of a call (one struct, in the order the script's header documents), and the replies, decoded
//! by name. The codes and names both sides must agree on reach the script through the prelude
//! (`prelude.rs` writes them from the constants here), so a Lua literal never restates them.

use std::time::Duration;

use super::keys;
use super::program::Call;
use crate::policy::{Act, Limit, Policy, Rule, Violation};
use crate::store::{
    Conversation, CopyKeys, Counted, Fingerprint, KeyOutcome, Peer, RecipientKey, Recorded, Replay,
    SenderKey, SenderStatus, StoreError, StrikeOutcome,
};

/// What a call of the sender script does (`ARGV[1]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Check,
    Act,
    Strike,
    Status,
    Unblock,
}

impl Op {
    pub(super) const ALL: [Op; 5] = [Op::Check, Op::Act, Op::Strike, Op::Status, Op::Unblock];

    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Check => "check",
            Op::Act => "act",
            Op::Strike => "strike",
            Op::Status => "status",
            Op::Unblock => "unblock",
        }
    }
}

/// In `COUNTERS` (the prelude): a stored rule every message counts in, under its sender alone.
pub(super) const ALWAYS: i64 = -1;

/// In `COUNTERS`: a windowed rule a message counts in, under its sender alone, when the call
/// names its tag in `ARGV[TAGGED_ARG]` (a rule of [`Counted`]).
pub(super) const TAGGED: i64 = -2;
/// The ARGV index of the tags of the rules a message counts in ([`Counted`]).
pub(super) const TAGGED_ARG: usize = 8;

/// Where a call carries the key a stored rule of the sender counts a message under: the ARGV
/// index for a cold message and for an established one ([`ALWAYS`], [`TAGGED`]; 0: not
/// counted). An established message counts repeat per conversation and skips fanout.
pub(super) fn counted_under(rule: Rule) -> (i64, i64) {
    match rule {
        Rule::Rate => (ALWAYS, ALWAYS),
        Rule::Repeat => (3, 9),
        Rule::Fanout => (4, 0),
        rule if Counted::holds(rule) => (TAGGED, TAGGED),
        _ => (0, 0),
    }
}

/// `ARGV[TAGGED_ARG]`: the tags of the rules in `counted`, one letter each (a tag is ASCII: it
/// starts a hash field).
fn tags(counted: Counted) -> String {
    counted
        .rules()
        .filter_map(|rule| rule.entry().tag)
        .collect()
}

/// `verdict` of a check reply.
pub(super) const ADMITTED: i64 = 0;
pub(super) const REJECTED: i64 = 1;
/// Put before a check reply recorded for a callback within its replay window: the first
/// decision, answered again.
pub(super) const REPLAYED: i64 = 3;

/// Whether a check or act reply is a replayed one, and the reply without that mark.
pub(super) fn replayed(reply: &[i64]) -> (bool, &[i64]) {
    match reply.split_first() {
        Some((&REPLAYED, first)) => (true, first),
        _ => (false, reply),
    }
}

/// `recipient_recorded` of an admitted check: what the check did to the recipient's entry.
pub(super) const RECIPIENT_NONE: i64 = 0;
pub(super) const RECIPIENT_NEW: i64 = 1;
pub(super) const RECIPIENT_REFRESHED: i64 = 2;

/// `standing` of an admitted check, bits: the conversation is established; the sender is known.
pub(super) const ESTABLISHED: i64 = 1;
pub(super) const KNOWN_SENDER: i64 = 2;

/// One call of the sender script: its KEYS and ARGV, by name.
#[derive(Clone, Copy, Debug)]
pub(super) struct SenderCall<'a> {
    pub op: Op,
    pub sender: SenderKey,
    pub now_ms: u64,
    pub fingerprint: Option<Fingerprint>,
    pub recipient: Option<RecipientKey>,
    /// `strike`: when the reservation being handed back was recorded (0: none).
    pub release_at_ms: u64,
    /// `strike`: the recipient's time before that reservation (0: it added them).
    pub recipient_previous_ms: u64,
    /// The windowed rules the message counts in (or, for a strike, was counted in).
    pub counted: Counted,
    /// `check`: the conversation the message belongs to (its memory is read and written).
    pub conversation: Option<Conversation>,
    /// `check`, one-to-one: the recipient's memory is written in this call (standalone Redis;
    /// a cluster keeps it on another slot and writes it with `lua/contact.lua`).
    pub remembers_contact: bool,
    /// `check`, `act`: the content's campaign keys, decided in this call (standalone Redis).
    pub campaign_keys: CopyKeys<'a>,
    /// `check`: whom the campaign rule counts the message as reaching (`None`: unknown).
    pub campaign_recipient: Option<u64>,
    /// `act`, and a `strike` releasing an act: the act whose windows are read and written.
    pub act: Option<Act>,
    /// `act`: a creation's initial members, weighed in the members windows (0: none).
    pub members: u64,
    /// `check`, `act`: the callback's identity for retries (its decision is read and recorded).
    pub replay: Option<Replay>,
}

impl<'a> SenderCall<'a> {
    /// A call of `op` for `sender` with nothing else to say.
    pub(super) fn bare(op: Op, sender: SenderKey, now_ms: u64) -> SenderCall<'a> {
        SenderCall {
            op,
            sender,
            now_ms,
            fingerprint: None,
            recipient: None,
            release_at_ms: 0,
            recipient_previous_ms: 0,
            counted: Counted::default(),
            conversation: None,
            remembers_contact: false,
            campaign_keys: CopyKeys::NONE,
            campaign_recipient: None,
            act: None,
            members: 0,
            replay: None,
        }
    }

    /// The call's KEYS and ARGV, in the order of the script's header.
    pub(super) fn call(&self, prefix: &str) -> Call {
        let mut call = Call::default();
        call.key(keys::sender_key(prefix, self.sender))
            .key(keys::memory_key(prefix, self.sender));
        let mut key_count = 2;
        let (kind, peer, me) = match self.conversation.map(|c| c.peer) {
            Some(Peer::User {
                recipient,
                recipient_state,
                me,
            }) => {
                call.key(keys::pending_key(prefix, self.sender));
                key_count += 1;
                let me = if self.remembers_contact {
                    call.key(keys::memory_key(prefix, recipient_state))
                        .key(keys::pending_key(prefix, recipient_state));
                    key_count += 2;
                    keys::recipient_member(me)
                } else {
                    Vec::new()
                };
                ("u", keys::recipient_member(recipient), me)
            }
            Some(Peer::Group(group)) => ("g", keys::group_member(group), Vec::new()),
            None => ("", Vec::new(), Vec::new()),
        };
        if matches!(self.op, Op::Act | Op::Status) || self.act.is_some() {
            call.key(keys::act_key(prefix, self.sender));
            key_count += 1;
        }
        if self.op == Op::Status {
            call.key(keys::pending_key(prefix, self.sender));
            key_count += 1;
        }
        let replay_key = match self.replay {
            Some(_) => {
                call.key(keys::replay_key(prefix, self.sender));
                key_count += 1;
                key_count
            }
            None => 0,
        };
        let mut kinds = String::with_capacity(self.campaign_keys.keys.len());
        let mut pages = Vec::new();
        for (key, page) in self.campaign_keys.iter() {
            call.key(keys::campaign_key(prefix, key));
            if key.is_domain() {
                call.key(keys::vouchers_key(prefix, key));
                // 8 bytes per domain key, zeros when its page is unknown.
                pages.extend_from_slice(&page.unwrap_or(0).to_be_bytes());
            }
            kinds.push(if key.is_domain() { 'd' } else { 'k' });
        }
        let first_campaign_key = if self.campaign_keys.is_empty() {
            0
        } else {
            key_count + 1
        };
        let member = |fingerprint: Option<Fingerprint>| {
            fingerprint
                .map(keys::fingerprint_member)
                .unwrap_or_default()
        };
        call.arg(self.op.name())
            .arg(self.now_ms)
            .arg(member(self.fingerprint))
            .arg(
                self.recipient
                    .map(keys::recipient_member)
                    .unwrap_or_default(),
            )
            .arg(keys::sender_member(self.sender))
            .arg(self.release_at_ms)
            .arg(self.recipient_previous_ms)
            .arg(tags(self.counted))
            .arg(member(self.conversation.and_then(|c| c.fingerprint)))
            .arg(kind)
            .arg(peer)
            .arg(me)
            .arg(first_campaign_key)
            .arg(self.act.map_or("", Act::name))
            .arg(self.members)
            .arg(
                self.replay
                    .map_or(Vec::new(), |r| r.id.to_be_bytes().to_vec()),
            )
            .arg(self.replay.map_or(0, |r| r.window_ms))
            .arg(replay_key)
            .arg(kinds)
            .arg(
                self.campaign_recipient
                    .map_or(Vec::new(), |r| r.to_be_bytes().to_vec()),
            )
            .arg(pages);
        call
    }
}

/// A check reply: `{ADMITTED, at_ms, repeat_recorded, recipient_recorded, previous_ms,
/// standing, shadow…}` (standing: `ESTABLISHED` + `KNOWN_SENDER`, each when it holds)
/// or `{REJECTED, violation (4), started_block_ms, shadow…}`; shadow is a count, then that many
/// violations of four.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CheckReply {
    Admitted {
        at_ms: u64,
        repeat_recorded: bool,
        recipient: Option<Recorded>,
        established: bool,
        known_sender: bool,
        shadow: Vec<Violation>,
    },
    Rejected {
        violation: Violation,
        shadow: Vec<Violation>,
    },
}

impl CheckReply {
    pub(super) fn decode(reply: &[i64]) -> Result<CheckReply, StoreError> {
        let mut fields = Fields::new(reply);
        match fields.next()? {
            ADMITTED => {
                let at_ms = fields.next_u64()?;
                let repeat_recorded = fields.next()? == 1;
                let recipient = match fields.next()? {
                    RECIPIENT_NEW => {
                        fields.next()?;
                        Some(Recorded::New)
                    }
                    RECIPIENT_REFRESHED => Some(Recorded::Refreshed {
                        previous_ms: fields.next_u64()?,
                    }),
                    RECIPIENT_NONE => {
                        fields.next()?;
                        None
                    }
                    _ => return Err(malformed(reply)),
                };
                let standing = fields.next()?;
                Ok(CheckReply::Admitted {
                    at_ms,
                    repeat_recorded,
                    recipient,
                    established: standing & ESTABLISHED != 0,
                    known_sender: standing & KNOWN_SENDER != 0,
                    shadow: fields.violations()?,
                })
            }
            REJECTED => {
                let mut violation = fields.violation()?;
                violation.started_block = started_block(fields.next()?);
                Ok(CheckReply::Rejected {
                    violation,
                    shadow: fields.violations()?,
                })
            }
            _ => Err(malformed(reply)),
        }
    }
}

/// An invite reply (`lua/invite.lua`): `{over, retry_ms}`.
pub(super) fn decode_invite(
    reply: &[i64],
    limit: Limit,
    invitees: u32,
) -> Result<Option<Violation>, StoreError> {
    let mut fields = Fields::new(reply);
    let over = fields.next()? == 1;
    let retry = Duration::from_millis(fields.next_u64()?);
    fields.end()?;
    Ok(over.then(|| Violation::invitees(limit, invitees, retry)))
}

/// A strike reply: `{blocked, retry_ms, blocks, block_length_ms, started_block_ms}`.
pub(super) fn decode_strike(reply: &[i64]) -> Result<StrikeOutcome, StoreError> {
    let mut fields = Fields::new(reply);
    let blocked = fields.next()? == 1;
    let retry_ms = fields.next()?;
    let blocks = fields.next()?;
    let length_ms = fields.next()?;
    let started = started_block(fields.next()?);
    fields.end()?;
    let blocked = blocked
        .then(|| violation(&[Rule::Blocked.err_code().into(), retry_ms, blocks, length_ms]))
        .flatten();
    Ok(StrikeOutcome {
        blocked,
        started_block: started,
        replayed: false,
    })
}

/// A campaign key's reply (`lua/campaign.lua`): `{full, over, retry_ms, previous_ms,
/// recipient_previous_ms, page_previous_ms}` (-1: not recorded).
pub(super) fn decode_campaign_key(reply: &[i64], limit: Limit) -> Result<KeyOutcome, StoreError> {
    let mut fields = Fields::new(reply);
    let full = fields.next()? == 1;
    let over = fields.next()? == 1;
    let retry = Duration::from_millis(fields.next_u64()?);
    let previous_ms = u64::try_from(fields.next()?).ok();
    let recipient_previous_ms = u64::try_from(fields.next()?).ok();
    let page_previous_ms = u64::try_from(fields.next()?).ok();
    fields.end()?;
    let violation = Violation::new(Rule::Campaign, Some(limit), retry);
    Ok(if full {
        KeyOutcome::Full(violation)
    } else {
        KeyOutcome::Recorded {
            previous_ms,
            recipient_previous_ms,
            page_previous_ms,
            over: over.then_some(violation),
        }
    })
}

/// A status reply: `{strikes, blocked_for_ms, blocks, established contacts, established
/// groups, count of each rate window…, count of each act window…}` (acts in `Act::ALL` order).
pub(super) fn decode_status(reply: &[i64], policy: &Policy) -> Result<SenderStatus, StoreError> {
    let rates = policy.windows(Rule::Rate);
    let mut fields = Fields::new(reply);
    let strikes = fields.next_u64()?;
    let blocked_for = Duration::from_millis(fields.next_u64()?);
    let blocks = u32::try_from(fields.next_u64()?).unwrap_or(u32::MAX);
    let established_contacts = fields.next_u64()?;
    let established_groups = fields.next_u64()?;
    let mut counts = |limits: &[Limit]| {
        limits
            .iter()
            .map(|&limit| Ok((limit, fields.next_u64()?)))
            .collect::<Result<Vec<_>, StoreError>>()
    };
    let windows = counts(rates)?;
    let acts = Act::ALL
        .iter()
        .map(|&act| Ok((act, counts(act.limits(policy))?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    fields.end()?;
    Ok(SenderStatus {
        windows,
        acts,
        established_contacts,
        established_groups,
        strikes,
        blocked_for,
        blocks,
    })
}

/// The integers of a reply `lua/reply.lua` packed: big-endian doubles, each a whole number (a
/// Lua number is a double; every integer a reply holds is below 2^53, so exact).
pub(super) fn unpack_reply(packed: &[u8]) -> Result<Vec<i64>, StoreError> {
    let malformed = || StoreError::Reply(format!("not a packed reply: {packed:?}"));
    if !packed.len().is_multiple_of(8) {
        return Err(malformed());
    }
    packed
        .chunks_exact(8)
        .map(|bytes| {
            let value = f64::from_be_bytes(bytes.try_into().expect("chunks of 8"));
            // Whole and within ±2^53: what a Lua integer can be (this also refuses NaN).
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if value.fract() == 0.0 && value.abs() <= EXACT {
                Ok(value as i64)
            } else {
                Err(malformed())
            }
        })
        .collect()
}

/// Reads a reply front to back; any shortfall or leftover is a malformed reply, not a panic.
struct Fields<'a> {
    reply: &'a [i64],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(reply: &'a [i64]) -> Fields<'a> {
        Fields { reply, at: 0 }
    }

    fn next(&mut self) -> Result<i64, StoreError> {
        let value = *self
            .reply
            .get(self.at)
            .ok_or_else(|| malformed(self.reply))?;
        self.at += 1;
        Ok(value)
    }

    fn next_u64(&mut self) -> Result<u64, StoreError> {
        Ok(self.next()?.max(0) as u64)
    }

    fn violation(&mut self) -> Result<Violation, StoreError> {
        let fields = [self.next()?, self.next()?, self.next()?, self.next()?];
        violation(&fields).ok_or_else(|| malformed(self.reply))
    }

    /// A count, then that many violations; the reply must end there.
    fn violations(&mut self) -> Result<Vec<Violation>, StoreError> {
        let count = self.next_u64()?;
        let found = (0..count)
            .map(|_| self.violation())
            .collect::<Result<Vec<_>, _>>()?;
        self.end()?;
        Ok(found)
    }

    fn end(&self) -> Result<(), StoreError> {
        if self.at == self.reply.len() {
            Ok(())
        } else {
            Err(malformed(self.reply))
        }
    }
}

/// `{code, retry_ms, limit, window_ms}` as the scripts return a violation.
pub(super) fn violation(fields: &[i64]) -> Option<Violation> {
    let [code, retry, limit, window] = <[i64; 4]>::try_from(fields).ok()?;
    let rule = Rule::of_code(code)?;
    let limit = Limit::new(
        limit.clamp(0, i64::from(u32::MAX)) as u32,
        Duration::from_millis(window.max(0) as u64),
    );
    Some(Violation::new(
        rule,
        limit,
        Duration::from_millis(retry.max(0) as u64),
    ))
}

fn started_block(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

pub(super) fn malformed(reply: &[i64]) -> StoreError {
    StoreError::Reply(format!("{reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CATALOGUE, Primitive, Scope};

    #[test]
    fn every_windowed_rule_of_the_sender_is_counted_by_its_tag() {
        for entry in CATALOGUE.iter() {
            let windowed = entry.scope == Scope::Sender
                && entry.primitive == Primitive::Window
                && entry.rule != Rule::Rate;
            let Some(tag) = entry.tag.filter(|_| windowed) else {
                assert!(!Counted::holds(entry.rule), "{}", entry.name);
                continue;
            };
            assert_eq!(
                counted_under(entry.rule),
                (TAGGED, TAGGED),
                "{}",
                entry.name
            );
            let counted = Counted::default().with(entry.rule, true);
            assert_eq!(tags(counted), tag.to_string());
            assert_eq!(tags(counted.with(entry.rule, false)), tag.to_string());
        }
        assert_eq!(tags(Counted::default()), "");
        // Tags are one byte each: the script finds them with a plain byte search.
        assert!(CATALOGUE.iter().filter_map(|e| e.tag).all(|t| t.is_ascii()));
        assert_eq!(
            tags(Counted::default().with(Rule::Mentions, true)),
            "A",
            "the mentions rule's stored field starts with A"
        );
    }

    #[test]
    fn check_replies_decode_by_name_and_short_or_long_ones_are_malformed() {
        let admitted =
            CheckReply::decode(&[0, 1000, 1, 2, 900, 0, 1, 5003, 10, 3, 600_000]).unwrap();
        let CheckReply::Admitted {
            at_ms,
            repeat_recorded,
            recipient,
            shadow,
            ..
        } = admitted
        else {
            panic!("admitted");
        };
        assert_eq!((at_ms, repeat_recorded), (1000, true));
        assert_eq!(recipient, Some(Recorded::Refreshed { previous_ms: 900 }));
        assert_eq!(shadow[0].rule, Rule::Repeat);

        let rejected = CheckReply::decode(&[1, 5002, 7000, 30, 10_000, 600_000, 0]).unwrap();
        let CheckReply::Rejected { violation, shadow } = rejected else {
            panic!("rejected");
        };
        assert_eq!(violation.rule, Rule::Rate);
        assert_eq!(violation.started_block, Some(Duration::from_secs(600)));
        assert!(shadow.is_empty());

        for bad in [
            &[][..],
            &[0, 1000, 1],
            &[1, 5002, 7000, 30],
            &[0, 1000, 1, 0, 0, 0, 0, 99],
            &[2, 0, 0, 0, 0, 0],
            &[1, 4242, 1, 1, 1, 0, 0],
        ] {
            assert!(CheckReply::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn packed_replies_unpack_to_their_integers_and_anything_else_is_malformed() {
        let packed: Vec<u8> = [0.0f64, 1_796_292_561_747.0, -3.0, 9_007_199_254_740_992.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(
            unpack_reply(&packed).unwrap(),
            [0, 1_796_292_561_747, -3, 9_007_199_254_740_992]
        );
        assert_eq!(unpack_reply(&[]).unwrap(), Vec::<i64>::new());
        assert!(unpack_reply(&packed[..7]).is_err());
        for bad in [0.5f64, f64::NAN, f64::INFINITY, 1e300] {
            assert!(unpack_reply(&bad.to_be_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn strike_and_status_replies_decode_by_name() {
        let struck = decode_strike(&[1, 5000, 2, 600_000, 0]).unwrap();
        assert_eq!(struck.blocked.unwrap().rule, Rule::Blocked);
        assert!(decode_strike(&[0, 0, 0, 0]).is_err());
        let rates = [Limit::new(30, Duration::from_secs(10)).unwrap()];
        let mut policy = Policy {
            friend: rates.to_vec(),
            group_create: Vec::new(),
            group_join: Vec::new(),
            group_members: Vec::new(),
            ..Policy::default()
        };
        policy.thresholds[Rule::Rate] = rates.to_vec();
        let status = decode_status(&[2, 1500, 1, 4, 1, 7, 3], &policy).unwrap();
        assert_eq!(status.acts[0], (Act::FriendRequest, vec![(rates[0], 3)]));
        assert_eq!(status.windows[0].1, 7);
        assert_eq!(
            (status.established_contacts, status.established_groups),
            (4, 1)
        );
        assert_eq!(status.blocked_for, Duration::from_millis(1500));
        assert!(decode_status(&[2, 1500, 1, 4, 1, 7], &policy).is_err());
        let full = decode_campaign_key(&[1, 0, 9000, 0, -1, -1], rates[0]).unwrap();
        assert!(matches!(full, KeyOutcome::Full(v) if v.rule == Rule::Campaign));
        assert_eq!(
            decode_campaign_key(&[0, 0, 0, 1234, -1, 0], rates[0]).unwrap(),
            KeyOutcome::Recorded {
                previous_ms: Some(1234),
                recipient_previous_ms: None,
                page_previous_ms: Some(0),
                over: None
            }
        );
        assert!(decode_campaign_key(&[0, 0, 0, 1234, -1], rates[0]).is_err());
    }
}
