//! The engine's side of moderation (README, "Moderation"): what decisions hand to the
//! moderators' lists, the reported and allowed keys a decision reads, and the moderators'
//! actions. A decision never waits on any of it: records go into a bounded queue that a
//! background task writes to the store in batches (a full queue drops and counts), and the
//! reported and allowed keys are held in memory, reloaded when any replica announces a change
//! and every few seconds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::campaign_keys::{CampaignKeys, KeyInfo};
use crate::metrics::{Metrics, ModerationAction};
use crate::policy::{Mode, Rule, Violation};
use crate::reply_text::ReplyText;
use crate::store::moderation::{
    self, AuditEntry, Batch, BlockEntry, KEPT_MS, KeyRecord, Limits, ModerationStore, Rejection,
    Sighting, Teachings,
};
use crate::store::{CampaignKey, StoreError};

/// Records waiting for the writer at most; past it they are dropped and counted.
const QUEUE: usize = 4096;
/// Records written in one batch at most.
const BATCH: usize = 256;
/// Characters of a rejected text kept (`FLOODGATE_SAMPLES`).
pub const SAMPLE_CHARS: usize = 300;
/// How often the reported and allowed keys are reloaded whatever the notices say.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// One thing a decision hands to the writer.
#[derive(Debug)]
enum Record {
    Rejection(Rejection),
    Sighting(Sighting),
    Block(BlockEntry),
}

/// What a decision tells the moderators about one message or act.
pub(super) struct Seen<'a> {
    pub command: &'static str,
    pub send_id: &'a str,
    pub recv_id: &'a str,
    pub group_id: &'a str,
    /// The judged text, when it was read.
    pub text: Option<&'a str>,
    pub keys: Option<&'a CampaignKeys>,
    /// A cold message from an unknown sender: its keys' senders are recorded.
    pub cold: bool,
    pub now_ms: u64,
}

pub struct Moderation {
    store: ModerationStore,
    queue: Option<mpsc::Sender<Record>>,
    receiver: parking_lot::Mutex<Option<mpsc::Receiver<Record>>>,
    samples: bool,
    report_ttl: Duration,
    limits: Limits,
    block_mode: Mode,
    teachings: parking_lot::RwLock<Teachings>,
    /// Whether any key is reported or allowed: a decision skips the lock when none is.
    any_reported: AtomicBool,
    any_allowed: AtomicBool,
    /// The store's version of the keys last loaded (`None`: never, or a store without one).
    loaded_version: parking_lot::Mutex<Option<u64>>,
    metrics: Metrics,
}

impl Moderation {
    pub(super) fn new(
        store: ModerationStore,
        recording: bool,
        samples: bool,
        report_ttl: Duration,
        campaign_window: Option<Duration>,
        block_mode: Mode,
        metrics: Metrics,
    ) -> Moderation {
        let (queue, receiver) = match recording {
            true => {
                let (sender, receiver) = mpsc::channel(QUEUE);
                (Some(sender), Some(receiver))
            }
            false => (None, None),
        };
        Moderation {
            store,
            queue,
            receiver: parking_lot::Mutex::new(receiver),
            samples,
            report_ttl,
            limits: Limits {
                key_ttl_ms: campaign_window.map_or(KEPT_MS, |w| w.as_millis() as u64),
            },
            block_mode,
            teachings: parking_lot::RwLock::new(Teachings::default()),
            any_reported: AtomicBool::new(false),
            any_allowed: AtomicBool::new(false),
            loaded_version: parking_lot::Mutex::new(None),
            metrics,
        }
    }

    pub fn store(&self) -> &ModerationStore {
        &self.store
    }

    pub fn report_ttl(&self) -> Duration {
        self.report_ttl
    }

    /// Removes the keys a moderator allowed: they never count for campaign or reported.
    pub(super) fn drop_allowed(&self, keys: &mut CampaignKeys) {
        if !self.any_allowed.load(Ordering::Relaxed) || keys.is_empty() {
            return;
        }
        let teachings = self.teachings.read();
        keys.retain(|key| !teachings.allowed.contains(&key));
    }

