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

-- A small list of {member, time} in one string (the :v key): the entries after `horizon`.
local function entries_read(key, width, horizon)
  local raw, list = redis.call('GET', key), {}
  if not raw then return list end
  for i = 1, #raw - width - 7, width + 8 do
    local at = struct.unpack('>d', raw, i + width)
    if at > horizon then list[#list + 1] = {string.sub(raw, i, i + width - 1), at} end
  end
  return list
end

-- Appends `list`'s entries to `parts`, each {member, time ('>d')}.
local function pack_entries(parts, list)
  for _, entry in ipairs(list) do parts[#parts + 1] = entry[1] .. struct.pack('>d', entry[2]) end
  return parts
end

local function entries_write(key, list, ttl_text)
  if #list == 0 then redis.call('DEL', key) return end
  redis.call('SET', key, table.concat(pack_entries({}, list)), 'PX', ttl_text)
end

-- A key's recipients and (a domain key's) pages, read from its :r string: the entries after
-- `horizon`, each list in the order written.
local function lists_read(key, horizon)
  local raw, recipients, pages = redis.call('GET', key), {}, {}
  if not raw then return recipients, pages end
  local size, leading = #raw, nil
  if size % 16 == 1 then size, leading = size - 1, string.byte(raw, size) end
  local n = 0
  for i = 1, size - 15, 16 do
    n = n + 1
    local at = struct.unpack('>d', raw, i + 8)
    if at > horizon then
      local list = (leading == nil or n <= leading) and recipients or pages
      list[#list + 1] = {string.sub(raw, i, i + 7), at}
    end
  end
  return recipients, pages
end

local function lists_write(key, recipients, pages, ttl_text)
  if #recipients == 0 and #pages == 0 then redis.call('DEL', key) return end
  local parts = pack_entries(pack_entries({}, recipients), pages)
  if #pages > 0 then parts[#parts + 1] = string.char(#recipients) end
  redis.call('SET', key, table.concat(parts), 'PX', ttl_text)
end

-- Whether `member` (a recipient or a page, 8 bytes; "" = unknown, which holds nothing back)
-- makes the list reach `cap` distinct members.
local function reaches_many(list, member, cap)
  if member == '' then return true end
  local distinct = 1
  for _, entry in ipairs(list) do
    if entry[1] ~= member then distinct = distinct + 1 end
  end
  return distinct >= cap
end

-- Whether a domain key's pages hold back a copy on `page`: a page its copies have not carried
-- yet, while they and it are fewer than `cap` ("" = unknown, or not a domain key, holds nothing
-- back; a copy repeating a page, as a run spread over a few pages sends, is not held back). The
-- list's members are distinct, so a new page makes one more.
local function pages_hold_back(pages, page, cap)
  if page == '' then return false end
  for _, entry in ipairs(pages) do
    if entry[1] == page then return false end
  end
  return #pages + 1 < cap
end

-- Whether a key at its limit of senders holds this copy back (not a campaign yet, and the
-- copy's sender is not recorded): its copies, this one included, reach fewer than
-- `recipient_cap` recipients, or (a domain key) it brings a new page (pages_hold_back).
local function held_back(recipients, recipient, recipient_cap, pages, page, page_cap)
  return not reaches_many(recipients, recipient, recipient_cap) or pages_hold_back(pages, page, page_cap)
end

-- Adds `member` to `list` at `now` (the caller writes the lists); returns the member's earlier
-- time, 0 when added, -1 when nothing changed (no member, or the list is full of others).
local function members_add(list, member, now, cap)
  if member == '' then return -1 end
  for _, entry in ipairs(list) do
    if entry[1] == member then
      local previous = entry[2]
      entry[2] = now
      return previous
    end
  end
  if #list >= cap then return -1 end
  list[#list + 1] = {member, now}
  return 0
end

-- Records a copy's recipient and (a domain key's, "" otherwise) page in the key's :r string,
-- as read by lists_read; returns their earlier times as members_add does. Held copies record
-- theirs too: a few senders on one page cannot hold a domain open for a run that rotates paths
-- after them.
local function lists_record(key, recipients, recipient, recipient_cap, pages, page, page_cap, now, ttl_text)
  local recipient_previous = members_add(recipients, recipient, now, recipient_cap)
  local page_previous = members_add(pages, page, now, page_cap)
  if recipient_previous >= 0 or page_previous >= 0 then lists_write(key, recipients, pages, ttl_text) end
  return recipient_previous, page_previous
end

-- Takes back members_add at `now` (`previous` as it returned); whether anything changed.
local function members_take_back(list, member, now, previous)
  if previous < 0 or member == '' then return false end
  for k, entry in ipairs(list) do
    if entry[1] == member and entry[2] == now then
      if previous > 0 then entry[2] = previous else table.remove(list, k) end
      return true
    end
  end
  return false
end

-- A domain key's page as the caller passes it: 8 bytes, zeros (or nothing) when unknown.
local NO_PAGE = '\0\0\0\0\0\0\0\0'
local function page_of(raw)
  if raw == nil or raw == NO_PAGE then return '' end
  return raw
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
