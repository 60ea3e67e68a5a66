--[[ floodgate · campaign.lua — the campaign rule on its own hash slot (Redis Cluster, where the
sender's keys and the fingerprint's live on different slots). Built on campaign_check.lua.

KEYS
  KEYS[1]  <prefix>:{f:<fingerprint>}  zset  <sender> scored by their last admitted copy (ms)

ARGV
  [1] op: check | release    [2] now_ms (release: the at_ms of the check to hand back)
  [3] limit    [4] window_ms    [5] mode: E (enforce) or S (shadow)    [6] sender
  [7] release: the refreshed entry's previous time, 0 = the check added a new entry

Returns (integers)
  check    {rejected, recorded, shadow, retry_ms, previous_ms}  (see campaign_check.lua)
  release  1 if the entry was handed back, else 0 (a later copy has moved it on since)
]]

local key, op, now, sender = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[6]

if op == 'release' then return hand_back(key, sender, now, tonumber(ARGV[7])) end

return {check_campaign(key, ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5] == 'E', sender)}
