--[[ floodgate · campaign_check.lua — the distinct senders of one fingerprint: a function that
campaign.lua (Redis Cluster: its own call on the fingerprint's slot) and sender.lua (standalone
Redis: the same call as the sender's rules) are both built on; Rust prepends this file to them.
Either way it runs only for a message the sender's rules admitted.

The set (a zset: <sender> scored by their last admitted copy, in ms) holds senders seen within
the window. Only admitted senders are added, so in enforce mode it never exceeds the limit; in
shadow it keeps the most recent `limit` senders, enough to answer "over the limit" exactly
without growing for a viral text. The key lives one window past its last write.

Returns rejected (0 or 1), shadow (1: over the limit in shadow) and retry_ms. Times come as the
decimal text of ARGV: Redis would format a Lua number with printf for every call.
]]
local function check_campaign(key, now_text, limit, window_text, enforce, sender)
  local now, window = tonumber(now_text), tonumber(window_text)
  local horizon = now - window
  local seen = redis.call('ZSCORE', key, sender)
  if seen and tonumber(seen) > horizon then
    redis.call('ZADD', key, now_text, sender)
    redis.call('PEXPIRE', key, window_text)
    return 0, 0, 0
  end
  -- Stale senders only need sweeping when the set looks full: with fewer members than the
  -- limit in total, fewer are inside the window, and the set stays bounded by the limit. A full
  -- set whose oldest member is inside the window has nothing to sweep (the usual rejection).
  local distinct, oldest = redis.call('ZCARD', key), nil
  if distinct >= limit then
    oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if tonumber(oldest[2]) <= horizon then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
      distinct = redis.call('ZCARD', key)
      oldest = distinct >= limit and redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    end
  end
  local shadow, retry = 0, 0
  if distinct >= limit then
    retry = tonumber(oldest[2]) + window - now
    if enforce then return 1, 0, retry end
    redis.call('ZPOPMIN', key, distinct - limit + 1)
    shadow = 1
  end
  redis.call('ZADD', key, now_text, sender)
  redis.call('PEXPIRE', key, window_text)
  return 0, shadow, retry
end
