--[[ floodgate · campaign_check.lua — one campaign key's copies: functions that campaign.lua
(Redis Cluster: one call per key, each on its key's slot) and sender.lua (standalone Redis: every
key in the same call as the sender's rules) are built on; Rust prepends this file to them. Either
way they run only for a cold message the sender's rules admitted.

<prefix>:{f:<key>}:c  string, alive one campaign window past its last write: the key's copies
  within the window, as three lists of {member, time ('>d', ms)} and a trailer:
    senders     {sender (16 bytes), time of their last admitted copy}: the distinct senders.
                Only admitted senders are added, so in enforce mode they never exceed the limit;
                in shadow the most recent `limit` are kept, enough to answer "over the limit"
                exactly without growing for a viral text.
    recipients  {recipient (8 bytes), time}: the recipients the key's copies reached, at most
                `recipient_cap`. A key is over the limit only when its copies, this one
                included, reach `recipient_cap` distinct recipients: strangers writing alike to
                ONE account (a support desk, a seller) are not a campaign. Full of other
                recipients, the list takes no new one (its count is all it answers).
    pages       {page (8 bytes), time}: a domain key's pages, the link keys of the pages its
                copies (every one it did not reject) carried, at most `page_cap`. A domain key
                full of senders still admits a copy bringing a page its copies have not carried,
                while they carried fewer than `page_cap` (the limit + 1, at most 16): a run
                repeating one page of a big site (its link key catches it) cannot make the
                domain catch other people's pages of it; a copy repeating a page is not held
                back, so a run spread over a few pages is caught from the sender past the limit
                as before. Copies held back record their recipient and page too.
    trailer     '>I4I4': how many senders, how many recipients (the pages are the rest).
  Every entry is read with its time: those outside the window count for nothing, and a write
  keeps only those inside it.

  One string, read with one GET and written with one SET, rather than a sorted set of senders
  and a string of recipients beside it: this runs for every campaign key of every cold message,
  and a Redis Function's time goes to the keys it creates and the Lua it runs more than to the
  size of what it reads (BENCHMARKS.md, "One string per campaign key"). The senders are at most
  the limit, so a check is linear in the limit, not in the traffic.

<prefix>:{f:<key>}:v  string  a domain key's vouchers: the last `cap` distinct senders
                              recorded (`vouch`) who carried the domain in an established conversation, {sender (16
                              bytes), time ('>d')} each, kept for the contact memory. With `cap`
                              of them inside it the domain is vetted and its key counts nothing.

The strings are read and written in place, entry by entry, with no table per entry; PARTS holds
the pieces of a string being written (reused by every call: one call at a time runs).
]]
local KNOWN, ROOM, FULL = 0, 1, 2
local PARTS = {}
local SENDER, ENTRY, TRAILER = 24, 16, 8

-- Where a copies string's lists are: the number of senders, the first byte of the recipients,
-- of the pages, and the last byte of the pages.
local function copies_layout(raw)
  local size = #raw
  local senders, recipients = struct.unpack('>I4I4', raw, size - TRAILER + 1)
  local recipients_at = senders * SENDER + 1
  return senders, recipients_at, recipients_at + recipients * ENTRY, size - TRAILER
end

-- A key's copies string, or false: none, or one whose lists do not fit its length (written by
-- something else; the next copy recorded replaces it).
local function copies_read(key)
  local raw = redis.call('GET', key)
  if not raw or #raw < TRAILER then return false end
  local senders, recipients = struct.unpack('>I4I4', raw, #raw - TRAILER + 1)
  local rest = #raw - TRAILER - senders * SENDER - recipients * ENTRY
  if rest < 0 or rest % ENTRY ~= 0 then return false end
  return raw
end

-- Where `member` starts among the entries of `stride` bytes from byte `first` to byte `last` of
-- `raw` (a member is an entry's first bytes), or nil. A plain find, not a string per entry: a
-- match not on an entry's first byte (inside a time) is skipped. Every list holds a member at
-- most once (each write drops it before adding it), so the first match is the only one.
local function entry_at(raw, member, first, last, stride)
  if member == '' then return nil end
  local from = first
  while true do
    local i = string.find(raw, member, from, true)
    if not i or i > last - stride + 1 then return nil end
    if (i - first) % stride == 0 then return i end
    from = i + 1
  end
end

-- The key's state for this copy, from its copies string `raw` (false: none): KNOWN (the sender
-- is among its senders within the window; `extra` is their time), ROOM, or FULL (with the retry
-- and the number of senders within the window). With fewer senders stored than the limit the
-- answer is "record" whether the sender is among them or not: their earlier time is looked for
-- only when the caller may have to undo (`wants_previous`).
local function campaign_peek(raw, now, limit, window, sender, wants_previous)
  if not raw then return ROOM, 0, 0 end
  local stored = struct.unpack('>I4', raw, #raw - TRAILER + 1)
  if stored < limit and not wants_previous then return ROOM, 0, 0 end
  local horizon, live, oldest = now - window, 0, nil
  local mine = entry_at(raw, sender, 1, stored * SENDER, SENDER)
  if mine then
    local at = struct.unpack('>d', raw, mine + 16)
    if at > horizon then return KNOWN, 0, at end
  end
  for i = 17, stored * SENDER, SENDER do
    local at = struct.unpack('>d', raw, i)
    if at > horizon then
      live = live + 1
      if not oldest or at < oldest then oldest = at end
    end
  end
  if live >= limit then return FULL, oldest + window - now, live end
  return ROOM, 0, 0
end

-- Whether a key at its limit of senders holds this copy back (not a campaign yet, and the copy's
-- sender is not recorded), from its copies string: its copies, this one included, reach fewer
-- than `recipient_cap` recipients within the window (`recipient` "": unknown, which holds nothing
-- back), or (a domain key) it brings a page its copies have not carried while they carried fewer
-- than `page_cap` - 1 (`page` "": unknown, or not a domain key: nothing held back; a copy
-- repeating a page, as a run spread over a few pages sends, is not held back).
local function held_back(raw, horizon, recipient, recipient_cap, page, page_cap)
  local recipients, pages, page_known = 1, 0, false
  if raw then
    local _, recipients_at, pages_at, last = copies_layout(raw)
    local mine = recipient ~= '' and entry_at(raw, recipient, recipients_at, pages_at - 1, ENTRY)
    local known = page ~= '' and entry_at(raw, page, pages_at, last, ENTRY)
    for i = recipients_at, last - ENTRY + 1, ENTRY do
      if struct.unpack('>d', raw, i + 8) > horizon then
        if i < pages_at then
          if i ~= mine then recipients = recipients + 1 end
        else
          pages = pages + 1
          if i == known then page_known = true end
        end
      end
    end
  end
  if recipient ~= '' and recipients < recipient_cap then return true end
  return page ~= '' and not page_known and pages + 1 < page_cap
end

-- Appends to PARTS (from n) the entries of one list of `raw` (bytes first..last) still inside the
-- window, `member` refreshed to `now_packed` or, when absent, added if fewer than `cap` are
-- there. Returns the new n, how many entries were written, and the member's earlier time (0:
-- added, -1: nothing changed, as when `member` is "").
local function list_record(n, raw, first, last, horizon, member, cap, now_packed)
  local written, previous = 0, -1
  if raw then
    -- Entries kept as they are go in runs, one piece per run.
    local mine, run = member ~= '' and entry_at(raw, member, first, last, ENTRY), nil
    for i = first, last - ENTRY + 1, ENTRY do
      local at = struct.unpack('>d', raw, i + 8)
      if at > horizon and i ~= mine then
        written = written + 1
        run = run or i
      else
        if run then
          n = n + 1
          PARTS[n], run = string.sub(raw, run, i - 1), nil
        end
        if at > horizon then
          n, written, previous = n + 1, written + 1, at
          PARTS[n] = member .. now_packed
        end
      end
    end
    if run then
      n = n + 1
      PARTS[n] = string.sub(raw, run, last)
    end
  end
  if member ~= '' and previous < 0 and written < cap then
    n, written, previous = n + 1, written + 1, 0
    PARTS[n] = member .. now_packed
  end
  return n, written, previous
end

-- Appends to PARTS the senders of `raw` inside the window, but `sender` (recorded by the caller)
-- and, when `pops` > 0, the `pops` oldest (by time, then by sender: in shadow the most recent
-- `limit` are kept); `stored` is how many the string holds. Senders kept as they are go in runs,
-- one piece per run. Returns how many pieces and how many senders were written.
local function senders_kept(raw, stored, horizon, sender, pops)
  local n, kept, run = 0, 0, nil
  local cut_at, cut_who = -1, ''
  -- The pops-th oldest (pops is at most the senders over the limit: a few at most).
  for _ = 1, pops do
    local next_at, next_who = nil, nil
    for i = 1, stored * SENDER, SENDER do
      local at, who = struct.unpack('>d', raw, i + 16), string.sub(raw, i, i + 15)
      if at > horizon and (at > cut_at or at == cut_at and who > cut_who)
        and (not next_at or at < next_at or at == next_at and who < next_who) then
        next_at, next_who = at, who
      end
    end
    if next_at then cut_at, cut_who = next_at, next_who end
  end
  local mine = raw and sender ~= '' and entry_at(raw, sender, 1, stored * SENDER, SENDER)
  for i = 1, stored * SENDER, SENDER do
    local at = struct.unpack('>d', raw, i + 16)
    if at > horizon and i ~= mine
      and (at > cut_at or at == cut_at and string.sub(raw, i, i + 15) > cut_who) then
      kept = kept + 1
      run = run or i
    elseif run then
      n = n + 1
      PARTS[n], run = string.sub(raw, run, i - 1), nil
    end
  end
  if run then
    n = n + 1
    PARTS[n] = string.sub(raw, run, stored * SENDER)
  end
  return n, kept
end

-- Records a copy in the key's copies string (`raw` as read before this call wrote anything): its
-- sender (false: held back, not recorded) at `now`, its recipient and (a domain key's, ""
-- otherwise) page. `state` and `distinct` are campaign_peek's: FULL only in shadow (or held),
-- where the oldest senders make room. Returns the recipient's and the page's earlier times
-- (0: added, -1: nothing changed); writes only what is inside the window, and nothing when
-- nothing changed.
local function campaign_record(key, raw, horizon, state, distinct, limit, sender, recipient, recipient_cap,
                               page, page_cap, now, ttl_text)
  local now_packed = struct.pack('>d', now)
  local pops = 0
  if sender and state == FULL then pops = distinct - limit + 1 end
  local stored, recipients_at, pages_at, last = 0, 1, 1, 0
  if raw then stored, recipients_at, pages_at, last = copies_layout(raw) end
  local n, senders = senders_kept(raw, stored, horizon, sender or '', pops)
  if sender then
    n, senders = n + 1, senders + 1
    PARTS[n] = sender .. now_packed
  end
  local recipients, recipient_previous, page_previous
  n, recipients, recipient_previous =
    list_record(n, raw, recipients_at, pages_at - 1, horizon, recipient, recipient_cap, now_packed)
  local _
  n, _, page_previous = list_record(n, raw, pages_at, last, horizon, page, page_cap, now_packed)
  if sender or recipient_previous >= 0 or page_previous >= 0 then
    n = n + 1
    PARTS[n] = struct.pack('>I4I4', senders, recipients)
    redis.call('SET', key, table.concat(PARTS, '', 1, n), 'PX', ttl_text)
  end
  return recipient_previous, page_previous
end

-- Takes back campaign_record at `at` (each `previous` as the check answered: the earlier time, 0
-- when it added the member, -1 when it recorded none), unless a later copy has moved a member
-- on since. Entries outside the window are kept as they are (the key expires on its own).
local function campaign_take_back(key, sender, sender_previous, recipient, recipient_previous, page,
                                  page_previous, at, ttl_text)
  local raw = copies_read(key)
  if not raw then return end
  local _, recipients_at, pages_at, last = copies_layout(raw)
  local n, senders, recipients, changed = 0, 0, 0, false
  -- One pass over the three lists: each entry's member width, and what it is taken back to.
  local i = 1
  while i <= last do
    local width, member, previous, list = ENTRY, nil, nil, 2
    if i < recipients_at then
      width, member, previous, list = SENDER, sender, sender_previous, 1
    elseif i < pages_at then
      member, previous = recipient, recipient_previous
    else
      member, previous, list = page, page_previous, 3
    end
    local name_width = width - 8
    local entry = string.sub(raw, i, i + width - 1)
    if previous >= 0 and string.sub(entry, 1, name_width) == member
      and struct.unpack('>d', raw, i + name_width) == at then
      changed = true
      entry = previous > 0 and member .. struct.pack('>d', previous) or nil
    end
    if entry then
      n = n + 1
      PARTS[n] = entry
      if list == 1 then senders = senders + 1 elseif list == 2 then recipients = recipients + 1 end
    end
    i = i + width
  end
  if not changed then return end
  if n == 0 then redis.call('DEL', key) return end
  n = n + 1
  PARTS[n] = struct.pack('>I4I4', senders, recipients)
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
-- vouchers within the memory, oldest first, this one last. Nothing is written when they vouched
-- within the slack, nor when `cap` others did (the domain is vetted) all within it: a domain
-- many people share is then vetted a slack less long than each new voucher would make it, and
-- is not written by every message that carries it.
local function vouch(key, sender, now, memory, memory_text, cap)
  local raw, n, horizon = redis.call('GET', key), 0, now - memory
  local slack = math.floor(memory / VOUCH_SLACK_PARTS)
  if raw then
    local mine, oldest, newest = entry_at(raw, sender, 1, #raw, 24), nil, nil
    for i = 1, #raw - 23, 24 do
      local at = struct.unpack('>d', raw, i + 16)
      if at > horizon then
        if i ~= mine then
          n = n + 1
          PARTS[n] = string.sub(raw, i, i + 23)
          if not oldest or at < oldest then oldest = at end
          if not newest or at > newest then newest = at end
        elseif at + slack > now then
          return
        end
      end
    end
    -- Not when one is in the future (a replica whose clock ran ahead): it would stay unreplaced.
    if n >= cap and oldest + slack > now and newest <= now then return end
  end
  n = n + 1
  PARTS[n] = sender .. struct.pack('>d', now)
  redis.call('SET', key, table.concat(PARTS, '', math.max(1, n - cap + 1), n), 'PX', memory_text)
end
