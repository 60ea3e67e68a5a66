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
                                A domain key's string goes on with its pages: the link keys of
                                the pages its copies (every one it did not reject) carried within
                                the window, at most `page_cap` entries of {page, time}, then one
                                byte: how many recipients lead (a string without pages is the
                                recipients alone, as before pages were kept; its length is a
                                multiple of 16, one with pages is not). A domain key full of
                                senders still admits a copy bringing a page its copies have not
                                carried, while they carried fewer than `page_cap` (the limit + 1,
                                at most 16): a run repeating one page of a big site (its link key
                                catches it) cannot make the domain catch other people's pages of
                                it; a copy repeating a page is not held back, so a run spread over
                                a few pages is caught from the sender past the limit as before.
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
    oldest = redis.call('ZRANGE', key, '0', '0', 'WITHSCORES')
    if tonumber(oldest[2]) <= horizon then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
      distinct = redis.call('ZCARD', key)
      oldest = distinct >= limit and redis.call('ZRANGE', key, '0', '0', 'WITHSCORES')
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

-- The :r and :v strings are read and written in place, entry by entry, with no table per entry:
-- this runs for every campaign key of every cold message, and a Redis Function's time goes to
-- the Lua it runs more than to the commands it sends. PARTS holds the pieces of a string being
-- written (reused by every call: one call at a time runs).
local PARTS = {}

-- The recipients and (a domain key's) pages in a key's :r string (nil: none): where the entries
-- end, and how many recipients lead (the rest are pages).
local function lists_layout(raw)
  local size = #raw
  if size % 16 == 1 then return size - 1, string.byte(raw, size) end
  return size, size / 16
end

-- Whether a key at its limit of senders holds this copy back (not a campaign yet, and the copy's
-- sender is not recorded), from its :r string `raw`: its copies, this one included, reach fewer
-- than `recipient_cap` recipients within the window (`recipient` "": unknown, which holds nothing
-- back), or (a domain key) it brings a page its copies have not carried while they carried fewer
-- than `page_cap` - 1 (`page` "": unknown, or not a domain key: nothing held back; a copy
-- repeating a page, as a run spread over a few pages sends, is not held back).
local function held_back(raw, horizon, recipient, recipient_cap, page, page_cap)
  local recipients, pages, page_known = 1, 0, false
  if raw then
    local size, leading = lists_layout(raw)
    local n = 0
    for i = 1, size - 15, 16 do
      n = n + 1
      if struct.unpack('>d', raw, i + 8) > horizon then
        local member = string.sub(raw, i, i + 7)
        if n <= leading then
          if member ~= recipient then recipients = recipients + 1 end
        else
          pages = pages + 1
          if member == page then page_known = true end
        end
      end
    end
  end
  if recipient ~= '' and recipients < recipient_cap then return true end
  return page ~= '' and not page_known and pages + 1 < page_cap
end

-- Appends to PARTS (from n) the live entries of one list of `raw` (entries first..last), `member`
-- refreshed to `stamp` (its time, packed) or, when absent, added if fewer than `cap` are live.
-- Returns the new n, how many entries were written, and the member's earlier time (0: added,
-- -1: nothing changed, as when `member` is "").
local function list_record(n, raw, first, last, horizon, member, cap, now_packed)
  local written, previous = 0, -1
  if raw then
    for i = first, last - 15, 16 do
      local at = struct.unpack('>d', raw, i + 8)
      if at > horizon then
        local entry = string.sub(raw, i, i + 7)
        if entry == member then
          previous = at
          n = n + 1
          PARTS[n] = member .. now_packed
        else
          n = n + 1
          PARTS[n] = string.sub(raw, i, i + 15)
        end
        written = written + 1
      end
    end
  end
  if member ~= '' and previous < 0 and written < cap then
    n, written, previous = n + 1, written + 1, 0
    PARTS[n] = member .. now_packed
  end
  return n, written, previous
end