    /// Whether one of `keys` is reported at `now_ms`.
    pub(super) fn any_reported(&self, keys: &[CampaignKey], now_ms: u64) -> bool {
        if !self.any_reported.load(Ordering::Relaxed) || keys.is_empty() {
            return false;
        }
        let teachings = self.teachings.read();
        keys.iter().any(|key| {
            teachings
                .reported
                .get(key)
                .is_some_and(|&until| until > now_ms)
        })
    }

    pub fn is_reported(&self, key: CampaignKey, now_ms: u64) -> bool {
        self.any_reported(&[key], now_ms)
    }

    pub fn is_allowed(&self, key: CampaignKey) -> bool {
        self.teachings.read().allowed.contains(&key)
    }

    /// Reported keys in force (`floodgate_reported_keys`).
    pub fn reported_keys(&self, now_ms: u64) -> usize {
        let teachings = self.teachings.read();
        teachings
            .reported
            .values()
            .filter(|&&until| until > now_ms)
            .count()
    }

    /// Reloads the reported and allowed keys from the store.
    pub async fn reload(&self, now_ms: u64) -> Result<(), StoreError> {
        // The version first: a change made while the keys are read bumps it past this one,
        // so the next periodic reload reads again.
        let version = self.store.taught_version().await?;
        let teachings = self.store.teachings(now_ms).await?;
        *self.loaded_version.lock() = version;
        self.any_reported
            .store(!teachings.reported.is_empty(), Ordering::Relaxed);
        self.any_allowed
            .store(!teachings.allowed.is_empty(), Ordering::Relaxed);
        *self.teachings.write() = teachings;
        Ok(())
    }

    /// Hands what a decision found to the writer: a rejection, the senders of a cold message's
    /// keys, a block it started. Never waits: a full queue drops the record and counts it.
    pub(super) fn note(&self, seen: &Seen<'_>, violation: Option<&Violation>) {
        if self.queue.is_none() {
            return;
        }
        if let Some(violation) = violation {
            self.push(Record::Rejection(Rejection {
                at: seen.now_ms,
                command: seen.command.to_string(),
                send_id: moderation::cut(seen.send_id, moderation::MAX_ID),
                recv_id: moderation::cut(seen.recv_id, moderation::MAX_ID),
                group_id: moderation::cut(seen.group_id, moderation::MAX_ID),
                rule: violation.rule.name().to_string(),
                err_code: violation.rule.err_code(),
                detail: violation.detail(),
                // A near-duplicate key's sample would repeat the rejection's own `text`.
                keys: seen
                    .keys
                    .map(|keys| self.key_records(keys, None))
                    .unwrap_or_default(),
                text: seen
                    .text
                    .filter(|_| self.samples)
                    .map(|text| moderation::cut(text, SAMPLE_CHARS)),
            }));
            if let Some(length) = violation.started_block
                && self.block_mode == Mode::Enforce
            {
                self.push(Record::Block(BlockEntry {
                    send_id: moderation::cut(seen.send_id, moderation::MAX_ID),
                    rule: violation.rule.name().to_string(),
                    since: seen.now_ms,
                    until: seen.now_ms + length.as_millis() as u64,
                    by: "rules".to_string(),
                }));
            }
        }
        let Some(keys) = seen.keys.filter(|_| seen.cold) else {
            return;
        };
        let records = self.key_records(keys, seen.text);
        let rejected = violation.is_some_and(|v| matches!(v.rule, Rule::Campaign | Rule::Reported));
        for (key, record) in keys.as_slice().iter().zip(records) {
            self.push(Record::Sighting(Sighting {
                key: *key,
                kind: record.kind,
                display: record.display,
                send_id: moderation::cut(seen.send_id, moderation::MAX_ID),
                at: seen.now_ms,
                rejected,
            }));
        }
    }

