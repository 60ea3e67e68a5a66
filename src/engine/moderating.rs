//! The moderators' lists and actions, as the admin API calls them: each action is audited in
//! the store and counted, and a report or an allowance is in force on this replica before the
//! call returns (on the others as soon as they hear of it).

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;

use super::campaign_keys::{self, Audience, CampaignKeys};
use super::folded::Folded;
use super::{Engine, Moderation, fingerprint};
use crate::metrics::ModerationAction;
use crate::store::moderation::{
    AuditEntry, Batch, BlockEntry, KeyRecord, KeySummary, Limits, MAX_ID, Page, Rejection,
    SENDERS_PER_KEY, cut, key_id,
};
use crate::store::{CampaignKey, SenderKey, StoreError};

/// Status reads in flight at once while a list of blocks or a report's blocks are made.
const AT_ONCE: usize = 50;

/// A campaign key active now, with its state (`counting`, `over-limit`, `reported`,
/// `allowed`).
#[derive(Clone, Debug)]
pub struct CampaignView {
    pub summary: KeySummary,
    pub state: &'static str,
}

/// A block in force: the index's entry, checked against the sender's own record.
#[derive(Clone, Debug)]
pub struct BlockView {
    pub entry: BlockEntry,
    pub until: u64,
    pub blocks: u32,
}

/// What a report or an allowance applied to.
#[derive(Clone, Debug)]
pub struct Taught {
    pub keys: Vec<KeyRecord>,
    /// Senders a report blocked (`blockSenders`).
    pub blocked: usize,
}

/// Who does what, for the audit trail.
pub struct Caller<'a> {
    pub address: &'a str,
    pub reason: &'a str,
}

