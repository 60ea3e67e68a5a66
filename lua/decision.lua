--[[ floodgate · decision.lua — the state of one sender.lua call and the functions that read
and write it: what the call will write to the sender's hash, their block and strikes, the
violations found, an act's windows. As a Redis Function these functions are built once per
library load; each call resets C (sender.lua, first lines after the HMGET) before any of them
runs. Built on ring.lua (`now`, `width`, rings) and campaign_check.lua; Rust prepends the
policy.
]]

-- Shared read-only tables, so that a call allocates none it does not fill: nothing (no
-- violations in shadow, an act with no windows) and a user with no block or strikes.
local NONE, NO_BLOCK = {}, {0, 0, 0}

-- The call's state, and (as its fields, so the per-call body reaches them all through one
-- upvalue: Lua 5.1 allows a function 60) the functions that read and write it.
local C = {}

-- Field writes to the state hash, sent in one HSET at the end.
function C.write(field, value)
  local writes = C.writes
  writes[#writes + 1] = field
  writes[#writes + 1] = value
end

-- Writes the state hash, and sets its TTL where due: when this call created it, and once per
-- sweep interval. A TTL is the longest window plus one sweep interval, so an entry written
-- before the next sweep still outlives its window. The hash also remembers blocks (which make
-- the next one longer) for the longest block.
function C.commit()
  local writes = C.writes
  if #writes > 0 then redis.call('HSET', C.state, unpack(writes)) end
  if C.refresh_all or #writes > 0 and not C.swept_at then
    local state_ttl = TTL + width(TTL)
    if C.blocks > 0 then state_ttl = math.max(state_ttl, C.blocked_until + LONGEST_BLOCK - now) end
    redis.call('PEXPIRE', C.state, state_ttl)
  end
end

function C.live_strikes(window)
  local block, times = C.block, {}
  for i = 4, #block do
    -- A strike from the future (a replica's clock ahead) counts as struck now.
    if block[i] > now - window then times[#times + 1] = math.min(block[i], now) end
  end
  return times
end

-- Records a strike (none during a block); returns the length of the block it started, or 0.
function C.add_strike()
  local limit, window = STRIKE_LIMIT, STRIKE_WINDOW
  if limit == 0 or C.in_block then return 0 end
  local times = C.live_strikes(window)
  times[#times + 1] = now
  if #times < limit then
    C.write(FIELD.block, cmsgpack.pack({C.blocked_until, C.block_length, C.blocks, unpack(times)}))
    return 0
  end
  local length = math.min(FIRST_BLOCK * math.pow(2, math.min(C.blocks, 40)), LONGEST_BLOCK)
  C.blocks, C.blocked_until, C.block_length = C.blocks + 1, now + length, length
  C.write(FIELD.block, cmsgpack.pack({C.blocked_until, C.block_length, C.blocks}))
  C.refresh_all = true
  return length
end

-- A block being served, as a violation's retry, limit and window (the block's number and length).
function C.block_violation()
  return C.blocked_until - now, math.max(C.blocks, 1), C.block_length
end

-- The first violation of an enforced rule rejects; those of rules in shadow are reported.
function C.note(rule, retry, limit, window)
  local violation = {CODE[rule], retry, limit, window}
  if ENFORCED[rule] then
    if not C.first then C.first = violation end
  else
    if C.shadow == NONE then C.shadow = {} end
    C.shadow[#C.shadow + 1] = violation
  end
end

-- A block being served answers before any rule (no strike is added during a block): the
-- rejection reply when blocks are enforced, else nil (a shadow block is only reported).
function C.served_block()
  if C.in_block then C.note('blocked', C.block_violation()) end
  if not C.first then return nil end
  C.commit()
  return packed({REJECTED, C.first[1], C.first[2], C.first[3], C.first[4], 0, 0})
end

-- The reply to a call an enforced rule rejected: the strike (which may start a block, then
-- the retry covers it), the writes, the violations in shadow.
function C.rejection()
  local started = C.add_strike()
  if started > 0 and ENFORCED.blocked then C.first[2] = math.max(C.first[2], started) end
  C.commit()
  return C.with_shadow({REJECTED, C.first[1], C.first[2], C.first[3], C.first[4], started})
end

function C.with_shadow(reply)
  reply[#reply + 1] = #C.shadow
  for _, v in ipairs(C.shadow) do
    for _, x in ipairs(v) do reply[#reply + 1] = x end
  end
  return packed(reply)
end

-- The campaign keys checked in one call, by position (kept per load and overwritten: no table
-- per call or per key): each key's copies string (its name and contents, false: none), what
-- campaign_peek answered, whether the key holds the copy back, and its page.
local PEEKED_KEY, PEEKED_RAW, PEEKED_STATUS, PEEKED_EXTRA, PEEKED_HELD, PEEKED_PAGE = {}, {}, {}, {}, {}, {}

-- Standalone Redis: the campaign keys' copies (KEYS[ARGV[13]..], each key's copies string, and
-- a domain key's vouchers after it: ARGV[19] says 'k' or 'd' per key), for a cold message or
-- act the sender's own rules admitted (a rejected message is not a copy, and records nothing
-- there). Every key is checked before any is recorded: one over the limit rejects, and then
-- none is. A vetted domain's key counts nothing; a key at its limit holds back a copy whose
-- key's copies all went to one recipient (ARGV[20]) or, a domain key, that brings a new page
-- (ARGV[21]): campaign_check.lua held_back. One GET per key, and one SET per key recorded.
function C.campaign_rule(KEYS, ARGV)
  local campaign_limit, first_campaign_key = CAMPAIGN_LIMIT, tonumber(ARGV[13])
  if first_campaign_key == 0 or campaign_limit == 0 or C.first then return end
  local over, k, recipient, kinds, pages = nil, first_campaign_key, ARGV[20], ARGV[19], ARGV[21] or ''
  local horizon, domains, peeked, sender = now - CAMPAIGN_WINDOW, 0, 0, ARGV[5]
  for j = 1, #kinds do
    local key = KEYS[k]
    k = k + 1
    local counted, page = true, ''
    if string.byte(kinds, j) == 100 then -- 'd': a domain key, then its vouchers
      counted = CONTACT_MEMORY > 0 and not vetted(KEYS[k], now, CONTACT_MEMORY, VET_SHARERS)
      k = k + 1
      domains = domains + 1
      page = page_of(string.sub(pages, 8 * domains - 7, 8 * domains))
    end
    if counted then
      local raw = copies_read(key)
      local status, retry, extra = campaign_peek(raw, now, campaign_limit, CAMPAIGN_WINDOW, sender, false)
      local held = false
      if status == FULL then
        held = held_back(raw, horizon, recipient, CAMPAIGN_RECIPIENTS, page, CAMPAIGN_PAGES)
        if not held and not over then over = retry end
      end
      peeked = peeked + 1
      PEEKED_KEY[peeked], PEEKED_RAW[peeked], PEEKED_STATUS[peeked], PEEKED_EXTRA[peeked] = key, raw, status, extra
      PEEKED_HELD[peeked], PEEKED_PAGE[peeked] = held, page
    end
  end
  if over then C.note('campaign', over, campaign_limit, CAMPAIGN_WINDOW) end
  if C.first then return end
  for j = 1, peeked do
    campaign_record(PEEKED_KEY[j], PEEKED_RAW[j], horizon, PEEKED_STATUS[j], PEEKED_EXTRA[j], campaign_limit,
      not PEEKED_HELD[j] and sender, recipient, CAMPAIGN_RECIPIENTS, PEEKED_PAGE[j], CAMPAIGN_PAGES, now,
      CAMPAIGN_WINDOW_TEXT)
  end
end

-- Standalone Redis: an established message the sender's rules admitted vouches for the domains
-- it links to (each domain key's vouchers, as in C.campaign_rule's KEYS).
function C.vouch_domains(KEYS, ARGV)
  local k = tonumber(ARGV[13])
  if k == 0 or CONTACT_MEMORY == 0 then return end
  local kinds = ARGV[19]
  for j = 1, #kinds do
    k = k + 1
    if string.byte(kinds, j) == 100 then -- 'd'
      vouch(KEYS[k], ARGV[5], now, CONTACT_MEMORY, CONTACT_MEMORY_TEXT, VET_SHARERS)
      k = k + 1
    end
  end
end

-- An act's windows ({limit, window, bucket width, field} each; none for "" and acts that are
-- off), their rings read from the act hash `key`.
function C.load_act_rings(key)
  local windows = C.act_windows
  C.act_rings = {}
  if #windows == 0 then return NONE end
  local names = {}
  for k, window in ipairs(windows) do names[k] = window[4] end
  local stored = redis.call('HMGET', key, unpack(names))
  for k = 1, #windows do C.act_rings[k] = load_ring(stored[k]) end
  return stored
end

function C.write_act_rings(key, all)
  local writes = {}
  for k, window in ipairs(C.act_windows) do
    if all or C.act_rings[k].rebased then
      writes[#writes + 1] = window[4]
      writes[#writes + 1] = dump_ring(C.act_rings[k])
    end
  end
  if #writes == 0 then return end
  redis.call('HSET', key, unpack(writes))
  redis.call('PEXPIRE', key, ACT_TTL)
end
