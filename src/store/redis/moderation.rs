//! The moderation lists on Redis (`store::moderation`): rejections and the audit trail in
//! capped streams, each campaign key's senders in a capped set on the key's own slot, the
//! active keys and the blocks in sorted sets, the reported and allowed keys in a sorted set and
//! a set. The lists share the `{m}` hash tag (one slot: moderator-scale, one call each); a
//! key's senders live on its `{f:…}` slot, beside its campaign set. Reports and allowances
//! are announced on `<prefix>:moderation` so every replica reloads them at once.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::try_join_all;
use redis::Value;

use super::program::{Call, Program};
use super::{Connection, RedisStore, keys, map_error, notices::UnblockNotices};

/// How often the moderation subscription is checked with a PING: rarely, since the reported
/// and allowed keys are also reloaded every few seconds whatever it hears.
const NOTICES_PING_EVERY: Duration = Duration::from_secs(30);
use crate::store::moderation::{
    AUDIT_KEPT, AuditEntry, BLOCKS_KEPT, Batch, BlockEntry, KEPT_MS, KEYS_KEPT, KeySummary, Limits,
    Page, REJECTIONS_KEPT, REPORTED_KEPT, Rejection, SENDERS_PER_KEY, Teachings, key_id,
    parse_key_id,
};
use crate::store::{CampaignKey, SenderKey, StoreError};

pub(super) static MODERATION_BODY: &str = include_str!("../../../lua/moderation.lua");

/// Moderation calls run in the background or for a moderator: a budget of their own, longer
/// than a decision's.
const MODERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// Stream entries read per call while a filtered page fills.
const CHUNK: usize = 200;

pub(super) fn program() -> Program {
    Program::new("moderation", "", MODERATION_BODY)
}

fn list(prefix: &str, name: &str) -> String {
    format!("{prefix}:{{m}}:{name}")
}

/// A key's senders, on the key's own slot (its campaign set's hash tag, after a name of its
/// own: nothing that looks for campaign sets, `<prefix>:{f:*`, finds these).
fn key_senders_key(prefix: &str, key: CampaignKey) -> String {
    format!("{prefix}:mu:{{f:{:016x}}}", key.0)
}

/// A key's kind, display, first and last sighting and rejections.
fn key_meta_key(prefix: &str, key: CampaignKey) -> String {
    format!("{prefix}:mk:{{f:{:016x}}}", key.0)
}

pub(super) fn channel(prefix: &str) -> String {
    format!("{prefix}:moderation")
}

impl RedisStore {
    async fn moderation_call<T: redis::FromRedisValue>(
        &self,
        call: &Call,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(
            MODERATION_TIMEOUT,
            self.call_program(&self.moderation_script, call),
        )
        .await
        .unwrap_or(Err(StoreError::Timeout))
    }

