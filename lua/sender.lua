--[[ floodgate · sender.lua — everything about one sender, decided atomically on one hash slot.

KEYS (all share the hash tag {s:<sender>}, so the script runs on one Redis Cluster slot)
  KEYS[1]  <prefix>:{s:<sender>}     hash  w<window_ms> = bucket list of a rate window,
                                           st = strike times "t,t,...", bu = blocked until (ms),
                                           bl = length of the current block (ms), bn = blocks so far
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
so no window of length W ever holds more than the limit. A bucket list is "index:count,..."
oldest first, at most SUB+1 pairs whatever the limit.
]]

local SUB = 10
local op, now, modes = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local state, repeats, repeat_index, recipients = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local function pair(text)
  local a, b = string.match(text, '^(%d+):(%d+)$')
  return tonumber(a), tonumber(b)
end

local function width(window) return math.max(1, math.ceil(window / SUB)) end

local function load(text)
  local buckets = {}
  if text then
    for index, count in string.gmatch(text, '(%d+):(%d+)') do
      buckets[#buckets + 1] = {tonumber(index), tonumber(count)}
    end
  end
  return buckets
end

local function dump(buckets)
  local parts = {}
  for i, b in ipairs(buckets) do parts[i] = string.format('%d:%d', b[1], b[2]) end
  return table.concat(parts, ',')
end

-- Keeps the buckets that overlap the window; returns them and their sum.
local function prune(buckets, window)
  local oldest = math.floor(now / width(window)) - SUB
  local kept, sum = {}, 0
  for _, b in ipairs(buckets) do
    if b[1] >= oldest then kept[#kept + 1] = b; sum = sum + b[2] end
  end
  return kept, sum
end

-- Milliseconds until the sum drops below limit: when enough of the oldest buckets leave.
local function retry_after(buckets, window, limit, sum)
  for _, b in ipairs(buckets) do
    sum = sum - b[2]
    if sum < limit then return (b[1] + SUB + 1) * width(window) - now end
  end
  return 0
end

local function add(buckets, at, window, n)
  local index = math.floor(at / width(window))
  local last = buckets[#buckets]
  if last and last[1] == index then last[2] = last[2] + n else buckets[#buckets + 1] = {index, n} end
end

local function remove(buckets, at, window, n)
  local index = math.floor(at / width(window))
  for i, b in ipairs(buckets) do
    if b[1] == index then
      b[2] = b[2] - n
      if b[2] <= 0 then table.remove(buckets, i) end
      return
    end
  end
end

local function rate_windows()
  local windows = {}
  for limit, window in string.gmatch(ARGV[8], '(%d+):(%d+)') do
    windows[#windows + 1] = {tonumber(limit), tonumber(window), 'w' .. window}
  end
  return windows
end

local windows = rate_windows()
local fields = {'bu', 'bl', 'bn', 'st'}
for _, w in ipairs(windows) do fields[#fields + 1] = w[3] end
local stored = redis.call('HMGET', state, unpack(fields))
local blocked_until, block_length, blocks = tonumber(stored[1] or 0), tonumber(stored[2] or 0), tonumber(stored[3] or 0)
local in_block = blocked_until > now

local function enforced(i) return string.sub(modes, i, i) == 'E' end

local function live_strikes(window)
  local times = {}
  for t in string.gmatch(stored[4] or '', '%d+') do
    if tonumber(t) > now - window then times[#times + 1] = t end
  end
  return times
end

-- Keys live while anything in them counts; the state hash also remembers blocks (which make
-- the next one longer) for the longest block after the current one ends.
local function refresh_ttl()
  local ttl = tonumber(ARGV[7])
  local state_ttl = ttl
  if blocks > 0 then state_ttl = math.max(ttl, blocked_until + tonumber(ARGV[6]) - now) end
  redis.call('PEXPIRE', state, state_ttl)
  redis.call('PEXPIRE', repeats, ttl)
  redis.call('PEXPIRE', repeat_index, ttl)
  redis.call('PEXPIRE', recipients, ttl)
end

-- Records a strike (none during a block); returns the length of the block it started, or 0.
local function add_strike()
  if ARGV[4] == '' or in_block then return 0 end
  local limit, window = pair(ARGV[4])
  local times = live_strikes(window)
  times[#times + 1] = string.format('%d', now)
  if #times < limit then
    redis.call('HSET', state, 'st', table.concat(times, ','))
    return 0
  end
  local length = math.min(tonumber(ARGV[5]) * math.pow(2, math.min(blocks, 40)), tonumber(ARGV[6]))
  blocks = blocks + 1
  blocked_until = now + length
  redis.call('HSET', state, 'bu', string.format('%d', blocked_until), 'bl', string.format('%d', length),
    'bn', blocks, 'st', '')
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
    local _, sum = prune(load(stored[4 + i]), w[2])
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
  if at > 0 then
    -- Hand back what the sender check admitted for a message rejected by another rule.
    for i, w in ipairs(windows) do
      local buckets = load(stored[4 + i])
      remove(buckets, at, w[2], 1)
      redis.call('HSET', state, w[3], dump(buckets))
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
    local v = block_violation()
    return {1, v[2], v[3], v[4], 0}
  end
  local started = add_strike()
  refresh_ttl()
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
  local reply = {1, first[1], first[2], first[3], first[4], 0, 0}
  return reply
end

local counted = {}
for i, w in ipairs(windows) do
  local buckets, sum = prune(load(stored[4 + i]), w[2])
  counted[i] = buckets
  if sum >= w[1] then note(1, {5002, retry_after(buckets, w[2], w[1], sum), w[1], w[2]}) end
end

local fingerprint, repeat_buckets, repeat_window = ARGV[10], nil, 0
if ARGV[9] ~= '' and fingerprint ~= '' then
  local limit, window = pair(ARGV[9])
  repeat_window = window
  -- Forget a few fingerprints no longer in the window: bounded work per call.
  local stale = redis.call('ZRANGEBYSCORE', repeat_index, '-inf', now - window - width(window), 'LIMIT', 0, 16)
  if #stale > 0 then
    redis.call('HDEL', repeats, unpack(stale))
    redis.call('ZREM', repeat_index, unpack(stale))
  end
  local sum
  repeat_buckets, sum = prune(load(redis.call('HGET', repeats, fingerprint) or nil), window)
  if sum >= limit then note(2, {5003, retry_after(repeat_buckets, window, limit, sum), limit, window}) end
end

local recipient, recipient_known, fanout_limit = ARGV[12], true, 0
if ARGV[11] ~= '' and recipient ~= '' then
  local limit, window = pair(ARGV[11])
  fanout_limit = limit
  redis.call('ZREMRANGEBYSCORE', recipients, '-inf', now - window)
  recipient_known = redis.call('ZSCORE', recipients, recipient) ~= false
  if not recipient_known then
    local distinct = redis.call('ZCARD', recipients)
    if distinct >= limit then
      local oldest = redis.call('ZRANGE', recipients, 0, 0, 'WITHSCORES')
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
  refresh_ttl()
  return with_shadow({1, first[1], first[2], first[3], first[4], started})
end

-- Admitted: record the message's quota.
for i, w in ipairs(windows) do
  add(counted[i], now, w[2], 1)
  redis.call('HSET', state, w[3], dump(counted[i]))
end
local repeat_recorded = 0
if repeat_buckets then
  add(repeat_buckets, now, repeat_window, 1)
  redis.call('HSET', repeats, fingerprint, dump(repeat_buckets))
  redis.call('ZADD', repeat_index, now, fingerprint)
  repeat_recorded = 1
end
local recipient_is_new = 0
if ARGV[11] ~= '' and recipient ~= '' then
  redis.call('ZADD', recipients, now, recipient)
  if not recipient_known then
    recipient_is_new = 1
    -- Over the limit only in shadow: keep the most recent `limit` recipients.
    local extra = redis.call('ZCARD', recipients) - fanout_limit
    if extra > 0 then redis.call('ZPOPMIN', recipients, extra) end
  end
end
refresh_ttl()
return with_shadow({0, now, repeat_recorded, recipient_is_new})
