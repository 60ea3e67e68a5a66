--[[ floodgate · sender.lua — everything about one sender, decided atomically on one hash slot.

KEYS (all share the hash tag {s:<sender>}, so the script runs on one Redis Cluster slot)
  KEYS[1]  <prefix>:{s:<sender>}     hash  w<window_ms> = bucket list of a rate window,
                                           st = strike times "t,t,...", bu = blocked until (ms),
                                           bl = length of the current block (ms), bn = blocks so far,
                                           mt = when stale repeat and recipient entries were last swept
  KEYS[2]  <prefix>:{s:<sender>}:r   hash  <fingerprint> = bucket list of admitted copies
  KEYS[3]  <prefix>:{s:<sender>}:ri  zset  <fingerprint> scored by last admission (to forget them)
  KEYS[4]  <prefix>:{s:<sender>}:to  zset  <recipient> scored by last admitted message to them

ARGV
  [1] op: check | strike | status | unblock      [2] now_ms (the caller's clock)
  [3] modes: 4 characters E (enforce) or S (shadow) for rate, repeat, fanout, block
  [4] strikes "limit:window_ms" or ""            [5] first block ms   [6] longest block ms
  [7] ttl_ms: how long activity keys must live (longest window + one sub-bucket)
  [8] rate windows "limit:window_ms,..." or ""
  [9] repeat "limit:window_ms" or ""             [10] fingerprint or ""
  [11] fanout "limit:window_ms" or ""            [12] recipient or ""
  [13] strike: the errCode of the violation      [14] strike: at_ms of the reservation to release, 0 = none

Returns (integers)
  check   admitted  {0, at_ms, repeat_recorded, recipient_is_new, n, shadow...}
          rejected  {1, code, retry_ms, limit, window_ms, started_block_ms, n, shadow...}
          shadow: n violations of 4 integers {code, retry_ms, limit, window_ms}
  strike  {blocked, retry_ms, blocks, block_length_ms, started_block_ms}
  status  {strikes, blocked_for_ms, blocks, count of each rate window...}
  unblock 1 if a block was lifted, else 0

Windows: the arithmetic of src/store/window.rs. A window W is cut into SUB buckets of width
ceil(W/SUB); its count sums every bucket that overlaps [now-W, now], the oldest one in full,
so no window of length W ever holds more than the limit. A bucket list is a msgpack array of
(index, count) pairs, oldest first, at most SUB+1 pairs whatever the limit.

Cost: Redis runs one script per decision on a hot path, so the script reads the state hash
once (HMGET), writes it once (HSET), refreshes only the TTLs of keys it wrote, and sweeps
entries that left their window at most once per sweep interval (a sub-bucket of the longest
window) instead of on every call. Counts never depend on the sweep: they only count entries
inside the window.
]]

local SUB = 10
local op, now, modes = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local state, repeats, repeat_index, recipients = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl = tonumber(ARGV[7])

local function pair(text)
  local a, b = string.match(text, '^(%d+):(%d+)$')
  return tonumber(a), tonumber(b)
end

local function width(window) return math.max(1, math.ceil(window / SUB)) end

-- A bucket list is a msgpack array {index, count, index, count, ...}, oldest first: packed and
-- unpacked by Redis's C msgpack library, which costs far less than parsing text in Lua.
local function load(packed)
  if packed then return cmsgpack.unpack(packed) end
  return {}
end

local function dump(buckets) return cmsgpack.pack(buckets) end

-- Keeps the buckets that overlap the window; returns them and their sum.
local function prune(buckets, window)
  local oldest = math.floor(now / width(window)) - SUB
  local kept, n, sum = {}, 0, 0
  for i = 1, #buckets, 2 do
    if buckets[i] >= oldest then
      kept[n + 1], kept[n + 2] = buckets[i], buckets[i + 1]
      n = n + 2
      sum = sum + buckets[i + 1]
    end
  end
  return kept, sum
end

-- Milliseconds until the sum drops below limit: when enough of the oldest buckets leave.
local function retry_after(buckets, window, limit, sum)
  for i = 1, #buckets, 2 do
    sum = sum - buckets[i + 1]
    if sum < limit then return (buckets[i] + SUB + 1) * width(window) - now end
  end
  return 0
end

local function add(buckets, at, window, n)
  local index = math.floor(at / width(window))
  local len = #buckets
  if len > 0 and buckets[len - 1] == index then
    buckets[len] = buckets[len] + n
  else
    buckets[len + 1], buckets[len + 2] = index, n
  end
end

local function remove(buckets, at, window, n)
  local index = math.floor(at / width(window))
  for i = 1, #buckets, 2 do
    if buckets[i] == index then
      buckets[i + 1] = buckets[i + 1] - n
      if buckets[i + 1] <= 0 then
        table.remove(buckets, i + 1)
        table.remove(buckets, i)
      end
      return
    end
  end
end

local windows = {}
for limit, window in string.gmatch(ARGV[8], '(%d+):(%d+)') do
  windows[#windows + 1] = {tonumber(limit), tonumber(window), 'w' .. window}
end
local fields = {'bu', 'bl', 'bn', 'st', 'mt'}
for _, w in ipairs(windows) do fields[#fields + 1] = w[3] end
local stored = redis.call('HMGET', state, unpack(fields))
local blocked_until, block_length, blocks = tonumber(stored[1] or 0), tonumber(stored[2] or 0), tonumber(stored[3] or 0)
local in_block = blocked_until > now
local FIRST_WINDOW = 5 -- stored[5 + i] is rate window i

-- Field writes to the state hash, sent in one HSET at the end.
local writes = {}
local function write(field, value) writes[#writes + 1] = field; writes[#writes + 1] = value end

-- Writes the state hash, and sets TTLs where they are due: on keys this call created entries
-- in, and on every key once per sweep interval. A TTL is the longest window plus one sweep
-- interval, so a key written just after a refresh still outlives its last entry's window. The
-- state hash also remembers blocks (which make the next one longer) for the longest block.
local refresh_all = false
local function commit(touched)
  if #writes > 0 then redis.call('HSET', state, unpack(writes)) end
  local key_ttl = ttl + width(ttl)
  if refresh_all or #writes > 0 and stored[5] == false then
    local state_ttl = key_ttl
    if blocks > 0 then state_ttl = math.max(key_ttl, blocked_until + tonumber(ARGV[6]) - now) end
    redis.call('PEXPIRE', state, state_ttl)
  end
  for _, key in ipairs(touched) do redis.call('PEXPIRE', key, key_ttl) end
end

local function enforced(i) return string.sub(modes, i, i) == 'E' end

local function live_strikes(window)
  local times = {}
  for t in string.gmatch(stored[4] or '', '%d+') do
    if tonumber(t) > now - window then times[#times + 1] = t end
  end
  return times
end

-- Records a strike (none during a block); returns the length of the block it started, or 0.
local function add_strike()
  if ARGV[4] == '' or in_block then return 0 end
  local limit, window = pair(ARGV[4])
  local times = live_strikes(window)
  times[#times + 1] = string.format('%d', now)
  if #times < limit then
    write('st', table.concat(times, ','))
    return 0
  end
  local length = math.min(tonumber(ARGV[5]) * math.pow(2, math.min(blocks, 40)), tonumber(ARGV[6]))
  blocks = blocks + 1
  blocked_until = now + length
  write('bu', string.format('%d', blocked_until))
  write('bl', string.format('%d', length))
  write('bn', blocks)
  write('st', '')
  refresh_all = true
  return length
end

local function block_violation()
  return {5006, blocked_until - now, math.max(blocks, 1), block_length}
end

if op == 'status' then
  local strikes = 0
  if ARGV[4] ~= '' then
    local _, window = pair(ARGV[4])
    strikes = #live_strikes(window)
  end
  local reply = {strikes, math.max(blocked_until - now, 0), blocks}
  for i, w in ipairs(windows) do
    local _, sum = prune(load(stored[FIRST_WINDOW + i]), w[2])
    reply[#reply + 1] = sum
  end
  return reply
end

if op == 'unblock' then
  redis.call('HDEL', state, 'bu', 'st')
  if in_block then return 1 end
  return 0
end

if op == 'strike' then
  local at = tonumber(ARGV[14])
  local touched = {}
  if at > 0 then
    -- Hand back what the sender check admitted for a message rejected by another rule.
    for i, w in ipairs(windows) do
      local buckets = load(stored[FIRST_WINDOW + i])
      remove(buckets, at, w[2], 1)
      write(w[3], dump(buckets))
    end
    if ARGV[9] ~= '' and ARGV[10] ~= '' then
      local _, window = pair(ARGV[9])
      local buckets = load(redis.call('HGET', repeats, ARGV[10]) or nil)
      remove(buckets, at, window, 1)
      if #buckets == 0 then redis.call('HDEL', repeats, ARGV[10]) else redis.call('HSET', repeats, ARGV[10], dump(buckets)) end
    end
    if ARGV[12] ~= '' then redis.call('ZREM', recipients, ARGV[12]) end
  end
  if in_block then
    commit(touched)
    local v = block_violation()
    return {1, v[2], v[3], v[4], 0}
  end
  local started = add_strike()
  commit(touched)
  return {0, 0, 0, 0, started}
end

-- op == 'check'
local shadow, first = {}, nil
local function note(mode_index, violation)
  if enforced(mode_index) then
    if not first then first = violation end
  else
    shadow[#shadow + 1] = violation
  end
end

if in_block then note(4, block_violation()) end
if first then
  return {1, first[1], first[2], first[3], first[4], 0, 0}
end

local counted = {}
for i, w in ipairs(windows) do
  local buckets, sum = prune(load(stored[FIRST_WINDOW + i]), w[2])
  counted[i] = buckets
  if sum >= w[1] then note(1, {5002, retry_after(buckets, w[2], w[1], sum), w[1], w[2]}) end
end

-- Entries that left their window are swept, and TTLs refreshed, once per sweep interval (a
-- new sender has nothing to sweep: its first call only starts the clock).
local sweep = stored[5] ~= false and now - tonumber(stored[5]) >= width(ttl)
if sweep or stored[5] == false then
  write('mt', string.format('%d', now))
  refresh_all = sweep
end

-- Once an enforced rule has rejected the message, another enforced rule cannot change the
-- answer: only rules in shadow are still worth their Redis calls.
local function worth_checking(mode_index) return not first or not enforced(mode_index) end

local fingerprint, repeat_buckets, repeat_window = ARGV[10], nil, 0
if ARGV[9] ~= '' and fingerprint ~= '' and worth_checking(2) then
  local limit, window = pair(ARGV[9])
  repeat_window = window
  if sweep then
    local stale = redis.call('ZRANGEBYSCORE', repeat_index, '-inf', now - window - width(window), 'LIMIT', 0, 64)
    if #stale > 0 then
      redis.call('HDEL', repeats, unpack(stale))
      redis.call('ZREM', repeat_index, unpack(stale))
    end
  end
  local sum
  repeat_buckets, sum = prune(load(redis.call('HGET', repeats, fingerprint) or nil), window)
  if sum >= limit then note(2, {5003, retry_after(repeat_buckets, window, limit, sum), limit, window}) end
end

local recipient, recipient_known, fanout_limit, fanout_window = ARGV[12], true, 0, 0
if ARGV[11] ~= '' and recipient ~= '' and worth_checking(3) then
  local limit, window = pair(ARGV[11])
  fanout_limit, fanout_window = limit, window
  local horizon = now - window
  if sweep then redis.call('ZREMRANGEBYSCORE', recipients, '-inf', horizon) end
  local seen = redis.call('ZSCORE', recipients, recipient)
  recipient_known = seen ~= false and tonumber(seen) > horizon
  if not recipient_known then
    local distinct = redis.call('ZCOUNT', recipients, '(' .. string.format('%d', horizon), '+inf')
    if distinct >= limit then
      local oldest = redis.call('ZRANGEBYSCORE', recipients, '(' .. string.format('%d', horizon), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      note(3, {5005, tonumber(oldest[2]) + window - now, limit, window})
    end
  end
end

local function with_shadow(reply)
  reply[#reply + 1] = #shadow
  for _, v in ipairs(shadow) do
    for _, x in ipairs(v) do reply[#reply + 1] = x end
  end
  return reply
end

if first then
  local started = add_strike()
  if started > 0 and enforced(4) then first[2] = math.max(first[2], started) end
  commit({})
  return with_shadow({1, first[1], first[2], first[3], first[4], started})
end

-- Admitted: record the message's quota.
local touched = {}
for i, w in ipairs(windows) do
  add(counted[i], now, w[2], 1)
  write(w[3], dump(counted[i]))
end
local repeat_recorded = 0
if repeat_buckets then
  add(repeat_buckets, now, repeat_window, 1)
  local new_entry = redis.call('HSET', repeats, fingerprint, dump(repeat_buckets)) == 1
  redis.call('ZADD', repeat_index, now, fingerprint)
  if new_entry or refresh_all then
    touched[#touched + 1] = repeats
    touched[#touched + 1] = repeat_index
  end
  repeat_recorded = 1
end
local recipient_is_new = 0
if ARGV[11] ~= '' and recipient ~= '' then
  local new_entry = redis.call('ZADD', recipients, now, recipient) == 1
  if new_entry or refresh_all then touched[#touched + 1] = recipients end
  if not recipient_known then
    recipient_is_new = 1
    -- Over the limit only in shadow (enforced, a new recipient is only admitted under it):
    -- keep the most recent `limit` recipients in the window.
    if not enforced(3) then
      local extra = redis.call('ZCOUNT', recipients, '(' .. string.format('%d', now - fanout_window), '+inf') - fanout_limit
      if extra > 0 then redis.call('ZPOPMIN', recipients, extra) end
    end
  end
end
commit(touched)
return with_shadow({0, now, repeat_recorded, recipient_is_new})