    async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        match tokio::time::timeout(MODERATION_TIMEOUT, self.query_raw::<T>(cmd)).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Commands on one slot, sent together.
    async fn pipeline(&self, pipe: &redis::Pipeline) -> Result<(), StoreError> {
        let run = async {
            match &self.connection {
                Connection::Single(single) => {
                    pipe.query_async::<Value>(&mut single.connection()).await
                }
                Connection::Cluster(cluster) => match cluster.connection() {
                    Ok(mut connection) => pipe.query_async::<Value>(&mut connection).await,
                    Err(_) => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "not connected to the Redis Cluster",
                    ))),
                },
            }
        };
        match tokio::time::timeout(MODERATION_TIMEOUT, run).await {
            Ok(result) => result.map(drop).map_err(map_error),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    pub(crate) async fn record(
        &self,
        batch: &Batch,
        now: u64,
        limits: Limits,
    ) -> Result<(), StoreError> {
        let prefix = &self.prefix;
        let rejections = async {
            if batch.rejections.is_empty() {
                return Ok(());
            }
            let stream = list(prefix, "rejections");
            let mut pipe = redis::pipe();
            for rejection in &batch.rejections {
                let json = serde_json::to_string(rejection).unwrap_or_default();
                pipe.cmd("XADD")
                    .arg(&stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(REJECTIONS_KEPT)
                    .arg("*")
                    .arg("j")
                    .arg(json)
                    .ignore();
            }
            let horizon = now.saturating_sub(KEPT_MS);
            pipe.cmd("XTRIM")
                .arg(&stream)
                .arg("MINID")
                .arg("~")
                .arg(format!("{horizon}-0"))
                .ignore();
            pipe.cmd("PEXPIRE").arg(&stream).arg(KEPT_MS).ignore();
            self.pipeline(&pipe).await
        };
        let blocks = try_join_all(
            batch
                .blocks
                .iter()
                .map(|block| self.index_block(block, now)),
        );
        let sightings = self.record_sightings(batch, now, limits);
        let (a, b, c) = tokio::join!(rejections, blocks, sightings);
        a.and(b.map(drop)).and(c)
    }

    /// Indexes a block (`GET /v1/blocks`), forgetting ended ones and, past [`BLOCKS_KEPT`],
    /// those that end first; both keys live until the last block indexed ends. Plain commands
    /// in two round trips (background work: no script, nothing atomic is needed).
    async fn index_block(&self, block: &BlockEntry, now: u64) -> Result<(), StoreError> {
        let (index, entries) = (
            list(&self.prefix, "blocks"),
            list(&self.prefix, "blockinfo"),
        );
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&index)
            .arg(block.until)
            .arg(&block.send_id);
        pipe.cmd("HSET")
            .arg(&entries)
            .arg(&block.send_id)
            .arg(serde_json::to_string(block).unwrap_or_default());
        pipe.cmd("ZRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(100);
        pipe.cmd("ZCARD").arg(&index);
        pipe.cmd("ZRANGE")
            .arg(&index)
            .arg(-1)
            .arg(-1)
            .arg("WITHSCORES");
        let reply = self.pipeline_values(&pipe).await?;
        let ended: Vec<String> = reply
            .get(2)
            .and_then(|v| redis::from_redis_value(v.clone()).ok())
            .unwrap_or_default();
        let size: usize = reply
            .get(3)
            .and_then(|v| redis::from_redis_value(v.clone()).ok())
            .unwrap_or(0);
        let last: Vec<(String, u64)> = reply
            .get(4)
            .and_then(|v| redis::from_redis_value(v.clone()).ok())
            .unwrap_or_default();
        let mut forget = ended;
        if size > BLOCKS_KEPT + forget.len() {
            let mut cmd = redis::cmd("ZRANGE");
            let over = size - BLOCKS_KEPT - forget.len();
            cmd.arg(&index).arg(0).arg(over - 1);
            forget.extend(self.command::<Vec<String>>(&cmd).await?);
        }
        let mut pipe = redis::pipe();
        if !forget.is_empty() {
            pipe.cmd("ZREM").arg(&index).arg(&forget).ignore();
            pipe.cmd("HDEL").arg(&entries).arg(&forget).ignore();
        }
        let keep_ms = last
            .first()
            .map_or(0, |(_, until)| until.saturating_sub(now))
            .max(1000);
        pipe.cmd("PEXPIRE").arg(&index).arg(keep_ms).ignore();
        pipe.cmd("PEXPIRE").arg(&entries).arg(keep_ms).ignore();
        self.pipeline(&pipe).await
    }

    /// One call per distinct key of the batch (on its slot), then the index of active keys.
    async fn record_sightings(
        &self,
        batch: &Batch,
        now: u64,
        limits: Limits,
    ) -> Result<(), StoreError> {
        if batch.sightings.is_empty() {
            return Ok(());
        }
        let mut by_key: HashMap<CampaignKey, Vec<usize>> = HashMap::new();
        for (i, sighting) in batch.sightings.iter().enumerate() {
            by_key.entry(sighting.key).or_default().push(i);
        }
        let calls = by_key.iter().map(|(key, indices)| {
            let first = &batch.sightings[indices[0]];
            let rejected = indices
                .iter()
                .filter(|&&i| batch.sightings[i].rejected)
                .count();
            let senders: Vec<&str> = indices
                .iter()
                .map(|&i| batch.sightings[i].send_id.as_str())
                .collect();
            async move {
                self.sight(*key, first, &senders, rejected, now, limits)
                    .await
            }
        });
        try_join_all(calls).await?;
        let index = list(&self.prefix, "keys");
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD").arg(&index);
        for key in by_key.keys() {
            pipe.arg(now).arg(key_id(*key));
        }
        pipe.ignore();
        let horizon = now.saturating_sub(limits.key_ttl_ms);
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(horizon)
            .ignore();
        pipe.cmd("ZREMRANGEBYRANK")
            .arg(&index)
            .arg(0)
            .arg(-(KEYS_KEPT as i64) - 1)
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(&index)
            .arg(limits.key_ttl_ms)
            .ignore();
        self.pipeline(&pipe).await
    }

    /// One key's sighting: its senders added while its set holds fewer than
    /// [`SENDERS_PER_KEY`] (two replicas adding at once may pass it by a batch each), its kind,
    /// display and first sighting set once, its rejections added; both keys kept for the
    /// window. Plain commands in two round trips: background work, no script needed.
    async fn sight(
        &self,
        key: CampaignKey,
        first: &crate::store::moderation::Sighting,
        senders: &[&str],
        rejected: usize,
        now: u64,
        limits: Limits,
    ) -> Result<(), StoreError> {
        let (set, meta) = (
            key_senders_key(&self.prefix, key),
            key_meta_key(&self.prefix, key),
        );
        let mut pipe = redis::pipe();
        pipe.cmd("SCARD").arg(&set);
        pipe.cmd("HSETNX").arg(&meta).arg("first").arg(now).ignore();
        pipe.cmd("HSETNX")
            .arg(&meta)
            .arg("kind")
            .arg(&first.kind)
            .ignore();
        pipe.cmd("HSETNX")
            .arg(&meta)
            .arg("display")
            .arg(&first.display)
            .ignore();
        pipe.cmd("HSET").arg(&meta).arg("last").arg(now).ignore();
        pipe.cmd("HINCRBY")
            .arg(&meta)
            .arg("rejected")
            .arg(rejected)
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(&meta)
            .arg(limits.key_ttl_ms)
            .ignore();
        let reply = self.pipeline_values(&pipe).await?;
        let size: usize = reply
            .first()
            .and_then(|v| redis::from_redis_value(v.clone()).ok())
            .unwrap_or(0);
        let room = SENDERS_PER_KEY.saturating_sub(size);
        if room == 0 {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.cmd("SADD")
            .arg(&set)
            .arg(&senders[..senders.len().min(room)])
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(&set)
            .arg(limits.key_ttl_ms)
            .ignore();
        self.pipeline(&pipe).await
    }

    pub(crate) async fn rejections(
        &self,
        cursor: Option<&str>,
        limit: usize,
        keep: &(dyn Fn(&Rejection) -> bool + Sync),
    ) -> Result<Page<Rejection>, StoreError> {
        self.stream_page(&list(&self.prefix, "rejections"), cursor, limit, keep)
            .await
    }

    pub(crate) async fn audit_trail(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<AuditEntry>, StoreError> {
        self.stream_page(&list(&self.prefix, "audit"), cursor, limit, &|_| true)
            .await
    }

    /// A page of a stream of JSON entries, newest first, from before `cursor` (an entry id).
    async fn stream_page<T: serde::de::DeserializeOwned>(
        &self,
        stream: &str,
        cursor: Option<&str>,
        limit: usize,
        keep: &(dyn Fn(&T) -> bool + Sync),
    ) -> Result<Page<T>, StoreError> {
        let mut end = match cursor.filter(|c| is_stream_id(c)) {
            Some(id) => format!("({id}"),
            None => "+".to_string(),
        };
        let mut items = Vec::new();
        let mut last_id = None;
        let mut scanned = 0;
        // Every entry at most once, whatever the filter: a bounded scan.
        while scanned < REJECTIONS_KEPT.max(AUDIT_KEPT) + CHUNK {
            let mut cmd = redis::cmd("XREVRANGE");
            cmd.arg(stream).arg(&end).arg("-").arg("COUNT").arg(CHUNK);
            let reply: Value = self.command(&cmd).await?;
            let entries = stream_entries(reply);
            if entries.is_empty() {
                return Ok(Page { items, next: None });
            }
            scanned += entries.len();
            for (id, json) in entries {
                end = format!("({id}");
                let Ok(item) = serde_json::from_slice::<T>(&json) else {
                    continue;
                };
                if !keep(&item) {
                    continue;
                }
                if items.len() == limit {
                    return Ok(Page {
                        items,
                        next: last_id,
                    });
                }
                items.push(item);
                last_id = Some(id);
            }
        }
        Ok(Page {
            items,
            next: last_id,
        })
    }

    pub(crate) async fn active_keys(&self, since: u64) -> Result<Vec<KeySummary>, StoreError> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(list(&self.prefix, "keys"))
            .arg(since)
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(KEYS_KEPT);
        let ids: Vec<String> = self.command(&cmd).await?;
        let summaries = ids.iter().filter_map(|id| parse_key_id(id)).map(|key| {
            let mut pipe = redis::pipe();
            pipe.cmd("SCARD").arg(key_senders_key(&self.prefix, key));
            pipe.cmd("HMGET")
                .arg(key_meta_key(&self.prefix, key))
                .arg(&["kind", "display", "first", "last", "rejected"]);
            async move {
                let reply = self.pipeline_values(&pipe).await?;
                Ok::<_, StoreError>(summary_of(key, reply))
            }
        });
        let summaries = try_join_all(summaries).await?;
        Ok(summaries.into_iter().flatten().collect())
    }

    async fn pipeline_values(&self, pipe: &redis::Pipeline) -> Result<Vec<Value>, StoreError> {
        let run = async {
            match &self.connection {
                Connection::Single(single) => {
                    pipe.query_async::<Vec<Value>>(&mut single.connection())
                        .await
                }
                Connection::Cluster(cluster) => match cluster.connection() {
                    Ok(mut connection) => pipe.query_async::<Vec<Value>>(&mut connection).await,
                    Err(_) => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "not connected to the Redis Cluster",
                    ))),
                },
            }
        };
        match tokio::time::timeout(MODERATION_TIMEOUT, run).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    pub(crate) async fn key_senders(
        &self,
        key: CampaignKey,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(key_senders_key(&self.prefix, key));
        let mut senders: Vec<String> = self.command(&cmd).await?;
        senders.sort_unstable();
        senders.truncate(limit);
        Ok(senders)
    }

    pub(crate) async fn block_entries(&self, now: u64) -> Result<Vec<BlockEntry>, StoreError> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(list(&self.prefix, "blocks"))
            .arg(format!("({now}"))
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(BLOCKS_KEPT);
        let ids: Vec<String> = self.command(&cmd).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(list(&self.prefix, "blockinfo")).arg(&ids);
        let entries: Vec<Option<String>> = self.command(&cmd).await?;
        let mut entries: Vec<BlockEntry> = entries
            .into_iter()
            .flatten()
            .filter_map(|json| serde_json::from_str(&json).ok())
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.since));
        Ok(entries)
    }

    pub(crate) async fn unindex_block(&self, send_id: &str) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM")
            .arg(list(&self.prefix, "blocks"))
            .arg(send_id)
            .ignore();
        pipe.cmd("HDEL")
            .arg(list(&self.prefix, "blockinfo"))
            .arg(send_id)
            .ignore();
        self.pipeline(&pipe).await
    }

    pub(crate) async fn block_by_hand(
        &self,
        sender: SenderKey,
        now: u64,
        length_ms: u64,
    ) -> Result<u32, StoreError> {
        let mut call = Call::default();
        call.key(keys::sender_key(&self.prefix, sender))
            .arg("block")
            .arg(now)
            .arg(length_ms)
            .arg(self.policy.block_max.as_millis() as u64)
            .arg(keys::BLOCK_FIELD);
        let blocks: i64 = self.moderation_call(&call).await?;
        Ok(u32::try_from(blocks).unwrap_or(u32::MAX))
    }

    pub(crate) async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(list(&self.prefix, "audit"))
            .arg("MAXLEN")
            .arg("~")
            .arg(AUDIT_KEPT)
            .arg("*")
            .arg("j")
            .arg(serde_json::to_string(entry).unwrap_or_default());
        self.command::<Value>(&cmd).await.map(drop)
    }

    /// How many times the reported and allowed keys were changed (bumped with every change):
    /// a periodic reload that finds it unchanged has nothing to read.
    pub(crate) async fn taught_version(&self) -> Result<u64, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(list(&self.prefix, "taught"));
        let version: Option<u64> = self.command(&cmd).await?;
        Ok(version.unwrap_or(0))
    }

    pub(crate) async fn teachings(&self, now: u64) -> Result<Teachings, StoreError> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(list(&self.prefix, "reported"))
            .arg(format!("({now}"))
            .arg("+inf")
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(REPORTED_KEPT);
        let reported: Vec<(String, u64)> = self.command(&cmd).await?;
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(list(&self.prefix, "allowed"));
        let allowed: Vec<String> = self.command(&cmd).await?;
        Ok(Teachings {
            reported: reported
                .into_iter()
                .filter_map(|(id, until)| Some((parse_key_id(&id)?, until)))
                .collect(),
            allowed: allowed.iter().filter_map(|id| parse_key_id(id)).collect(),
        })
    }

    pub(crate) async fn teach(
        &self,
        keys: &[CampaignKey],
        until: Option<u64>,
        now: u64,
    ) -> Result<(), StoreError> {
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            match until {
                Some(until) => {
                    let reported = list(&self.prefix, "reported");
                    pipe.cmd("ZADD").arg(&reported);
                    for key in keys {
                        pipe.arg(until).arg(key_id(*key));
                    }
                    pipe.ignore();
                    pipe.cmd("ZREMRANGEBYSCORE")
                        .arg(&reported)
                        .arg("-inf")
                        .arg(now)
                        .ignore();
                }
                None => {
                    pipe.cmd("SADD").arg(list(&self.prefix, "allowed"));
                    for key in keys {
                        pipe.arg(key_id(*key));
                    }
                    pipe.ignore();
                }
            }
            pipe.cmd("INCR").arg(list(&self.prefix, "taught")).ignore();
            self.pipeline(&pipe).await?;
        }
        self.announce().await;
        Ok(())
    }

    pub(crate) async fn unallow(&self, key: CampaignKey) -> Result<bool, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SREM")
            .arg(list(&self.prefix, "allowed"))
            .arg(key_id(key));
        pipe.cmd("INCR").arg(list(&self.prefix, "taught")).ignore();
        let replies = self.pipeline_values(&pipe).await?;
        let removed: i64 = replies
            .first()
            .and_then(|v| redis::from_redis_value(v.clone()).ok())
            .ok_or_else(|| StoreError::Reply(format!("SREM answered {replies:?}")))?;
        self.announce().await;
        Ok(removed == 1)
    }

    /// Tells every replica to reload the reported and allowed keys. A notice that is lost is
    /// made up for by each replica's periodic reload.
    async fn announce(&self) {
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(channel(&self.prefix)).arg("changed");
        if let Err(error) = self.command::<i64>(&publish).await {
            tracing::warn!(%error, "a moderation change was not announced");
        }
    }

    pub(crate) async fn moderation_notices(&self) -> Result<UnblockNotices, StoreError> {
        let mut notices = self.subscribe_to(&channel(&self.prefix)).await?;
        notices.ping_every(NOTICES_PING_EVERY);
        Ok(notices)
    }
}