impl Engine {
    pub fn moderation(&self) -> &Moderation {
        &self.moderation
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Writes the decisions' records until shutdown (spawned by the app).
    pub async fn write_records(&self) {
        self.moderation.write_records(|| self.clock.now_ms()).await;
    }

    /// Keeps the reported and allowed keys current (spawned by the app).
    pub async fn follow_moderation(&self) {
        self.moderation.follow(|| self.clock.now_ms()).await;
    }

    pub async fn rejections(
        &self,
        cursor: Option<&str>,
        limit: usize,
        rule: Option<&str>,
        send_id: Option<&str>,
    ) -> Result<Page<Rejection>, StoreError> {
        let keep = |r: &Rejection| {
            rule.is_none_or(|rule| r.rule == rule) && send_id.is_none_or(|id| r.send_id == id)
        };
        self.moderation
            .store()
            .rejections(cursor, limit, &keep)
            .await
    }

    /// The campaign keys active now, most distinct senders first.
    pub async fn campaigns(&self) -> Result<Vec<CampaignView>, StoreError> {
        let now = self.clock.now_ms();
        let window = self.record_limits().key_ttl_ms;
        let mut keys = self
            .moderation
            .store()
            .active_keys(now.saturating_sub(window))
            .await?;
        keys.sort_by(|a, b| (b.senders, b.last_seen, a.key).cmp(&(a.senders, a.last_seen, b.key)));
        let limit = self.policy.campaign.map(|limit| limit.count());
        Ok(keys
            .into_iter()
            .map(|summary| {
                let state = if self.moderation.is_allowed(summary.key) {
                    "allowed"
                } else if self.moderation.is_reported(summary.key, now) {
                    "reported"
                } else if limit.is_some_and(|limit| summary.senders > limit) {
                    "over-limit"
                } else {
                    "counting"
                };
                CampaignView { summary, state }
            })
            .collect())
    }

    fn record_limits(&self) -> Limits {
        Limits {
            key_ttl_ms: self
                .policy
                .campaign
                .map_or(crate::store::moderation::KEPT_MS, |l| l.window_ms()),
        }
    }

    pub async fn campaign_senders(
        &self,
        key: CampaignKey,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.moderation.store().key_senders(key, limit).await
    }

    /// Blocks in force from the `offset`th candidate of the index on, at most `limit`, and the
    /// offset to go on from (each candidate checked against the sender's own record).
    pub async fn blocks(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<BlockView>, Option<usize>), StoreError> {
        let now = self.clock.now_ms();
        let entries = self.moderation.store().block_entries(now).await?;
        let mut found = Vec::new();
        let mut at = offset;
        while at < entries.len() && found.len() < limit {
            let chunk = &entries[at..entries.len().min(at + AT_ONCE)];
            let statuses = join_all(
                chunk
                    .iter()
                    .map(|entry| self.store.status(SenderKey::of(&entry.send_id), now)),
            )
            .await;
            for (entry, status) in chunk.iter().zip(statuses) {
                at += 1;
                let status = status?;
                if status.blocked_for.is_zero() {
                    continue;
                }
                found.push(BlockView {
                    entry: entry.clone(),
                    until: now + status.blocked_for.as_millis() as u64,
                    blocks: status.blocks,
                });
                if found.len() == limit {
                    break;
                }
            }
        }
        let next = (at < entries.len()).then_some(at);
        Ok((found, next))
    }

    /// Whether `send_id` is in `FLOODGATE_EXEMPT_SENDERS` (never checked, so never blocked).
    pub fn is_exempt_sender(&self, send_id: &str) -> bool {
        self.exempt.contains(send_id)
    }

    /// Blocks `send_id` for `length` (5006 from its next message, on every replica).
    pub async fn block_by_hand(
        &self,
        send_id: &str,
        length: Duration,
        caller: Caller<'_>,
    ) -> Result<u32, StoreError> {
        let blocks = self.block_one(send_id, length, caller.reason).await?;
        self.audit(ModerationAction::Block, send_id, &caller)
            .await?;
        Ok(blocks)
    }

    async fn block_one(
        &self,
        send_id: &str,
        length: Duration,
        note: &str,
    ) -> Result<u32, StoreError> {
        let now = self.clock.now_ms();
        let length_ms = length.as_millis() as u64;
        let store = self.moderation.store();
        let blocks = store.block(SenderKey::of(send_id), now, length_ms).await?;
        let by = if note.is_empty() { "moderator" } else { note };
        let entry = BlockEntry {
            send_id: cut(send_id, MAX_ID),
            rule: "moderator".to_string(),
            since: now,
            until: now + length_ms,
            by: cut(by, 300),
        };
        let batch = Batch {
            blocks: vec![entry],
            ..Batch::default()
        };
        store.record(&batch, now, self.record_limits()).await?;
        Ok(blocks)
    }

    /// Lifts a block (as `lift_block`), takes it off the list of blocks and audits it.
    pub async fn lift_audited(
        &self,
        send_id: &str,
        caller: Caller<'_>,
    ) -> Result<bool, StoreError> {
        let lifted = self.lift_block(send_id).await?;
        self.moderation.store().unindex_block(send_id).await?;
        self.audit(ModerationAction::Lift, send_id, &caller).await?;
        Ok(lifted)
    }

    /// The keys a text would be counted under as a cold one-to-one message: its payloads and,
    /// when long enough, its near-duplicate bands.
    pub fn keys_of_text(&self, text: &str) -> CampaignKeys {
        let text = super::content::judged_part(text.into(), self.max_text);
        let normalised = fingerprint::normalise_folded(&Folded::of(&text));
        campaign_keys::campaign_keys(&text, &normalised, &self.link_allow, Audience::OneToOne)
    }

    /// Reports `keys` for `FLOODGATE_REPORT_TTL`; with `block_senders`, blocks every sender
    /// recorded for them (for `FLOODGATE_BLOCK_MAX`, exempt senders excepted).
    pub async fn report(
        &self,
        keys: Vec<KeyRecord>,
        block_senders: bool,
        caller: Caller<'_>,
    ) -> Result<Taught, StoreError> {
        let now = self.clock.now_ms();
        let ids = ids(&keys);
        let until = now + self.moderation.report_ttl().as_millis() as u64;
        self.moderation
            .store()
            .teach(&ids, Some(until), now)
            .await?;
        self.moderation.reload(now).await?;
        let mut blocked = 0;
        if block_senders {
            let mut senders = BTreeSet::new();
            for key in &ids {
                senders.extend(self.campaign_senders(*key, SENDERS_PER_KEY).await?);
            }
            senders.retain(|id| !self.exempt.contains(id));
            let length = self.policy.block_max;
            let note = format!("report: {}", caller.reason);
            let senders: Vec<String> = senders.into_iter().collect();
            for chunk in senders.chunks(AT_ONCE) {
                let done = join_all(chunk.iter().map(|id| self.block_one(id, length, &note))).await;
                for result in done {
                    result?;
                    blocked += 1;
                }
            }
        }
        let target = targets(&keys);
        let reason = match block_senders {
            true => format!("{} (blocked {blocked} senders)", caller.reason),
            false => caller.reason.to_string(),
        };
        let caller = Caller {
            address: caller.address,
            reason: &reason,
        };
        self.audit(ModerationAction::Report, &target, &caller)
            .await?;
        Ok(Taught { keys, blocked })
    }

    /// Allows `keys`: they never count for campaign or reported again.
    pub async fn allow(
        &self,
        keys: Vec<KeyRecord>,
        caller: Caller<'_>,
    ) -> Result<Taught, StoreError> {
        let now = self.clock.now_ms();
        self.moderation
            .store()
            .teach(&ids(&keys), None, now)
            .await?;
        self.moderation.reload(now).await?;
        self.audit(ModerationAction::Allow, &targets(&keys), &caller)
            .await?;
        Ok(Taught { keys, blocked: 0 })
    }

    pub async fn unallow(&self, key: CampaignKey, caller: Caller<'_>) -> Result<bool, StoreError> {
        let removed = self.moderation.store().unallow(key).await?;
        self.moderation.reload(self.clock.now_ms()).await?;
        self.audit(ModerationAction::Unallow, &key_id(key), &caller)
            .await?;
        Ok(removed)
    }

    pub async fn audit_trail(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<AuditEntry>, StoreError> {
        self.moderation.store().audit_trail(cursor, limit).await
    }

    async fn audit(
        &self,
        action: ModerationAction,
        target: &str,
        caller: &Caller<'_>,
    ) -> Result<(), StoreError> {
        let entry = AuditEntry {
            at: self.clock.now_ms(),
            action: action.name().to_string(),
            target: cut(target, 1000),
            reason: cut(caller.reason, 300),
            caller: caller.address.to_string(),
        };
        tracing::info!(
            action = action.name(),
            target = %entry.target,
            caller = %entry.caller,
            "moderator action"
        );
        self.moderation.audit(action, entry).await
    }
}

fn ids(keys: &[KeyRecord]) -> Vec<CampaignKey> {
    keys.iter()
        .filter_map(|k| crate::store::moderation::parse_key_id(&k.key))
        .collect()
}

fn targets(keys: &[KeyRecord]) -> String {
    keys.iter()
        .map(|k| k.key.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
