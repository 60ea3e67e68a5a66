//! What moderators see and teach (README, "Moderation"), kept in the store beside the
//! decisions: recent rejections, the senders recorded for each campaign key, the blocks in
//! force, the audit trail, and the reported and allowed keys. Moderator-scale and bounded:
//! every list has a cap and a lifetime ([`Limits`]). Nothing here is read or written by a
//! decision; the engine writes records from a background task and reads the reported and
//! allowed keys into memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{CampaignKey, MemoryStore, SenderKey, Store, StoreError};

/// Rejections kept at least (and for at most [`KEPT_MS`]).
pub const REJECTIONS_KEPT: usize = 10_000;
/// Audit entries kept at least.
pub const AUDIT_KEPT: usize = 10_000;
/// Campaign keys indexed at most (the most recently seen).
pub const KEYS_KEPT: usize = 2_000;
/// Senders recorded per campaign key at most.
pub const SENDERS_PER_KEY: usize = 1_000;
/// Blocks indexed at most (those ending last).
pub const BLOCKS_KEPT: usize = 10_000;
/// Reported keys in force at most: a report adds a handful.
pub const REPORTED_KEPT: usize = 100_000;
/// How long rejections are kept, and campaign records when the campaign rule is off.
pub const KEPT_MS: u64 = 86_400_000;
/// The longest sendID kept as written (OpenIM's are far shorter); a longer one is cut.
pub const MAX_ID: usize = 128;
/// The longest display of a key, in characters.
pub const MAX_DISPLAY: usize = 300;

/// A campaign key as the API names it: the hex of its hash, the same on every replica.
pub fn key_id(key: CampaignKey) -> String {
    format!("{:016x}", key.0)
}

pub fn parse_key_id(id: &str) -> Option<CampaignKey> {
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(id, 16).ok())
        .flatten()
        .map(CampaignKey)
}

/// `text` cut to at most `max` characters.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// A key as a rejection or a sighting carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key: String,
    pub kind: String,
    pub display: String,
}

/// One rejection, as `GET /v1/rejections` lists it (times in ms since the epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub at: u64,
    pub command: String,
    #[serde(rename = "sendID")]
    pub send_id: String,
    #[serde(rename = "recvID", default, skip_serializing_if = "String::is_empty")]
    pub recv_id: String,
    #[serde(rename = "groupID", default, skip_serializing_if = "String::is_empty")]
    pub group_id: String,
    pub rule: String,
    pub err_code: i32,
    pub detail: String,
    pub keys: Vec<KeyRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A cold message's sender seen carrying a campaign key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub key: CampaignKey,
    pub kind: String,
    pub display: String,
    pub send_id: String,
    pub at: u64,
    /// The message was rejected (campaign or reported).
    pub rejected: bool,
}

/// A block in the index of `GET /v1/blocks`; whether it is still in force is the sender's
/// own record's answer, read when listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    #[serde(rename = "sendID")]
    pub send_id: String,
    pub rule: String,
    pub since: u64,
    pub until: u64,
    /// `rules`, or the moderator's note.
    pub by: String,
}

/// One moderator action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: u64,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub caller: String,
}

/// A campaign key active now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySummary {
    pub key: CampaignKey,
    pub kind: String,
    pub display: String,
    pub senders: u64,
    pub rejected: u64,
    pub first_seen: u64,
    pub last_seen: u64,
}

/// What the background task writes in one go.
#[derive(Debug, Default)]
pub struct Batch {
    pub rejections: Vec<Rejection>,
    pub sightings: Vec<Sighting>,
    pub blocks: Vec<BlockEntry>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.rejections.is_empty() && self.sightings.is_empty() && self.blocks.is_empty()
    }
}

/// The reported keys (with when each stops being reported) and the allowed ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Teachings {
    pub reported: HashMap<CampaignKey, u64>,
    pub allowed: HashSet<CampaignKey>,
}

/// A page of a list, newest first, and the cursor of the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// How long the records of a campaign key live: the campaign window, or [`KEPT_MS`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub key_ttl_ms: u64,
}

/// The moderation side of a [`Store`]: the embedded one (with its own lists) or Redis.
#[derive(Clone)]
pub enum ModerationStore {
    Memory {
        lists: Arc<MemoryModeration>,
        store: Arc<MemoryStore>,
    },
    Redis(Arc<super::RedisStore>),
}

impl ModerationStore {
    pub fn of(store: &Store) -> ModerationStore {
        match store {
            Store::Memory(store) => ModerationStore::Memory {
                lists: Arc::new(MemoryModeration::default()),
                store: store.clone(),
            },
            Store::Redis(redis) => ModerationStore::Redis(redis.clone()),
        }
    }

