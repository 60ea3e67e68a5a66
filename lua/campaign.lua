--[[ floodgate · campaign.lua — the campaign rule on one key's hash slot (Redis Cluster, where
the sender's keys and each campaign key live on different slots), called for each key of a cold
message once sender.lua admitted it; the calls of one message run concurrently. Built on
campaign_check.lua. A key over the limit in enforce mode records nothing; the others are then
taken back with `undo`, so a rejected message is recorded nowhere. `vouch` runs for each domain
key of an established message sender.lua admitted.

KEYS
  check, undo: KEYS[1] <prefix>:{f:<key>}    zset  <sender> scored by their last admitted copy (ms)
               KEYS[2] <prefix>:{f:<key>}:r  string  the recipients (campaign_check.lua)
               KEYS[3] <prefix>:{f:<key>}:v  string  a domain key's vouchers (check only)
  vouch:       KEYS[1] <prefix>:{f:<key>}:v

ARGV
  check: [1] 'check' [2] now_ms [3] limit [4] window_ms [5] mode: E (enforce) or S (shadow) [6] sender
         [7] recipient ("" = unknown) [8] recipients that make a campaign [9] 'd' for a domain key
         [10] contact memory (ms, 0 = off: a domain key then counts nothing) [11] vouchers that vet
  undo:  [1] 'undo'  [2] the check's now_ms [3] the sender's time before it (0: it added them,
         -1: it recorded nothing) [4] sender [5] recipient [6] the recipient's time before it
         (as for the sender) [7] window_ms
  vouch: [1] 'vouch' [2] now_ms [3] sender [4] contact memory (ms) [5] vouchers that vet

Returns (integers, packed into one string by reply.lua)
  check {full, over, retry_ms, previous_ms, recipient_previous_ms}: full = over the limit in
        enforce mode (nothing recorded); over = over the limit in shadow (recorded); the
        previous times for undo (-1: nothing recorded)
  undo, vouch  1
]]

if ARGV[1] == 'vouch' then
  vouch(KEYS[1], ARGV[3], tonumber(ARGV[2]), tonumber(ARGV[4]), ARGV[4], tonumber(ARGV[5]))
  return 1
end

if ARGV[1] == 'undo' then
  local previous = tonumber(ARGV[3])
  if previous >= 0 then
    local seen = redis.call('ZSCORE', KEYS[1], ARGV[4])
    if seen and tonumber(seen) == tonumber(ARGV[2]) then
      if previous == 0 then redis.call('ZREM', KEYS[1], ARGV[4]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4]) end
    end
  end
  recipients_undo(KEYS[2], ARGV[5], tonumber(ARGV[2]), tonumber(ARGV[6]), ARGV[7])
  return 1
end

local now, limit, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if ARGV[9] == 'd' then
  local memory = tonumber(ARGV[10])
  if memory == 0 or vetted(KEYS[3], now, memory, tonumber(ARGV[11])) then
    return packed({0, 0, 0, -1, -1})
  end
end
local state, retry, extra = campaign_peek(KEYS[1], now, limit, window, ARGV[6], true)
local recipient, cap = ARGV[7], tonumber(ARGV[8])
local recipients = entries_read(KEYS[2], 8, now - window)
-- Over the limit of senders, but all to one recipient: not a campaign, and the set (full
-- already) takes no more senders.
local one_recipient = state == FULL and not reaches_many(recipients, recipient, cap)
if state == FULL and not one_recipient and ARGV[5] == 'E' then return packed({1, 0, retry, 0, -1}) end
local recipient_previous = recipients_record(KEYS[2], recipients, recipient, now, ARGV[4], cap)
if one_recipient then return packed({0, 0, 0, -1, recipient_previous}) end
campaign_record(KEYS[1], ARGV[2], ARGV[4], limit, state, extra, ARGV[6])
if state == KNOWN then return packed({0, 0, 0, extra, recipient_previous}) end
if state == FULL then return packed({0, 1, retry, 0, recipient_previous}) end
return packed({0, 0, 0, 0, recipient_previous})
