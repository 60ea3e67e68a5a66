//! The Redis key layout. Every key starts with `FLOODGATE_KEY_PREFIX` and `:`; the keys of one
//! script share one hash tag (`{s:…}` for a sender, `{f:…}` for a fingerprint), so each script
//! runs on one Redis Cluster slot. IDs enter keys only as fixed-width hex of their hash: a
//! 10,000-character ID, or one full of `{`, `}` or newlines, cannot bloat a key or move its slot.

use crate::store::{CampaignKey, Fingerprint, GroupKey, RecipientKey, SenderKey};

// The fields of a sender's hash (docs/redis.md), by what they start with. `prelude` hands them to
// the script, which builds the names from them; a stored rule's own fields start with its
// catalogue tag (`catalogue::Entry::tag`).
/// The block and the strike times.
pub(super) const BLOCK_FIELD: &str = "b";
/// When fields that left their window were last swept.
pub(super) const SWEPT_FIELD: &str = "mt";

/// The key of `lua/sender.lua`: everything about one sender, in one hash.
pub(super) fn sender_key(prefix: &str, sender: SenderKey) -> String {
    format!("{prefix}:{{s:{:032x}}}", sender.0)
}

/// A user's conversation memory (`lua/memory.lua`), on the same slot as their state.
pub(super) fn memory_key(prefix: &str, user: SenderKey) -> String {
    format!("{prefix}:{{s:{:032x}}}:m", user.0)
}

/// A user's act windows (friend requests, groups created and joined), on the same slot as their
/// state but apart from it: they last a day, a message's state an hour.
/// A user's *pending* memory: strangers whose cold messages they have not answered yet, kept
/// only for `conversations::pending_ms` (beside the memory, on the user's slot).
pub(super) fn pending_key(prefix: &str, user: SenderKey) -> String {
    format!("{prefix}:{{s:{:032x}}}:p", user.0)
}

/// A sender's recent decisions, for retried callbacks (`lua/sender.lua`, the check op).
pub(super) fn replay_key(prefix: &str, user: SenderKey) -> String {
    format!("{prefix}:{{s:{:032x}}}:d", user.0)
}

pub(super) fn act_key(prefix: &str, user: SenderKey) -> String {
    format!("{prefix}:{{s:{:032x}}}:a", user.0)
}

/// A group's invitees (`lua/invite.lua`), on the group's own slot.
pub(super) fn invite_key(prefix: &str, group: GroupKey) -> String {
    format!("{prefix}:{{g:{:016x}}}:i", group.0)
}

/// `I<window ms>`: the ring of a group's invitees.
pub(super) const INVITE_FIELD: char = 'I';

// The fields of a memory hash, by what they start with.
/// `c<user>`: that user last wrote to this one.
pub(super) const CONTACT_FIELD: char = 'c';
/// `g<group>`: this user's first and last post in that group.
pub(super) const GROUP_FIELD: char = 'g';
/// The last few people who wrote to this user (whether the user is known).
pub(super) const WRITERS_FIELD: &str = "w";

/// A campaign key's copies (`lua/campaign_check.lua`): one string of its senders, the
/// recipients they reached and a domain key's pages. Not the `{f:…}` sorted set of senders of
/// earlier releases: a replica of the release before meets only its own keys (another type
/// under the same name would answer it WRONGTYPE), so the two count apart while both run.
pub(super) fn campaign_key(prefix: &str, key: CampaignKey) -> String {
    format!("{prefix}:{{f:{:016x}}}:c", key.0)
}

/// A domain key's vouchers (`lua/campaign_check.lua`), on its slot.
pub(super) fn vouchers_key(prefix: &str, key: CampaignKey) -> String {
    format!("{prefix}:{{f:{:016x}}}:v", key.0)
}

/// How a group is written inside a memory hash (after a `g`).
pub(super) fn group_member(group: GroupKey) -> Vec<u8> {
    group.0.to_be_bytes().to_vec()
}

// Members inside hashes and sets are raw big-endian bytes, not hex: half the memory for the
// entries that dominate a sender's footprint (Redis strings and Lua are binary-safe).

/// How a fingerprint is written inside the sender's state hash (after an `r`).
pub(super) fn fingerprint_member(fingerprint: Fingerprint) -> Vec<u8> {
    fingerprint.0.to_be_bytes().to_vec()
}

/// How a sender is written inside a campaign key's copies (and a domain's vouchers).
pub(super) fn sender_member(sender: SenderKey) -> Vec<u8> {
    sender.0.to_be_bytes().to_vec()
}

/// How a recipient is written inside a sender's hash (after a `t`).
pub(super) fn recipient_member(recipient: RecipientKey) -> Vec<u8> {
    recipient.0.to_be_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_campaign_scripts_refresh_vouchers_as_the_embedded_store_does() {
        let line = format!(
            "local VOUCH_SLACK_PARTS = {}\n",
            crate::store::conversations::MEMORY_SLACK_PARTS
        );
        assert!(include_str!("../../../lua/campaign_check.lua").contains(&line));
    }

    #[test]
    fn a_senders_key_has_one_hash_tag_and_a_bounded_length_whatever_the_id() {
        for id in [
            "alice",
            "{evil}",
            "a}b{c",
            "line\nbreak",
            "😀",
            &"x".repeat(10_000),
        ] {
            let key = sender_key("fg", SenderKey::of(id));
            assert!(key.len() < 60 && key.starts_with("fg:{s:"), "{key:?}");
            assert_eq!(key.matches('{').count(), 1, "{key:?}");
            assert_eq!(key.matches('}').count(), 1, "{key:?}");
        }
        assert_eq!(
            sender_key("fg", SenderKey(0xab)),
            "fg:{s:000000000000000000000000000000ab}"
        );
    }

    #[test]
    fn campaign_keys_are_tagged_by_their_hash() {
        assert_eq!(
            campaign_key("fg", CampaignKey(0xdead)),
            "fg:{f:000000000000dead}:c"
        );
    }
}
