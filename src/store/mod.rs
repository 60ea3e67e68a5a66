//! The store seam: where per-sender and per-fingerprint state lives and how it is decided on.
//!
//! Each operation decides *and* records atomically for one slot of state — everything about one
//! sender ([`Store::check_sender`]) or about one fingerprint ([`Store::check_campaign`]) — so the
//! Redis backend can run each as one Lua script on one hash slot, and the engine can send both
//! at once. Only what an operation admits is recorded; when the other half of the decision then
//! rejects, the engine hands the admitted half back ([`Store::strike`] with a release,
//! [`Store::release_campaign`]). Over-limit is a value ([`Violation`]), never an error: a
//! [`StoreError`] means the store could not answer.

mod memory;
mod redis;
mod shards;
pub mod window;

use std::sync::Arc;
use std::time::Duration;

pub use self::redis::RedisStore;
pub use memory::MemoryStore;

use crate::policy::{Limit, Rule, Violation};

/// A sender as the stores know it: a 128-bit hash of the sendID, so that an untrusted ID of any
/// length or character set costs the same memory and cannot steer a Redis key's hash slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SenderKey(pub u128);

impl SenderKey {
    pub fn of(send_id: &str) -> SenderKey {
        SenderKey(xxhash_rust::xxh3::xxh3_128_with_seed(
            send_id.as_bytes(),
            KEY_SEED,
        ))
    }
}

/// A one-to-one recipient, hashed for the same reasons as [`SenderKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecipientKey(pub u64);

impl RecipientKey {
    pub fn of(recv_id: &str) -> RecipientKey {
        RecipientKey(xxhash_rust::xxh3::xxh3_64_with_seed(
            recv_id.as_bytes(),
            KEY_SEED,
        ))
    }
}

/// The hash of a message's normalised text (see `engine::fingerprint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

/// Fixed so that every replica derives the same keys for the same IDs.
const KEY_SEED: u64 = 0x6667_5f6b_6579_7321; // "fg_keys!"

/// Everything the sender half of a decision needs: the windows, repeat and fanout inputs.
#[derive(Clone, Copy, Debug)]
pub struct SenderCheck {
    pub sender: SenderKey,
    pub now_ms: u64,
    /// Set when the content is long enough to be fingerprinted (repeat rule).
    pub fingerprint: Option<Fingerprint>,
    /// Set for one-to-one messages (fanout rule).
    pub recipient: Option<RecipientKey>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderOutcome {
    /// Nothing enforced was broken; the message's quota is recorded in `reservation`.
    Admitted {
        reservation: Reservation,
        shadow: Vec<Violation>,
    },
    /// An enforced rule was broken; a strike was recorded (maybe starting a block).
    Rejected {
        violation: Violation,
        shadow: Vec<Violation>,
    },
}

/// What an admitted sender check recorded, so it can be handed back exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub at_ms: u64,
    pub fingerprint: Option<Fingerprint>,
    /// The recipient, if this message made it a new one (a known recipient is not released).
    pub new_recipient: Option<RecipientKey>,
}

/// A violation found outside the sender check (mentions, campaign) to be counted as a strike,
/// releasing what the sender check had reserved for the same message.
#[derive(Clone, Copy, Debug)]
pub struct StrikeRequest {
    pub sender: SenderKey,
    pub now_ms: u64,
    pub rule: Rule,
    pub release: Option<Reservation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrikeOutcome {
    /// The sender is serving a block (no strike was added).
    pub blocked: Option<Violation>,
    /// This strike reached the limit and started a block of this length.
    pub started_block: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
pub struct CampaignCheck {
    pub fingerprint: Fingerprint,
    pub sender: SenderKey,
    pub now_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CampaignOutcome {
    Admitted {
        /// The sender was recorded as a new distinct sender of this content.
        newly_added: bool,
        shadow: Option<Violation>,
    },
    Rejected(Violation),
}

/// What the admin API shows of one sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderStatus {
    pub windows: Vec<(Limit, u64)>,
    pub strikes: u64,
    pub blocked_for: Duration,
    pub blocks: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store did not answer in time")]
    Timeout,
    #[error("cannot reach the store: {0}")]
    Connection(String),
    #[error("a store script failed: {0}")]
    Script(String),
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    /// The `kind` label of `floodgate_store_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Timeout => "timeout",
            StoreError::Connection(_) => "connection",
            StoreError::Script(_) => "script",
            StoreError::Other(_) => "other",
        }
    }
}

/// The configured backend. An enum rather than a trait object: two backends, no allocation per
/// call, and `match` shows every place a new backend must be handled.
#[derive(Clone)]
pub enum Store {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
}

impl Store {
    /// The `backend` label of the store metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    /// Whether other replicas share this store (and a local cache of it can go stale).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    /// Whether the store answers at all (the breaker's probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(store) => store.ping().await,
        }
    }

    pub async fn check_sender(&self, check: &SenderCheck) -> Result<SenderOutcome, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.check_sender(check)),
            Store::Redis(store) => store.check_sender(check).await,
        }
    }

    pub async fn check_campaign(
        &self,
        check: &CampaignCheck,
    ) -> Result<CampaignOutcome, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.check_campaign(check)),
            Store::Redis(store) => store.check_campaign(check).await,
        }
    }

    pub async fn strike(&self, request: &StrikeRequest) -> Result<StrikeOutcome, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.strike(request)),
            Store::Redis(store) => store.strike(request).await,
        }
    }

    pub async fn release_campaign(&self, check: &CampaignCheck) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                store.release_campaign(check);
                Ok(())
            }
            Store::Redis(store) => store.release_campaign(check).await,
        }
    }

    pub async fn status(&self, sender: SenderKey, now_ms: u64) -> Result<SenderStatus, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.status(sender, now_ms)),
            Store::Redis(store) => store.status(sender, now_ms).await,
        }
    }

    /// Drops state that no longer counts (the embedded store; Redis expires keys itself).
    pub fn forget_idle(&self, now_ms: u64) {
        match self {
            Store::Memory(store) => store.sweep(now_ms),
            Store::Redis(_) => {}
        }
    }

    /// Lifts a block and clears strikes; `true` if the sender was blocked.
    pub async fn lift_block(&self, sender: SenderKey, now_ms: u64) -> Result<bool, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.lift_block(sender, now_ms)),
            Store::Redis(store) => store.lift_block(sender, now_ms).await,
        }
    }
}
