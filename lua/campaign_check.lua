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

(v3) Beside the set, on the same slot:
  <prefix>:{f:<key>}:r  string  the recipients the key's copies reached within the window: at most
                                `cap` entries of {recipient (8 bytes), time ('>d')}. A key is over
                                the limit only when its copies, this one included, reach `cap`
                                distinct recipients: strangers writing alike to ONE account (a
                                support desk, a seller) are not a campaign. Full of other
                                recipients, the list takes no new one (its count is all it
                                answers).
  <prefix>:{f:<key>}:v  string  a domain key's vouchers: the last `cap` distinct senders who
                                carried the domain in an established conversation, {sender (16
                                bytes), time ('>d')} each, kept for the contact memory. With
                                `cap` of them inside it the domain is vetted and its key counts
                                nothing.
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

-- A small list of {member, time} in one string (the :r and :v keys): the entries after
-- `horizon`.
local function entries_read(key, width, horizon)
  local raw, list = redis.call('GET', key), {}
  if not raw then return list end
  for i = 1, #raw - width - 7, width + 8 do
    local at = struct.unpack('>d', raw, i + width)
    if at > horizon then list[#list + 1] = {string.sub(raw, i, i + width - 1), at} end
  end
  return list
end

local function entries_write(key, list, ttl_text)
  if #list == 0 then redis.call('DEL', key) return end
  local parts = {}
  for k, entry in ipairs(list) do parts[k] = entry[1] .. struct.pack('>d', entry[2]) end
  redis.call('SET', key, table.concat(parts), 'PX', ttl_text)
end

-- Whether a message to `recipient` ("" = unknown: no recipient holds the key back) makes the
-- key's copies reach `cap` distinct recipients.
local function reaches_many(list, recipient, cap)
  if recipient == '' then return true end
  local distinct = 1
  for _, entry in ipairs(list) do
    if entry[1] ~= recipient then distinct = distinct + 1 end
  end
  return distinct >= cap
end

-- Records `recipient` in the list read by entries_read; returns the recipient's earlier time,
-- 0 when added, -1 when nothing was recorded (no recipient, or the list is full of others).
local function recipients_record(key, list, recipient, now, window_text, cap)
  if recipient == '' then return -1 end
  local previous = -1
  for _, entry in ipairs(list) do
    if entry[1] == recipient then previous, entry[2] = entry[2], now end
  end
  if previous == -1 then
    if #list >= cap then return -1 end
    list[#list + 1] = {recipient, now}
    previous = 0
  end
  entries_write(key, list, window_text)
  return previous
end

-- Takes back recipients_record at `now` (`previous` as it returned).
local function recipients_undo(key, recipient, now, previous, window_text)
  if previous < 0 or recipient == '' then return end
  local list, kept = entries_read(key, 8, -1), {}
  for _, entry in ipairs(list) do
    if entry[1] == recipient and entry[2] == now then
      if previous > 0 then kept[#kept + 1] = {recipient, previous} end
    else
      kept[#kept + 1] = entry
    end
  end
  entries_write(key, kept, window_text)
end

-- Whether a domain has `cap` vouchers within the contact memory.
local function vetted(key, now, memory, cap)
  return #entries_read(key, 16, now - memory) >= cap
end

-- A sender who carried the domain in an established conversation.
local function vouch(key, sender, now, memory, memory_text, cap)
  local list, kept = entries_read(key, 16, now - memory), {}
  for _, entry in ipairs(list) do
    if entry[1] ~= sender then kept[#kept + 1] = entry end
  end
  kept[#kept + 1] = {sender, now}
  -- The newest `cap`: oldest first, as written.
  while #kept > cap do table.remove(kept, 1) end
  entries_write(key, kept, memory_text)
end