    pub async fn record(&self, batch: &Batch, now: u64, limits: Limits) -> Result<(), StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => {
                lists.record(batch, now, limits);
                Ok(())
            }
            ModerationStore::Redis(redis) => redis.record(batch, now, limits).await,
        }
    }

    /// Rejections before `cursor` (newest first) that `keep` accepts, at most `limit`.
    pub async fn rejections(
        &self,
        cursor: Option<&str>,
        limit: usize,
        keep: &(dyn Fn(&Rejection) -> bool + Sync),
    ) -> Result<Page<Rejection>, StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => Ok(lists.rejections(cursor, limit, keep)),
            ModerationStore::Redis(redis) => redis.rejections(cursor, limit, keep).await,
        }
    }

    /// The keys seen since `since`, each with its count of senders.
    pub async fn active_keys(&self, since: u64) -> Result<Vec<KeySummary>, StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => Ok(lists.active_keys(since)),
            ModerationStore::Redis(redis) => redis.active_keys(since).await,
        }
    }

    pub async fn key_senders(
        &self,
        key: CampaignKey,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => Ok(lists.key_senders(key, limit)),
            ModerationStore::Redis(redis) => redis.key_senders(key, limit).await,
        }
    }

    /// The indexed blocks that end after `now`, latest start first.
    pub async fn block_entries(&self, now: u64) -> Result<Vec<BlockEntry>, StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => Ok(lists.block_entries(now)),
            ModerationStore::Redis(redis) => redis.block_entries(now).await,
        }
    }

    pub async fn unindex_block(&self, send_id: &str) -> Result<(), StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => {
                lists.lock().blocks.remove(send_id);
                Ok(())
            }
            ModerationStore::Redis(redis) => redis.unindex_block(send_id).await,
        }
    }

    /// Starts a block of `length_ms` on `sender`'s own record (where every decision reads it);
    /// returns the sender's blocks so far.
    pub async fn block(
        &self,
        sender: SenderKey,
        now: u64,
        length_ms: u64,
    ) -> Result<u32, StoreError> {
        match self {
            ModerationStore::Memory { store, .. } => {
                Ok(store.block_by_hand(sender, now, length_ms))
            }
            ModerationStore::Redis(redis) => redis.block_by_hand(sender, now, length_ms).await,
        }
    }

    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => {
                lists.audit(entry);
                Ok(())
            }
            ModerationStore::Redis(redis) => redis.audit(entry).await,
        }
    }

    pub async fn audit_trail(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<AuditEntry>, StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => Ok(lists.audit_trail(cursor, limit)),
            ModerationStore::Redis(redis) => redis.audit_trail(cursor, limit).await,
        }
    }

    pub async fn teachings(&self, now: u64) -> Result<Teachings, StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => {
                let mut state = lists.lock();
                state.teachings.reported.retain(|_, until| *until > now);
                Ok(state.teachings.clone())
            }
            ModerationStore::Redis(redis) => redis.teachings(now).await,
        }
    }

    /// The version of the reported and allowed keys a periodic reload may skip on (`None`: no
    /// version kept, reload every time — the embedded store reads its own memory).
    pub async fn taught_version(&self) -> Result<Option<u64>, StoreError> {
        match self {
            ModerationStore::Memory { .. } => Ok(None),
            ModerationStore::Redis(redis) => redis.taught_version().await.map(Some),
        }
    }

    /// Reports `keys` until `until`, or (`until` 0) allows them; then tells every replica.
    pub async fn teach(
        &self,
        keys: &[CampaignKey],
        until: Option<u64>,
        now: u64,
    ) -> Result<(), StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => {
                let mut state = lists.lock();
                let teachings = &mut state.teachings;
                for key in keys {
                    match until {
                        Some(until) if teachings.reported.len() < REPORTED_KEPT => {
                            teachings.reported.insert(*key, until);
                        }
                        Some(_) => {}
                        None => {
                            teachings.allowed.insert(*key);
                        }
                    }
                }
                Ok(())
            }
            ModerationStore::Redis(redis) => redis.teach(keys, until, now).await,
        }
    }

    /// Allows `key` no longer; `true` if it was allowed.
    pub async fn unallow(&self, key: CampaignKey) -> Result<bool, StoreError> {
        match self {
            ModerationStore::Memory { lists, .. } => {
                Ok(lists.lock().teachings.allowed.remove(&key))
            }
            ModerationStore::Redis(redis) => redis.unallow(key).await,
        }
    }

    /// Notices of reports and allowances made by any replica (`None`: no other replica).
    pub async fn notices(&self) -> Option<Result<super::UnblockNotices, StoreError>> {
        match self {
            ModerationStore::Memory { .. } => None,
            ModerationStore::Redis(redis) => Some(redis.moderation_notices().await),
        }
    }
}

