//! Acts other than messages (README, "Friend requests, groups and profiles"): a friend request, a
//! group created, applied to, invited into or edited, a profile edited — what each may break.
//!
//! An act is judged on its actor's one record, the same as their messages: a blocked user is
//! refused here (5006), and a violation here is a strike there — except where OpenIM does not
//! check the actor against the caller (a join application's `applyID`): those violations reject
//! and strike no one. The texts an act carries go through the keyword and link rules; a
//! request's text (friend, join) also through the campaign rule, on its payload keys only (see
//! [`Audience::Request`]).

use std::borrow::Cow;

use super::campaign_keys::{self, Audience, CampaignKeys};
use super::folded::Folded;
use super::{Decision, Engine, Verdict, content, fingerprint};
use crate::policy::{Act, ByMode, Limit, Mode, Rule, Violation};
use crate::store::{ActCheck, GroupKey, Replay, SenderKey, SenderOutcome, Store, StoreError};

/// Which act a callback reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActKind {
    /// `callbackBeforeAddFriendCommand`: `FLOODGATE_FRIEND_LIMITS`.
    FriendRequest,
    /// `callbackBeforeCreateGroupCommand`: `FLOODGATE_GROUP_CREATE_LIMITS`, and its initial
    /// members in `FLOODGATE_GROUP_MEMBERS_LIMITS`.
    CreateGroup,
    /// `callbackBeforeJoinGroupCommand` (an application): `FLOODGATE_GROUP_JOIN_LIMITS`; the
    /// applicant is counted, never struck.
    JoinGroup,
    /// `callbackBeforeInviteJoinGroupCommand`: `FLOODGATE_GROUP_INVITE_LIMIT` invitees per
    /// group; no inviter is named, so nobody is struck.
    Invite,
    /// `callbackBeforeSetGroupInfo(Ex)Command`: the new texts only; no actor is named.
    EditGroup,
    /// `callbackBeforeUpdateUserInfo(Ex)Command`: the nickname, and the user's block.
    EditProfile,
    /// `callbackBeforeSetGroupMemberInfoCommand`: a member's per-group nickname; the target
    /// is named, not the editor, so nobody is struck.
    EditMember,
}

impl ActKind {
    /// OpenIM's name of the callback (the plain one where an `…Ex` twin exists).
    pub fn command(self) -> &'static str {
        match self {
            ActKind::FriendRequest => "callbackBeforeAddFriendCommand",
            ActKind::CreateGroup => "callbackBeforeCreateGroupCommand",
            ActKind::JoinGroup => "callbackBeforeJoinGroupCommand",
            ActKind::Invite => "callbackBeforeInviteJoinGroupCommand",
            ActKind::EditGroup => "callbackBeforeSetGroupInfoCommand",
            ActKind::EditProfile => "callbackBeforeUpdateUserInfoCommand",
            ActKind::EditMember => "callbackBeforeSetGroupMemberInfoCommand",
        }
    }

    /// The windows the act counts against, when it has an actor's windows at all.
    fn act(self) -> Option<Act> {
        match self {
            ActKind::FriendRequest => Some(Act::FriendRequest),
            ActKind::CreateGroup => Some(Act::CreateGroup),
            ActKind::JoinGroup => Some(Act::JoinGroup),
            ActKind::Invite | ActKind::EditGroup | ActKind::EditProfile | ActKind::EditMember => {
                None
            }
        }
    }
}

/// The parts of a non-message callback the rules look at.
#[derive(Clone, Debug)]
pub struct ActRequest<'a> {
    pub kind: ActKind,
    /// Who acts; empty when the callback names nobody (an invite, a group edit).
    pub actor: Cow<'a, str>,
    /// The group invited into (or applied to).
    pub group_id: Cow<'a, str>,
    /// How many users an invitation names, or a creation adds besides its owner.
    pub invitees: u64,
    /// A request's own text (friend request, join application): keyword, link and campaign.
    pub request_text: Cow<'a, str>,
    /// Other texts the act sets (group name, introduction, notification, nickname): keyword
    /// and link.
    pub texts: Vec<Cow<'a, str>>,
}

