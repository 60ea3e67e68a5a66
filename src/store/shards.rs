//! The embedded store's maps: split into independently locked shards, keyed by floodgate's
//! own hashes, and bounded: past a size a new entry displaces the stalest of a small sample.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use parking_lot::Mutex;

const SHARDS: usize = 64;

/// Maps keyed by floodgate's own hashes (xxh3 of IDs and text): their bits are already uniform,
/// so hashing them again (SipHash) would only cost time. Keys are never attacker-chosen bytes.
pub(super) type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<PrehashedKey>>;

/// Uses the key's own (already hashed) bits, folded to 64.
#[derive(Default)]
pub(super) struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = self.0.rotate_left(29) ^ value;
    }

    fn write_u128(&mut self, value: u128) {
        self.write_u64(value as u64);
        self.write_u64((value >> 64) as u64);
    }
}

/// A map split into independently locked shards; keys are already hashes, so their bits
/// spread them evenly.
pub(super) struct Shards<K, V> {
    shards: Box<[Mutex<KeyMap<K, V>>]>,
    per_shard: usize,
}

/// When an entry was last used, to choose which one a full shard forgets.
pub(super) trait LastSeen {
    fn last_seen(&self) -> u64;
}

/// Entries compared when a full shard must forget one (an approximate LRU, like Redis's).
const EVICTION_SAMPLE: usize = 8;

pub(super) trait ShardKey: Copy + Eq + Hash {
    fn shard(self) -> usize;
}

// Shards are chosen by the top bits, maps inside a shard index by the low bits: the two must
// not be the same bits, or every key of a shard would share one slice of its table.
impl ShardKey for u128 {
    fn shard(self) -> usize {
        (self >> 122) as usize % SHARDS
    }
}

impl ShardKey for u64 {
    fn shard(self) -> usize {
        (self >> 58) as usize % SHARDS
    }
}

impl<K: ShardKey, V: Default + LastSeen> Shards<K, V> {
    pub(super) fn new(max_entries: usize) -> Self {
        Shards {
            shards: (0..SHARDS).map(|_| Mutex::new(KeyMap::default())).collect(),
            per_shard: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    pub(super) fn with<R>(&self, key: K, f: impl FnOnce(&mut V) -> R) -> R {
        let mut shard = self.shards[key.shard()].lock();
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            let stalest = shard
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|(_, value)| value.last_seen())
                .map(|(key, _)| *key);
            if let Some(stalest) = stalest {
                shard.remove(&stalest);
            }
        }
        f(shard.entry(key).or_default())
    }

    pub(super) fn peek<R>(&self, key: K, f: impl FnOnce(Option<&V>) -> R) -> R {
        let shard = self.shards[key.shard()].lock();
        f(shard.get(&key))
    }

    pub(super) fn retain(&self, mut keep: impl FnMut(&mut V) -> bool) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.retain(|_, value| keep(value));
            if shard.capacity() > 4 * shard.len().max(16) {
                shard.shrink_to_fit();
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }
}
