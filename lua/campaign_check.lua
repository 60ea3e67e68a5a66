--[[ floodgate · campaign_check.lua — the distinct senders of one fingerprint: a function that
campaign.lua (Redis Cluster: its own call on the fingerprint's slot) and sender.lua (standalone
Redis: the same call as the sender's rules) are both built on, with the hand-back of a
timestamped entry both need; Rust prepends this file to them.

The set (a zset: <sender> scored by their last admitted copy, in ms) holds senders seen within
the window. Only admitted senders are added, so in enforce mode it never exceeds the limit; in
shadow it keeps the most recent `limit` senders, enough to answer "over the limit" exactly
without growing for a viral text. The key lives one window past its last write.

Returns rejected (0 or 1), recorded (0 nothing, 1 a new entry, 2 a refreshed one), shadow (1: over
the limit in shadow), retry_ms, and the refreshed entry's previous time (to hand it back).
Times come as the decimal text of ARGV: Redis would format a Lua number for every call.
]]
local function check_campaign(key, now_text, limit, window_text, enforce, sender)
  local now, window = tonumber(now_text), tonumber(window_text)
  local horizon = now - window
  local seen = redis.call('ZSCORE', key, sender)
  if seen and tonumber(seen) > horizon then
    redis.call('ZADD', key, now_text, sender)
    redis.call('PEXPIRE', key, window_text)
    return 0, 2, 0, 0, tonumber(seen)
  end
  -- Stale senders only need sweeping when the set looks full: with fewer members than the
  -- limit in total, fewer are inside the window, and the set stays bounded by the limit.
  local distinct = redis.call('ZCARD', key)
  if distinct >= limit then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
    distinct = redis.call('ZCARD', key)
  end
  local shadow, retry = 0, 0
  if distinct >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    retry = tonumber(oldest[2]) + window - now
    if enforce then return 1, 0, 0, retry, 0 end
    redis.call('ZPOPMIN', key, distinct - limit + 1)
    shadow = 1
  end
  redis.call('ZADD', key, now_text, sender)
  redis.call('PEXPIRE', key, window_text)
  return 0, 1, shadow, retry, 0
end

-- Hands back a timestamped sorted-set entry (a content's sender here, a sender's recipient in
-- sender.lua) that a check moved to `at`: back to `previous`, or removed when the check added it
-- (previous 0). Returns 1, or 0 if a later copy has moved the entry on since.
local function hand_back(key, member, at, previous)
  if tonumber(redis.call('ZSCORE', key, member)) ~= at then return 0 end
  if previous > 0 then
    redis.call('ZADD', key, previous, member)
  else
    redis.call('ZREM', key, member)
  end
  return 1
end