impl Engine {
    /// Judges an act: exemptions, then keyword and link on its texts, then its windows on the
    /// store (with the same budget, breaker and fail modes as messages).
    pub async fn judge_act(&self, request: &ActRequest<'_>) -> Decision {
        let decision = self.judge_act_as(request, None).await;
        self.note_act(request, &decision);
        decision
    }

    /// An act callback OpenIM may send again: the same actor and `operation_id` within
    /// `FLOODGATE_REPLAY_WINDOW` get the first decision, counted once (`Decision::replayed`).
    /// The id is bound to the act itself (its kind, `target`, group and texts): a reused
    /// `operationID` with another body is another act. Only acts with windows are replayed.
    pub async fn judge_act_once(
        &self,
        request: &ActRequest<'_>,
        operation_id: &str,
        target: &str,
    ) -> Decision {
        let replay = match request.kind.act() {
            Some(_) if !request.actor.is_empty() => {
                let kind = [request.kind as u8];
                let invitees = request.invitees.to_le_bytes();
                // At most a request text and three others: a short, fixed list.
                let mut said: Vec<&[u8]> = vec![
                    &kind,
                    target.as_bytes(),
                    request.group_id.as_bytes(),
                    &invitees,
                    request.request_text.as_bytes(),
                ];
                said.extend(request.texts.iter().map(|text| text.as_bytes()));
                Replay::of(&request.actor, operation_id, &said, self.replay_window_ms)
            }
            _ => None,
        };
        let decision = self.judge_act_as(request, replay).await;
        self.note_act(request, &decision);
        decision
    }

    /// A rejected act, for the moderators' list of rejections (a retry's is there already).
    fn note_act(&self, request: &ActRequest<'_>, decision: &Decision) {
        let Verdict::Reject(violation) = &decision.verdict else {
            return;
        };
        // A block is listed in /v1/blocks; its echo on every act is not (a replica that knows
        // the block turns it away without the store, and that must stay free in a flood).
        if decision.replayed || violation.rule == Rule::Blocked {
            return;
        }
        let text = std::iter::once(&request.request_text)
            .chain(&request.texts)
            .find(|text| !text.is_empty());
        let sample = text.map(|text| content::judged_part(Cow::Borrowed(text), self.max_text));
        let seen = super::moderation::Seen {
            command: request.kind.command(),
            send_id: &request.actor,
            recv_id: "",
            group_id: &request.group_id,
            text: sample.as_deref(),
            keys: None,
            cold: false,
            now_ms: self.clock.now_ms(),
        };
        self.moderation.note(&seen, Some(violation));
    }

