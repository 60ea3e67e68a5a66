//! The Redis key layout. Every key starts with `FLOODGATE_KEY_PREFIX` and `:`; the keys of one
//! script share one hash tag (`{s:…}` for a sender, `{f:…}` for a fingerprint), so each script
//! runs on one Redis Cluster slot. IDs enter keys only as fixed-width hex of their hash: a
//! 10,000-character ID, or one full of `{`, `}` or newlines, cannot bloat a key or move its slot.

use crate::store::{Fingerprint, RecipientKey, SenderKey};

/// The two keys of `lua/sender.lua`, in its KEYS order.
pub fn sender_keys(prefix: &str, sender: SenderKey) -> [String; 2] {
    let state = format!("{prefix}:{{s:{:032x}}}", sender.0);
    let recipients = format!("{state}:to");
    [state, recipients]
}

/// The key of `lua/campaign.lua`.
pub fn campaign_key(prefix: &str, fingerprint: Fingerprint) -> String {
    format!("{prefix}:{{f:{:016x}}}", fingerprint.0)
}

// Members inside hashes and sets are raw big-endian bytes, not hex: half the memory for the
// entries that dominate a sender's footprint (Redis strings and Lua are binary-safe).

/// How a fingerprint is written inside the sender's state hash (after an `r`).
pub fn fingerprint_member(fingerprint: Fingerprint) -> Vec<u8> {
    fingerprint.0.to_be_bytes().to_vec()
}

/// How a sender is written inside a campaign set.
pub fn sender_member(sender: SenderKey) -> Vec<u8> {
    sender.0.to_be_bytes().to_vec()
}

/// How a recipient is written inside a sender's recipient set.
pub fn recipient_member(recipient: RecipientKey) -> Vec<u8> {
    recipient.0.to_be_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_senders_keys_share_one_hash_tag_whatever_the_id() {
        for id in [
            "alice",
            "{evil}",
            "a}b{c",
            "line\nbreak",
            "😀",
            &"x".repeat(10_000),
        ] {
            let keys = sender_keys("fg", SenderKey::of(id));
            let tag = |key: &str| key[key.find('{').unwrap()..=key.find('}').unwrap()].to_string();
            assert!(keys.iter().all(|k| tag(k) == tag(&keys[0])), "{keys:?}");
            assert!(
                keys.iter().all(|k| k.len() < 60 && k.starts_with("fg:{s:")),
                "{keys:?}"
            );
        }
        let keys = sender_keys("fg", SenderKey(0xab));
        assert_eq!(keys[0], "fg:{s:000000000000000000000000000000ab}");
        assert_eq!(keys[1], "fg:{s:000000000000000000000000000000ab}:to");
    }

    #[test]
    fn campaign_keys_are_tagged_by_fingerprint() {
        assert_eq!(
            campaign_key("fg", Fingerprint(0xdead)),
            "fg:{f:000000000000dead}"
        );
    }
}
