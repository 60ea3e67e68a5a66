//! Unblock notices: every lift of a block is announced on a Pub/Sub channel,
//! `<prefix>:unblocks`, as the sender's key in hex, so that every replica drops its memory of
//! the block at once (`engine::blocks`). On a Redis Cluster a message published on any node
//! reaches the subscribers of every node, so one subscription to any node is enough.

use std::future::poll_fn;
use std::time::Duration;

use futures_core::Stream;
use redis::aio::{PubSubSink, PubSubStream};

use super::map_error;
use crate::store::{SenderKey, StoreError};

/// How often a quiet subscription is checked with a PING: a connection that died without a
/// word (a frozen or unplugged Redis) is noticed within this and [`PING_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(1);
const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn channel(prefix: &str) -> String {
    format!("{prefix}:unblocks")
}

pub(super) fn payload(sender: SenderKey) -> String {
    format!("{:032x}", sender.0)
}

fn parse(payload: &[u8]) -> Option<SenderKey> {
    let text = std::str::from_utf8(payload).ok()?;
    if text.len() != 32 {
        return None;
    }
    u128::from_str_radix(text, 16).ok().map(SenderKey)
}

/// A live subscription to the unblock notices.
pub struct UnblockNotices {
    sink: PubSubSink,
    stream: PubSubStream,
    ping: tokio::time::Interval,
}

impl UnblockNotices {
    pub(super) async fn subscribe(
        client: &redis::Client,
        channel: &str,
        timeout: Duration,
    ) -> Result<UnblockNotices, StoreError> {
        let subscribing = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(timeout, subscribing)
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(map_error)?;
        let (sink, stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(UnblockNotices { sink, stream, ping })
    }

    /// Checks the subscription every `every` instead of every [`PING_EVERY`].
    pub(super) fn ping_every(&mut self, every: Duration) {
        self.ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        self.ping
            .set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }

    /// The next sender whose block was lifted; `None` once the subscription is lost.
    pub async fn next(&mut self) -> Option<SenderKey> {
        loop {
            let payload = self.next_payload().await?;
            match parse(&payload) {
                Some(sender) => return Some(sender),
                None => tracing::debug!("ignored an unblock notice that names no sender"),
            }
        }
    }

    /// The next notice's payload as published (the moderation notices carry no more than
    /// "something changed"); `None` once the subscription is lost.
    pub async fn next_payload(&mut self) -> Option<Vec<u8>> {
        loop {
            tokio::select! {
                message = poll_fn(|cx| Pin::new(&mut self.stream).poll_next(cx)) => {
                    return Some(message?.get_payload_bytes().to_vec());
                }
                _ = self.ping.tick() => {
                    let ping = self.sink.ping::<redis::Value>();
                    if !matches!(tokio::time::timeout(PING_TIMEOUT, ping).await, Ok(Ok(_))) {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_the_sender_it_was_made_from() {
        let sender = SenderKey::of("user 42");
        assert_eq!(parse(payload(sender).as_bytes()), Some(sender));
        assert_eq!(parse(payload(SenderKey(1)).as_bytes()), Some(SenderKey(1)));
        for junk in [
            &b""[..],
            b"42",
            b"not hex at all, but 32 bytes lon",
            &[0xff; 32],
        ] {
            assert_eq!(parse(junk), None, "{junk:?}");
        }
    }
}
