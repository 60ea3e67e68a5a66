--[[ floodgate · campaign.lua — the campaign rule on its own hash slot (Redis Cluster, where the
sender's keys and the fingerprint's live on different slots), called once sender.lua admitted
the message. Built on campaign_check.lua.

KEYS
  KEYS[1]  <prefix>:{f:<fingerprint>}  zset  <sender> scored by their last admitted copy (ms)

ARGV
  [1] now_ms    [2] limit    [3] window_ms    [4] mode: E (enforce) or S (shadow)    [5] sender

Returns (integers) {rejected, shadow, retry_ms}: see campaign_check.lua
]]

return {check_campaign(KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4] == 'E', ARGV[5])}