/// A stream id as Redis writes them (`<ms>-<seq>`): only such a cursor is passed on.
fn is_stream_id(text: &str) -> bool {
    let mut parts = text.splitn(2, '-');
    let digits = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    digits(parts.next()) && digits(parts.next())
}

/// The `(id, value of field j)` pairs of an XRANGE/XREVRANGE reply.
fn stream_entries(reply: Value) -> Vec<(String, Vec<u8>)> {
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(mut parts) = entry else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            let fields = parts.pop()?;
            let id = bytes(parts.pop()?)?;
            let Value::Array(fields) = fields else {
                return None;
            };
            let json = fields.into_iter().nth(1).and_then(bytes)?;
            Some((String::from_utf8(id).ok()?, json))
        })
        .collect()
}

fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.into_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    }
}

/// A key's summary from its `SCARD` and `HMGET`; `None` once its records expired.
fn summary_of(key: CampaignKey, reply: Vec<Value>) -> Option<KeySummary> {
    let [senders, Value::Array(meta)] = <[Value; 2]>::try_from(reply).ok()? else {
        return None;
    };
    let senders = match senders {
        Value::Int(n) => n.max(0) as u64,
        _ => 0,
    };
    let field = |i: usize| meta.get(i).map(text).unwrap_or_default();
    let number = |i: usize| field(i).parse::<u64>().unwrap_or(0);
    if matches!(meta.first(), None | Some(Value::Nil)) {
        return None;
    }
    Some(KeySummary {
        key,
        kind: field(0),
        display: field(1),
        senders,
        rejected: number(4),
        first_seen: number(2),
        last_seen: number(3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stream_ids_are_cursors() {
        assert!(is_stream_id("1700000000000-0"));
        assert!(is_stream_id("5-12"));
        for junk in ["", "-", "5", "5-", "-5", "a-1", "1-2-3", "(5-1", "+"] {
            assert!(!is_stream_id(junk), "{junk}");
        }
    }
}
