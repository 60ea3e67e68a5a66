--[[ floodgate · campaign_check.lua — the distinct senders of one campaign key: functions that
campaign.lua (Redis Cluster: one call per key, each on its key's slot) and sender.lua
(standalone Redis: every key in the same call as the sender's rules) are built on; Rust
prepends this file to them. Either way they run only for a cold message the sender's rules
admitted.

The set (a zset: <sender> scored by their last admitted copy, in ms) holds senders seen within
the window. Only admitted senders are added, so in enforce mode it never exceeds the limit; in
shadow it keeps the most recent `limit` senders, enough to answer "over the limit" exactly
without growing for a viral text. The key lives one window past its last write.

campaign_peek answers KNOWN (the sender is in the set; `previous` is their time), ROOM, or FULL
(with the retry and the set's size); campaign_record then records the sender. Below the limit
it reads only the set's size, unless the caller may undo and needs the sender's earlier time. Times come as the
decimal text of ARGV: Redis would format a Lua number with printf for every call.
]]
local KNOWN, ROOM, FULL = 0, 1, 2

local function campaign_peek(key, now, limit, window, sender, wants_previous)
  local horizon = now - window
  -- Below the limit the answer is "record" whether the sender is in the set or not: their
  -- earlier time is read only when the caller may have to undo (`wants_previous`).
  local distinct = redis.call('ZCARD', key)
  if distinct < limit and not wants_previous then return ROOM, 0, 0 end
  local seen = redis.call('ZSCORE', key, sender)
  if seen and tonumber(seen) > horizon then return KNOWN, 0, tonumber(seen) end
  -- Stale senders only need sweeping when the set looks full: with fewer members than the
  -- limit in total, fewer are inside the window, and the set stays bounded by the limit. A full
  -- set whose oldest member is inside the window has nothing to sweep (the usual rejection).
  local oldest = nil
  if distinct >= limit then
    oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if tonumber(oldest[2]) <= horizon then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
      distinct = redis.call('ZCARD', key)
      oldest = distinct >= limit and redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    end
  end
  if distinct >= limit then return FULL, tonumber(oldest[2]) + window - now, distinct end
  return ROOM, 0, 0
end

-- Records the sender after campaign_peek answered `state` (FULL only in shadow, where the
-- oldest senders make room; `distinct` is the set's size then).
local function campaign_record(key, now_text, window_text, limit, state, distinct, sender)
  if state == FULL then redis.call('ZPOPMIN', key, distinct - limit + 1) end
  redis.call('ZADD', key, now_text, sender)
  redis.call('PEXPIRE', key, window_text)
end
