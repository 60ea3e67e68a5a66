--[[ floodgate · campaign.lua — the campaign rule on one key's hash slot (Redis Cluster, where
the sender's keys and each campaign key live on different slots), called for each key of a cold
message once sender.lua admitted it; the calls of one message run concurrently. Built on
campaign_check.lua. A key over the limit in enforce mode records nothing; the others are then
taken back with `undo`, so a rejected message is recorded nowhere.

KEYS
  KEYS[1]  <prefix>:{f:<key>}  zset  <sender> scored by their last admitted copy (ms)

ARGV
  check: [1] 'check' [2] now_ms [3] limit [4] window_ms [5] mode: E (enforce) or S (shadow) [6] sender
  undo:  [1] 'undo'  [2] the check's now_ms [3] the sender's time before it (0: it added them) [4] sender

Returns (integers, packed into one string by reply.lua)
  check {full, over, retry_ms, previous_ms}: full = over the limit in enforce mode (nothing
        recorded); over = over the limit in shadow (recorded); previous_ms for undo
  undo  1
]]

if ARGV[1] == 'undo' then
  local seen = redis.call('ZSCORE', KEYS[1], ARGV[4])
  if seen and tonumber(seen) == tonumber(ARGV[2]) then
    if ARGV[3] == '0' then redis.call('ZREM', KEYS[1], ARGV[4]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4]) end
  end
  return 1
end

local limit = tonumber(ARGV[3])
local state, retry, extra = campaign_peek(KEYS[1], tonumber(ARGV[2]), limit, tonumber(ARGV[4]), ARGV[6], true)
if state == FULL and ARGV[5] == 'E' then return packed({1, 0, retry, 0}) end
campaign_record(KEYS[1], ARGV[2], ARGV[4], limit, state, extra, ARGV[6])
if state == KNOWN then return packed({0, 0, 0, extra}) end
if state == FULL then return packed({0, 1, retry, 0}) end
return packed({0, 0, 0, 0})