    async fn judge_act_as<'a>(
        &self,
        request: &'a ActRequest<'_>,
        replay: Option<Replay>,
    ) -> Decision {
        if !request.actor.is_empty() && self.exempt.contains(request.actor.as_ref()) {
            return Decision::allow(Vec::new());
        }
        let actor = (!request.actor.is_empty()).then(|| SenderKey::of(&request.actor));
        let now_ms = self.clock.now_ms();
        // The judged part of each text, taken once: no rule reads past it.
        let max_text = self.max_text;
        let judged = |text: &'a str| content::judged_part(Cow::Borrowed(text), max_text);
        let request_text = judged(&request.request_text);
        let texts = std::iter::once(request_text.clone())
            .chain(request.texts.iter().map(|text| judged(text)));
        let ByMode { enforced, shadow } = ByMode::of(
            &self.policy.modes,
            texts.flat_map(|text| {
                let text = text.as_ref();
                let folded = self.content_rules.has_keywords().then(|| Folded::of(text));
                let found: Vec<Violation> = self
                    .content_rules
                    .violations(text, folded.as_ref())
                    .collect();
                found
            }),
        );
        if let Some(actor) = actor
            && let Some(violation) = self
                .known_blocks
                .as_ref()
                .and_then(|k| k.get(actor, now_ms))
        {
            return Decision::reject(violation, shadow);
        }
        let Some(actor) = actor else {
            // Nobody to strike or count: the texts' verdict, and a group's invitees.
            if let Some(violation) = enforced {
                return Decision::reject(violation, shadow);
            }
            if request.kind != ActKind::Invite || request.group_id.is_empty() {
                return Decision::allow(shadow);
            }
            let group = GroupKey::of(&request.group_id);
            let invitees = request.invitees;
            let decide = |store, shadow| self.invite_on(store, group, now_ms, invitees, shadow);
            return self.on_store(None, now_ms, shadow, decide).await;
        };
        let act = request.kind.act();
        let keys = match act {
            Some(_) => self.request_keys(&request_text),
            None => CampaignKeys::default(),
        };
        let members = match request.kind {
            ActKind::CreateGroup => request.invitees,
            _ => 0,
        };
        let check = ActCheck {
            actor,
            now_ms,
            act,
            members,
            replay,
        };
        let decide = |store, shadow| self.act_on(store, check, enforced.clone(), &keys, shadow);
        let mut decision = self.on_store(Some(actor), now_ms, shadow, decide).await;
        if let Verdict::Reject(violation) = &mut decision.verdict {
            self.name_members(violation, members);
        }
        decision
    }

    /// Says so when a creation's rejection came from its owner's members windows: the stores
    /// answer with the window's limit, and a limit only those windows have is theirs. (Should
    /// the operator give both lists the very same limit, the plain wording stands.)
    fn name_members(&self, violation: &mut Violation, members: u64) {
        let policy = &self.policy;
        let is_members_limit = |limit: &Limit| {
            policy.group_members.contains(limit) && !policy.group_create.contains(limit)
        };
        if members > 0
            && violation.rule == Rule::Group
            && violation.limit.as_ref().is_some_and(is_members_limit)
            && let Some(limit) = violation.limit
        {
            let started = violation.started_block;
            *violation = Violation::members(limit, members, violation.retry_after);
            violation.started_block = started;
        }
    }

    /// The campaign keys of a request's text: its payloads (links, phone numbers, e-mails,
    /// messenger IDs), when the campaign rule is on.
    fn request_keys(&self, text: &str) -> CampaignKeys {
        if self.policy.campaign.is_none() || text.is_empty() {
            return CampaignKeys::default();
        }
        let normalised = fingerprint::normalise_folded(&Folded::of(text));
        let mut keys =
            campaign_keys::campaign_keys(text, &normalised, &self.link_allow, Audience::Request);
        self.moderation.drop_allowed(&mut keys);
        keys
    }

    /// The actor's part on `store`: a text's violation struck on their record, else their
    /// block and the act's windows, then the campaign rule.
    async fn act_on(
        &self,
        store: &Store,
        check: ActCheck,
        enforced: Option<Violation>,
        keys: &CampaignKeys,
        shadow: Vec<Violation>,
    ) -> Result<Decision, StoreError> {
        if let Some(violation) = enforced {
            if !check.act.is_none_or(Act::strikes) {
                return Ok(Decision::reject(violation, shadow));
            }
            let (actor, now_ms) = (check.actor, check.now_ms);
            return self
                .strike(store, (actor, check.replay), now_ms, violation, shadow)
                .await;
        }
        // Empty when the campaign rule is off (`request_keys`).
        let outcome = self
            .timed(
                store,
                "check_act",
                store.check_act(&check, keys.for_store()),
            )
            .await?;
        let replayed = matches!(outcome, SenderOutcome::Replayed(_));
        let mut decision = super::outcome_decision(outcome, shadow);
        if replayed {
            self.metrics.replays.inc();
            decision.replayed = true;
        }
        Ok(decision)
    }

    /// A group's invitees on `store`.
    async fn invite_on(
        &self,
        store: &Store,
        group: GroupKey,
        now_ms: u64,
        invitees: u64,
        mut shadow: Vec<Violation>,
    ) -> Result<Decision, StoreError> {
        let check = store.check_invite(group, now_ms, invitees);
        let over = self.timed(store, "check_invite", check).await?;
        Ok(match over {
            Some(violation) if self.policy.modes.of(Rule::Group) == Mode::Enforce => {
                Decision::reject(violation, shadow)
            }
            Some(violation) => {
                shadow.push(violation);
                Decision::allow(shadow)
            }
            None => Decision::allow(shadow),
        })
    }
}
