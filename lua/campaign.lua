--[[ floodgate · campaign.lua — the campaign rule on one key's hash slot (Redis Cluster, where
the sender's keys and each campaign key live on different slots), called for each key of a cold
message once sender.lua admitted it; the calls of one message run concurrently. Built on
campaign_check.lua. A key over the limit in enforce mode records nothing; the others are then
taken back with `undo`, so a rejected message is recorded nowhere. `vouch` runs for each domain
key of an established message sender.lua admitted.

KEYS
  check:  KEYS[1] <prefix>:{f:<key>}:c  string  the key's copies: senders, recipients and a
                                                domain key's pages (campaign_check.lua)
          KEYS[2] <prefix>:{f:<key>}:v  string  a domain key's vouchers
  undo:   KEYS[1] <prefix>:{f:<key>}:c
  vouch:  KEYS[1] <prefix>:{f:<key>}:v

ARGV
  check: [1] 'check' [2] now_ms [3] limit [4] window_ms [5] mode: E (enforce) or S (shadow) [6] sender
         [7] recipient ("" = unknown) [8] recipients that make a campaign [9] 'd' for a domain key
         [10] contact memory (ms, 0 = off: a domain key then counts nothing) [11] vouchers that vet
         [12] a domain key's page: this copy's (8 bytes, "" = unknown) [13] page_cap (see
         campaign_check.lua)
  undo:  [1] 'undo'  [2] the check's now_ms [3] the sender's time before it (0: it added them,
         -1: it recorded nothing) [4] sender [5] recipient [6] the recipient's time before it
         (as for the sender) [7] window_ms [8] the page [9] the page's time before it
  vouch: [1] 'vouch' [2] now_ms [3] sender [4] contact memory (ms) [5] vouchers that vet

Returns (integers, packed into one string by reply.lua)
  check {full, over, retry_ms, previous_ms, recipient_previous_ms, page_previous_ms}: full = over the limit in
        enforce mode (nothing recorded); over = over the limit in shadow (recorded); the
        previous times for undo (-1: nothing recorded)
  undo, vouch  1
]]

if ARGV[1] == 'vouch' then
  vouch(KEYS[1], ARGV[3], tonumber(ARGV[2]), tonumber(ARGV[4]), ARGV[4], tonumber(ARGV[5]))
  return 1
end

if ARGV[1] == 'undo' then
  campaign_take_back(KEYS[1], ARGV[4], tonumber(ARGV[3]), ARGV[5], tonumber(ARGV[6]), page_of(ARGV[8]),
    tonumber(ARGV[9]), tonumber(ARGV[2]), ARGV[7])
  return 1
end

local now, limit, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local domain = ARGV[9] == 'd'
if domain then
  local memory = tonumber(ARGV[10])
  if memory == 0 or vetted(KEYS[2], now, memory, tonumber(ARGV[11])) then
    return packed({0, 0, 0, -1, -1, -1})
  end
end
local raw = copies_read(KEYS[1])
local state, retry, extra = campaign_peek(raw, now, limit, window, ARGV[6], true)
-- A page only for a domain key ("": nothing held back or recorded by pages).
local recipient, cap, page = ARGV[7], tonumber(ARGV[8]), domain and page_of(ARGV[12]) or ''
local page_cap, horizon = tonumber(ARGV[13]), now - window
-- Over the limit of senders, but not a campaign yet (campaign_check.lua held_back): the key
-- (full already) takes no more senders.
local held = state == FULL and held_back(raw, horizon, recipient, cap, page, page_cap)
if state == FULL and not held and ARGV[5] == 'E' then return packed({1, 0, retry, 0, -1, -1}) end
local recipient_previous, page_previous = campaign_record(KEYS[1], raw, horizon, state, extra, limit,
  not held and ARGV[6], recipient, cap, page, page_cap, now, ARGV[4])
if held then return packed({0, 0, 0, -1, recipient_previous, page_previous}) end
if state == KNOWN then return packed({0, 0, 0, extra, recipient_previous, page_previous}) end
if state == FULL then return packed({0, 1, retry, 0, recipient_previous, page_previous}) end
return packed({0, 0, 0, 0, recipient_previous, page_previous})