    /// The keys as the lists show them; a near-duplicate's display is a sample of the text
    /// (none with `FLOODGATE_SAMPLES=off`).
    pub fn key_records(&self, keys: &CampaignKeys, text: Option<&str>) -> Vec<KeyRecord> {
        keys.as_slice()
            .iter()
            .zip(keys.info())
            .map(|(key, KeyInfo { kind, display })| {
                let display = match (display.is_empty(), text) {
                    (true, Some(text)) if self.samples => {
                        moderation::cut(text, moderation::MAX_DISPLAY)
                    }
                    _ => moderation::cut(display, moderation::MAX_DISPLAY),
                };
                KeyRecord {
                    key: moderation::key_id(*key),
                    kind: kind.name().to_string(),
                    display,
                }
            })
            .collect()
    }

    fn push(&self, record: Record) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(record).is_err() {
            self.metrics.moderation_records_dropped.inc();
        }
    }

    /// Writes the queued records until the queue closes: batches of up to `BATCH`, each in
    /// one go. A batch the store refuses is dropped and counted (a decision never retries it).
    /// Returns at once if another call already runs, or recording is off.
    pub async fn write_records(&self, now_ms: impl Fn() -> u64) {
        let Some(mut receiver) = self.receiver.lock().take() else {
            return;
        };
        let mut records = Vec::with_capacity(BATCH);
        while receiver.recv_many(&mut records, BATCH).await > 0 {
            let mut batch = Batch::default();
            let n = records.len() as u64;
            for record in records.drain(..) {
                match record {
                    Record::Rejection(r) => batch.rejections.push(r),
                    Record::Sighting(s) => batch.sightings.push(s),
                    Record::Block(b) => batch.blocks.push(b),
                }
            }
            if let Err(error) = self.store.record(&batch, now_ms(), self.limits).await {
                self.metrics.moderation_records_dropped.inc_by(n);
                tracing::debug!(%error, records = n, "moderation records dropped");
            }
        }
    }

    /// Counts and keeps a moderator's action.
    pub async fn audit(
        &self,
        action: ModerationAction,
        entry: AuditEntry,
    ) -> Result<(), StoreError> {
        self.metrics.moderation_action(action);
        self.store.audit(&entry).await
    }

    /// Follows the changes of any replica until the subscription is lost and cannot be had
    /// again; reloads every `RELOAD_EVERY` besides. `now_ms` reads the engine's clock.
    pub async fn follow(&self, now_ms: impl Fn() -> u64) {
        let mut every = tokio::time::interval(RELOAD_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let subscribed = tokio::select! {
                notices = self.store.notices() => notices,
                _ = every.tick() => {
                    self.reload_if_changed(now_ms()).await;
                    continue;
                }
            };
            let mut notices = match subscribed {
                None => {
                    // One process: its own actions reload at once; only expiries to follow.
                    loop {
                        every.tick().await;
                        self.reload_logged(now_ms()).await;
                    }
                }
                Some(Ok(notices)) => notices,
                Some(Err(error)) => {
                    tracing::debug!(%error, "moderation notices: cannot subscribe yet");
                    every.tick().await;
                    self.reload_if_changed(now_ms()).await;
                    continue;
                }
            };
            // Subscribed: anything announced from now on is seen; load what came before.
            self.reload_logged(now_ms()).await;
            loop {
                tokio::select! {
                    notice = notices.next_payload() => match notice {
                        Some(_) => self.reload_logged(now_ms()).await,
                        None => break,
                    },
                    _ = every.tick() => self.reload_if_changed(now_ms()).await,
                }
            }
        }
    }

    /// The periodic reload: reads the keys again only when the store's version moved since
    /// the last load (expiries need no reload: `until` is checked on every lookup), so a large
    /// reported set is not read by every replica every `RELOAD_EVERY`.
    async fn reload_if_changed(&self, now_ms: u64) {
        let unchanged = match self.store.taught_version().await {
            Ok(Some(version)) => *self.loaded_version.lock() == Some(version),
            Ok(None) => false,
            Err(error) => {
                tracing::debug!(%error, "reported and allowed keys not reloaded");
                return;
            }
        };
        if !unchanged {
            self.reload_logged(now_ms).await;
        }
    }

    async fn reload_logged(&self, now_ms: u64) {
        if let Err(error) = self.reload(now_ms).await {
            tracing::debug!(%error, "reported and allowed keys not reloaded");
        }
    }
}