-- Records a copy's recipient and (a domain key's, "" otherwise) page in the key's :r string
-- (`raw` as read before this call wrote anything): returns their earlier times, 0 when added,
-- -1 when nothing changed (no member, or the list is full of others); rewrites the string, with
-- only its entries within the window, when either changed. Held copies record theirs too: a
-- few senders on one page cannot hold a domain open for a run that rotates paths after them.
local function lists_record(key, raw, horizon, recipient, recipient_cap, page, page_cap, now, ttl_text)
  local size, leading = 0, 0
  if raw then size, leading = lists_layout(raw) end
  local now_packed = struct.pack('>d', now)
  local n, recipients, recipient_previous =
    list_record(0, raw, 1, leading * 16, horizon, recipient, recipient_cap, now_packed)
  local pages, page_previous
  n, pages, page_previous = list_record(n, raw, leading * 16 + 1, size, horizon, page, page_cap, now_packed)
  if recipient_previous >= 0 or page_previous >= 0 then
    if pages > 0 then
      n = n + 1
      PARTS[n] = string.char(recipients)
    end
    redis.call('SET', key, table.concat(PARTS, '', 1, n), 'PX', ttl_text)
  end
  return recipient_previous, page_previous
end

-- Takes back lists_record at `at` (`previous` as it returned for each member) in the key's :r
-- string, unless a later copy has moved a member on since.
local function lists_take_back(key, recipient, recipient_previous, page, page_previous, at, ttl_text)
  local raw = redis.call('GET', key)
  if not raw then return end
  local size, leading = lists_layout(raw)
  local n, recipients, pages, changed = 0, 0, 0, false
  local index = 0
  for i = 1, size - 15, 16 do
    index = index + 1
    local leads = index <= leading
    local member, previous = string.sub(raw, i, i + 7), page_previous
    if leads then previous = recipient_previous end
    local entry = string.sub(raw, i, i + 15)
    if previous >= 0 and member == (leads and recipient or page) and struct.unpack('>d', raw, i + 8) == at then
      changed = true
      entry = previous > 0 and member .. struct.pack('>d', previous) or nil
    end
    if entry then
      n = n + 1
      PARTS[n] = entry
      if leads then recipients = recipients + 1 else pages = pages + 1 end
    end
  end
  if not changed then return end
  if n == 0 then redis.call('DEL', key) return end
  if pages > 0 then
    n = n + 1
    PARTS[n] = string.char(recipients)
  end
  redis.call('SET', key, table.concat(PARTS, '', 1, n), 'PX', ttl_text)
end

-- A domain key's page as the caller passes it: 8 bytes, zeros (or nothing) when unknown.
local NO_PAGE = '\0\0\0\0\0\0\0\0'
local function page_of(raw)
  if raw == nil or raw == NO_PAGE then return '' end
  return raw
end

-- Whether a domain has `cap` vouchers (the :v string: {sender (16 bytes), time ('>d')} each)
-- within the contact memory.
local function vetted(key, now, memory, cap)
  local raw = redis.call('GET', key)
  if not raw then return false end
  local live, horizon = 0, now - memory
  for i = 1, #raw - 23, 24 do
    if struct.unpack('>d', raw, i + 16) > horizon then live = live + 1 end
  end
  return live >= cap
end

-- A voucher's time is refreshed once per this part of the memory, not per message, as a
-- conversation's is (src/store/conversations.rs MEMORY_SLACK_PARTS; campaign.lua has no prelude,
-- a unit test in src/store/redis/keys.rs holds the two alike).
local VOUCH_SLACK_PARTS = 32

-- A sender who carried the domain in an established conversation: the newest `cap` distinct
-- vouchers within the memory, oldest first, this one last; nothing is written when they vouched
-- within the slack.
local function vouch(key, sender, now, memory, memory_text, cap)
  local raw, n, horizon = redis.call('GET', key), 0, now - memory
  if raw then
    for i = 1, #raw - 23, 24 do
      local at = struct.unpack('>d', raw, i + 16)
      if at > horizon then
        if string.sub(raw, i, i + 15) ~= sender then
          n = n + 1
          PARTS[n] = string.sub(raw, i, i + 23)
        elseif at + math.floor(memory / VOUCH_SLACK_PARTS) > now then
          return
        end
      end
    end
  end
  n = n + 1
  PARTS[n] = sender .. struct.pack('>d', now)
  redis.call('SET', key, table.concat(PARTS, '', math.max(1, n - cap + 1), n), 'PX', memory_text)
end
