--[[ floodgate · campaign.lua — the distinct senders of one fingerprint, on one hash slot.

KEYS
  KEYS[1]  <prefix>:{f:<fingerprint>}  zset  <sender> scored by their last admitted copy (ms)

ARGV
  [1] op: check | release    [2] now_ms    [3] limit    [4] window_ms
  [5] mode: E (enforce) or S (shadow)      [6] sender

Returns (integers)
  check    {0, newly_added, shadow, retry_ms}   admitted (shadow = 1: over the limit in shadow)
           {1, 0, 0, retry_ms}                  rejected: limit distinct senders already
  release  1 if the sender was removed, else 0

The set holds senders seen within the window (exact, by timestamp). Only admitted senders are
added, so in enforce mode it never exceeds the limit; in shadow it keeps the most recent
`limit` senders, enough to answer "over the limit" exactly without growing for a viral text.
]]

local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local sender = ARGV[6]

if op == 'release' then
  return redis.call('ZREM', key, sender)
end

local limit, window = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZSCORE', key, sender) then
  redis.call('ZADD', key, now, sender)
  redis.call('PEXPIRE', key, window)
  return {0, 0, 0, 0}
end

local distinct = redis.call('ZCARD', key)
local shadow, retry = 0, 0
if distinct >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  retry = tonumber(oldest[2]) + window - now
  if ARGV[5] == 'E' then return {1, 0, 0, retry} end
  redis.call('ZPOPMIN', key, distinct - limit + 1)
  shadow = 1
end
redis.call('ZADD', key, now, sender)
redis.call('PEXPIRE', key, window)
return {0, 1, shadow, retry}