/// The embedded store's lists: one process, one lock (moderator-scale, written in batches).
#[derive(Default)]
pub struct MemoryModeration {
    state: parking_lot::Mutex<Lists>,
}

#[derive(Default)]
struct Lists {
    /// Oldest first, each with its sequence number (the cursor).
    rejections: VecDeque<(u64, Rejection)>,
    audit: VecDeque<(u64, AuditEntry)>,
    seq: u64,
    keys: HashMap<CampaignKey, KeyState>,
    blocks: HashMap<String, BlockEntry>,
    teachings: Teachings,
}

struct KeyState {
    summary: KeySummary,
    senders: Vec<String>,
    known: HashSet<String>,
    expires: u64,
}

impl MemoryModeration {
    fn lock(&self) -> parking_lot::MutexGuard<'_, Lists> {
        self.state.lock()
    }

    fn record(&self, batch: &Batch, now: u64, limits: Limits) {
        let mut state = self.lock();
        for rejection in &batch.rejections {
            state.seq += 1;
            let seq = state.seq;
            state.rejections.push_back((seq, rejection.clone()));
        }
        let horizon = now.saturating_sub(KEPT_MS);
        while state
            .rejections
            .front()
            .is_some_and(|(_, r)| state.rejections.len() > REJECTIONS_KEPT || r.at < horizon)
        {
            state.rejections.pop_front();
        }
        state.keys.retain(|_, key| key.expires > now);
        for sighting in &batch.sightings {
            if !state.keys.contains_key(&sighting.key) && state.keys.len() >= KEYS_KEPT {
                continue;
            }
            let key = state.keys.entry(sighting.key).or_insert_with(|| KeyState {
                summary: KeySummary {
                    key: sighting.key,
                    kind: sighting.kind.clone(),
                    display: sighting.display.clone(),
                    senders: 0,
                    rejected: 0,
                    first_seen: sighting.at,
                    last_seen: sighting.at,
                },
                senders: Vec::new(),
                known: HashSet::new(),
                expires: 0,
            });
            key.summary.last_seen = sighting.at;
            key.summary.rejected += u64::from(sighting.rejected);
            key.expires = now + limits.key_ttl_ms;
            if key.senders.len() < SENDERS_PER_KEY && key.known.insert(sighting.send_id.clone()) {
                key.senders.push(sighting.send_id.clone());
            }
            key.summary.senders = key.senders.len() as u64;
        }
        for block in &batch.blocks {
            index_block(&mut state.blocks, block.clone(), now);
        }
    }

    fn rejections(
        &self,
        cursor: Option<&str>,
        limit: usize,
        keep: &(dyn Fn(&Rejection) -> bool + Sync),
    ) -> Page<Rejection> {
        let state = self.lock();
        newest_first(&state.rejections, cursor, limit, keep)
    }

    fn active_keys(&self, since: u64) -> Vec<KeySummary> {
        let state = self.lock();
        state
            .keys
            .values()
            .filter(|key| key.summary.last_seen >= since)
            .map(|key| key.summary.clone())
            .collect()
    }

    fn key_senders(&self, key: CampaignKey, limit: usize) -> Vec<String> {
        let state = self.lock();
        state.keys.get(&key).map_or_else(Vec::new, |key| {
            key.senders.iter().take(limit).cloned().collect()
        })
    }

    fn block_entries(&self, now: u64) -> Vec<BlockEntry> {
        let state = self.lock();
        let mut entries: Vec<BlockEntry> = state
            .blocks
            .values()
            .filter(|entry| entry.until > now)
            .cloned()
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.since));
        entries
    }

    fn audit(&self, entry: &AuditEntry) {
        let mut state = self.lock();
        state.seq += 1;
        let seq = state.seq;
        state.audit.push_back((seq, entry.clone()));
        if state.audit.len() > AUDIT_KEPT {
            state.audit.pop_front();
        }
    }

    fn audit_trail(&self, cursor: Option<&str>, limit: usize) -> Page<AuditEntry> {
        let state = self.lock();
        newest_first(&state.audit, cursor, limit, &|_| true)
    }
}

/// Indexes `entry` (the sender's later block replaces an earlier one), forgetting ended blocks
/// and, past [`BLOCKS_KEPT`], the one that ends first.
fn index_block(blocks: &mut HashMap<String, BlockEntry>, entry: BlockEntry, now: u64) {
    blocks.insert(entry.send_id.clone(), entry);
    if blocks.len() > BLOCKS_KEPT {
        blocks.retain(|_, entry| entry.until > now);
    }
    while blocks.len() > BLOCKS_KEPT {
        let first = blocks
            .values()
            .min_by_key(|entry| entry.until)
            .map(|entry| entry.send_id.clone());
        match first {
            Some(id) => blocks.remove(&id),
            None => break,
        };
    }
}

/// A page of `list` (oldest first, with sequence numbers) read newest first from before
/// `cursor`; an unreadable cursor starts from the newest.
fn newest_first<T: Clone>(
    list: &VecDeque<(u64, T)>,
    cursor: Option<&str>,
    limit: usize,
    keep: &(dyn Fn(&T) -> bool + Sync),
) -> Page<T> {
    let before = cursor
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let mut items = Vec::new();
    let mut next = None;
    for (seq, item) in list.iter().rev().filter(|(seq, _)| *seq < before) {
        if !keep(item) {
            continue;
        }
        if items.len() == limit {
            break;
        }
        items.push(item.clone());
        next = Some(seq.to_string());
    }
    // A full page may have more after it; a short one does not.
    if items.len() < limit {
        next = None;
    }
    Page { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(at: u64, rule: &str) -> Rejection {
        Rejection {
            at,
            command: "c".into(),
            send_id: format!("u{at}"),
            recv_id: String::new(),
            group_id: String::new(),
            rule: rule.into(),
            err_code: 5002,
            detail: String::new(),
            keys: Vec::new(),
            text: None,
        }
    }

    #[test]
    fn pages_run_newest_first_and_end_with_no_cursor() {
        let lists = MemoryModeration::default();
        let batch = Batch {
            rejections: (1..=5).map(|at| rejection(at, "rate")).collect(),
            ..Batch::default()
        };
        let limits = Limits { key_ttl_ms: 1000 };
        lists.record(&batch, 10, limits);
        let first = lists.rejections(None, 2, &|_| true);
        assert_eq!(first.items.iter().map(|r| r.at).collect::<Vec<_>>(), [5, 4]);
        let second = lists.rejections(first.next.as_deref(), 2, &|_| true);
        assert_eq!(
            second.items.iter().map(|r| r.at).collect::<Vec<_>>(),
            [3, 2]
        );
        let last = lists.rejections(second.next.as_deref(), 2, &|_| true);
        assert_eq!(last.items.iter().map(|r| r.at).collect::<Vec<_>>(), [1]);
        assert_eq!(last.next, None);
    }

    #[test]
    fn rejections_are_capped_and_forgotten_after_a_day() {
        let lists = MemoryModeration::default();
        let limits = Limits { key_ttl_ms: 1000 };
        let batch = Batch {
            rejections: (0..REJECTIONS_KEPT as u64 + 10)
                .map(|at| rejection(at, "rate"))
                .collect(),
            ..Batch::default()
        };
        lists.record(&batch, 100, limits);
        assert_eq!(lists.lock().rejections.len(), REJECTIONS_KEPT);
        lists.record(&Batch::default(), KEPT_MS + 20_000, limits);
        assert!(lists.lock().rejections.is_empty());
    }

    #[test]
    fn a_keys_senders_are_capped_and_counted_once() {
        let lists = MemoryModeration::default();
        let sighting = |send_id: String| Sighting {
            key: CampaignKey(7),
            kind: "link".into(),
            display: "x.com/a".into(),
            send_id,
            at: 5,
            rejected: false,
        };
        let batch = Batch {
            sightings: (0..SENDERS_PER_KEY + 50)
                .chain(0..10)
                .map(|i| sighting(format!("u{i}")))
                .collect(),
            ..Batch::default()
        };
        lists.record(&batch, 5, Limits { key_ttl_ms: 1000 });
        let keys = lists.active_keys(0);
        assert_eq!(keys[0].senders, SENDERS_PER_KEY as u64);
        assert_eq!(lists.key_senders(CampaignKey(7), 3), ["u0", "u1", "u2"]);
        lists.record(&Batch::default(), 2000, Limits { key_ttl_ms: 1000 });
        assert!(lists.active_keys(0).is_empty(), "gone after its window");
    }

    #[test]
    fn key_ids_read_back() {
        let key = CampaignKey(0xdead_beef);
        assert_eq!(parse_key_id(&key_id(key)), Some(key));
        assert_eq!(parse_key_id("xyz"), None);
        assert_eq!(parse_key_id("+000000000000001"), None);
    }
}
