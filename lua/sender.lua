--[[ floodgate · sender.lua — everything about one sender, decided atomically on one hash slot;
on standalone Redis, the content's campaign rule too, so one call decides a whole message.
Rust prepends constants (src/store/redis/prelude.rs): the protocol both sides share — SUB, OP,
CODE (errCodes by rule name), ENFORCED (each rule's mode), FIELD (the hash's field prefixes, a
stored rule's by its name), the reply codes ADMITTED, REJECTED, RECIPIENT_NEW,
RECIPIENT_REFRESHED — and the policy: COUNTERS (the sender's stored rules, from the catalogue
src/catalogue.rs; see "Counters" below), RATES, CAMPAIGN_LIMIT, ...; SENDER_FIELDS, the fields
every call reads); then the modules reply.lua, memory.lua, campaign_check.lua, ring.lua,
buckets.lua and decision.lua (this call's state and the helpers that write it), then this file:
one function per op (OPS), and the counters' loops. The per-call body, lua/sender_call.lua, runs
the op ARGV[1] names: as a Redis Function, everything else is built once per library load
(src/store/redis/program.rs). Replies are packed by reply.lua and decoded in
src/store/redis/protocol.rs. A new configuration is a new program (another library and SHA),
so replicas with different configurations never mix them up.

KEYS
  KEYS[1]  <prefix>:{s:<sender>}     hash  W<window_ms> = bucket ring of a rate window,
                                           r<fingerprint> = bucket list of admitted copies,
                                           T<window_ms> = bucket ring of recipients' last times,
                                           t<recipient> = last admitted message to them (ms),
                                           A<window_ms> = bucket ring of group-wide mentions,
                                           b = msgpack {blocked until (ms), length of the current
                                               block (ms), blocks so far, strike times...},
                                           mt = when entries that left their window were last swept
  KEYS[2]  <prefix>:{s:<sender>}:m   hash  the sender's conversation memory (memory.lua), when
                                           ARGV[10] names a peer (check) or for status
  KEYS[3]  <prefix>:{s:<sender>}:p   hash  check, one-to-one: the sender's pending memory
                                           (strangers who wrote to them cold, memory.lua);
           <prefix>:{s:<sender>}:a   hash  for act, status and a strike releasing an act: the
                                           user's act windows, <act name><window_ms> = ring
  KEYS[4]  <prefix>:{s:<recipient>}:m      check, one-to-one: the recipient's memory, when
  KEYS[5]  <prefix>:{s:<recipient>}:p      ARGV[12] is set, and their pending memory
                                           (standalone Redis only: another slot on a cluster);
                                           status: KEYS[4] is the sender's pending memory
  KEYS[ARGV[13]..] <prefix>:{f:<key>}:c strings: the message's campaign keys' copies (standalone
                                       Redis only, where keys of several slots may meet), a
                                       domain key's followed by its vouchers: see campaign_check.lua

ARGV
  [1] op: OP.check | OP.act | OP.strike | OP.status | OP.unblock (anything else is an error)
  [2] now_ms (the caller's clock, decimal text)
  [3] fingerprint or "" (repeat)                 [4] recipient or "" (fanout)
  [5] sender (as campaign sets hold it)
  [6] strike: at_ms of the reservation to release, 0 = none
  [7] strike: the recipient's time before the reservation, 0 = the reservation added them
  [8] (TAGGED_ARG) the tags of the windowed rules the message counts in under the sender alone,
      one letter each (COUNTERS with cold = TAGGED; src/store/mod.rs `Counted`), "" = none
  [9] the repeat fingerprint of an established message ("" = none)
  [10] the peer's kind: "u" (one-to-one), "g" (group) or "" (none)   [11] the peer (8 bytes)
  [12] the sender as the recipient's memory names them, or "" (not recorded in this call)
  [13] the index in KEYS of the first campaign key, 0 = none
  [14] act, and a strike releasing one: the act's name in ACTS ("" = none: the block only)
  [15] act: a creation's initial members, weighed in ACTS.members (0 = none)
  [16] check, act, strike: the callback's replay id (8 bytes, "" = none; a strike's is apart
       from its check's)   [17] its replay window (ms)
  [18] the index in KEYS of <prefix>:{s:<sender>}:d, the sender's recent decisions (hash: replay
       id → struct '>d' until when, then the reply as it was sent), 0 = none
  [19] the campaign keys' kinds, one letter each: 'k' (KEYS: its copies) or 'd' (a domain: its
       copies, its vouchers); see decision.lua C.campaign_rule
  [20] the campaign recipient (8 bytes: the one-to-one recipient or the group), "" = unknown
  [21] the domain keys' pages, 8 bytes each in the order of [19]'s 'd's (zeros: unknown)

Replays: a check, act or strike whose replay id is in the hash KEYS[n], n = ARGV[18], within its window answers {REPLAYED,
the first reply...} and records nothing; otherwise its reply (an admission, or a rejection that
struck) is recorded there for ARGV[17] ms. At most REPLAY_CAP ids per sender: past it those
whose window ended go, and if none did, all of them. (On a cluster the campaign rule decides
after this call: the store meets a replayed admission with the campaign keys again, without a
strike, src/store/redis/mod.rs `replayed_campaign`.)

Returns (integers, packed into one string by reply.lua)
  check   admitted  {ADMITTED, at_ms, repeat_recorded, recipient_recorded, recipient_previous_ms, standing, n, shadow...}
                    (standing: ESTABLISHED + KNOWN_SENDER, each when it holds)
                    (recipient_recorded: 0 none, RECIPIENT_NEW, or RECIPIENT_REFRESHED)
          rejected  {REJECTED, code, retry_ms, limit, window_ms, started_block_ms, n, shadow...}
                    (a campaign rejection counts as a strike, like the sender's own rules)
          shadow: n violations of 4 integers {code, retry_ms, limit, window_ms}
  act     as check (an admitted act records nothing of a message: 0, 0, 0 there)
  strike  {blocked, retry_ms, blocks, block_length_ms, started_block_ms}
  status  {strikes, blocked_for_ms, blocks, established contacts (pending ones too), established groups, count of each rate window...,
           count of each act window... (ACT_NAMES order; KEYS[3] is the act hash)}
  unblock 1 if a block was lifted, else 0

Acts (README "Friend requests, groups and profiles": friend requests, groups created and joined;
a profile edit checks only the block): the user's block, then the act's windows (ACTS[name],
rings in a hash of their own, KEYS[3], which lives for the longest act window, ACT_TTL: a day of
friend requests must not keep a message sender's state alive a day) — a creation's initial
members also in ACTS.members, weighted by their number — then on standalone Redis the request
text's campaign keys unless the user is known. A rejection strikes the same record as messages,
unless ACT_STRIKES says the act strikes nobody (an applicant OpenIM does not check).

Conversations: a one-to-one message is established when the sender's memory holds the recipient
(they wrote within CONTACT_MEMORY), or their pending memory does (they wrote cold within
PENDING_MEMORY: this message answers them, and the sender's memory now keeps them); a group message when the sender's first post there is at
least SEASONING old and the last within CONTACT_MEMORY. An established message counts repeat
under ARGV[9] (its content to this peer), skips fanout and the campaign keys. A known sender
(KNOWN_WRITERS different people wrote to them within CONTACT_MEMORY) skips the campaign keys
too. A message the sender's rules admit is remembered (even when the campaign rule then rejects
it): in the recipient's memory when established, in their pending memory when cold (one-to-one),
or as a post in the group (the sender's own memory).

Counters: COUNTERS lists the sender's stored rules that are on, in catalogue order, each
{rule, kind, cold, established, windows, always, at, prefix}: `kind` is its primitive — WINDOW
(a ring per window, field <tag><window_ms>), PER_KEY (a bucket list per key, field <tag><key>,
one window) or DISTINCT (a ring of distinct keys by the bucket of their last time, field
<tag><window_ms>, and each key's last time, field <prefix><key>, one window); `cold` and
`established` the ARGV index of the key a message counts under (ALWAYS: under the sender alone;
TAGGED: under the sender alone when ARGV[TAGGED_ARG] holds its tag; 0: not at all), for a cold
and an established message; `always` when its fields are in SENDER_FIELDS from position `at`. One loop each checks, records, hands back and sweeps them: a
rule is not written out here.

Windows: the arithmetic of src/store/window.rs, as the rings of ring.lua. Repeat counts, mostly
one or two buckets, are msgpack arrays of (index, count) pairs, oldest first.

Cost: Redis runs this on the hot path of every checked message, so a call makes as few Redis
calls as it can (each costs about a microsecond from Lua), and leaves loops over data to C
(struct, cmsgpack) where it can: one HMGET reads the windows, strikes, block, this
fingerprint's copies and this recipient's last time; one HSET writes what changed. The hash
gets a TTL when created and once per sweep interval (a sub-bucket of the longest window), when
fields that left their window are also swept. Counts never depend on the sweep: they only
count entries inside the window.
]]

-- Call state kept beside C (decision.lua): the counters this call counts in, its replay record.
local OPS = {}
-- Tables a call fills are built here, once per load, and refilled by each call: a table built
-- per call, and grown entry by entry, cost more Redis time than the loops over the catalogue.
-- Per counter, its state in this call, with the catalogue's fields the loops read copied in
-- (one lookup each instead of two), reset by read_sender; every field holds a value from the
-- start and is never set to nil (a field that comes and goes is re-inserted, and sometimes the
-- table re-hashed). `rings`: one ring per window, refilled in place (ring.lua load_ring_into).
-- COUNTED, the entries this message counts in. (Numeric loops: ipairs is not there yet.)
local ENTRIES, COUNTED = {}, {}
for i = 1, #COUNTERS do
  local counter = COUNTERS[i]
  local rings = {}
  for k = 1, #counter.windows do rings[k] = load_ring(nil) end
  ENTRIES[i] = {counter = counter, rule = counter.rule, kind = counter.kind, windows = counter.windows,
    cold = counter.cold, established = counter.established, prefix = counter.prefix, fixed_at = counter.at or false,
    rings = rings, at = 0, loaded = false, checked = false, buckets = false, known = false, seen = 0}
end
-- The HMGET's fields (SENDER_FIELDS first, never overwritten) and the HSET's writes (C.write).
local FIELDS, WRITES, SENDER_COUNT = {}, {}, #SENDER_FIELDS
for i = 1, SENDER_COUNT do FIELDS[i] = SENDER_FIELDS[i] end
-- The key of a counter every message counts in (any text but '', which counts in none).
local ALWAYS_KEY = '*'

-- One HMGET for everything this call may read: SENDER_FIELDS (the block, the sweep time, the
-- counters always read), then the fields of each counter the message counts in. (Fields that are
-- missing cost the most in a listpack hash, a scan to its end: blocks and strikes share one
-- field for that reason.) Then the block, as the call's state C.
local function read_sender(state, ARGV, established)
  local fields, counted, n, last = FIELDS, COUNTED, 0, SENDER_COUNT
  for i = 1, #ENTRIES do
    local entry = ENTRIES[i]
    -- The key the message counts under ('': none), from the ARGV index its kind of message
    -- names (0: none; ALWAYS: the sender alone; TAGGED: the sender alone when ARGV[TAGGED_ARG],
    -- one letter per rule, holds this counter's tag).
    local arg, key = entry.cold, ''
    if established then arg = entry.established end
    if arg == ALWAYS then
      key = ALWAYS_KEY
    elseif arg == TAGGED then
      if string.find(ARGV[TAGGED_ARG], entry.prefix, 1, true) then key = ALWAYS_KEY end
    elseif arg ~= 0 then
      key = ARGV[arg]
    end
    if key ~= '' then
      local at = entry.fixed_at
      if not at then
        at = last + 1
        local kind = entry.kind
        if kind == PER_KEY then
          fields[at] = entry.prefix .. key
          last = at
        else
          local windows = entry.windows
          for k = 1, #windows do fields[at + k - 1] = windows[k][4] end
          last = at + #windows - 1
          if kind == DISTINCT then
            last = last + 1
            fields[last] = entry.prefix .. key
          end
        end
      end
      entry.at, entry.loaded, entry.checked, entry.buckets, entry.known = at, false, false, false, false
      n = n + 1
      counted[n] = entry
    end
  end
  for j = n + 1, #counted do counted[j] = nil end
  for j = #fields, last + 1, -1 do fields[j] = nil end
  for j = #WRITES, 1, -1 do WRITES[j] = nil end
  local stored = redis.call('HMGET', state, unpack(fields))
  local block = stored[1] and cmsgpack.unpack(stored[1]) or NO_BLOCK
  C.state, C.writes, C.swept_at, C.refresh_all = state, WRITES, stored[2], false
  C.fields, C.stored, C.counted = fields, stored, counted
  C.block = block
  C.blocked_until, C.block_length, C.blocks = block[1], block[2], block[3]
  C.shadow, C.first = NONE, nil
  C.act_windows, C.act_rings = ACTS[ARGV[14]] or NONE, nil
  -- A block set by a replica whose clock is far ahead ends at most its own length from now. The
  -- shorter end is written back: recomputed on every call, it would slide along with the clock.
  if C.blocked_until > now + C.block_length then
    C.blocked_until = now + C.block_length
    block[1] = C.blocked_until
    C.write(FIELD.block, cmsgpack.pack(block))
  end
  C.in_block = C.blocked_until > now
end

-- A counted counter's rings, as stored (a DISTINCT one has one).
local function load_rings(entry)
  local rings, stored, at, windows = entry.rings, C.stored, entry.at, entry.windows
  for k = 1, #windows do load_ring_into(rings[k], stored[at + k - 1]) end
  entry.loaded = true
  return rings
end

-- Each counter this message counts in, against its limits; the violations go to C.note.
local function check_counters()
  local counted, stored = C.counted, C.stored
  for j = 1, #counted do
    local entry = counted[j]
    local rule, kind = entry.rule, entry.kind
    -- Once an enforced rule has rejected the message, another enforced rule cannot change the
    -- answer: only rules in shadow are still worth their work.
    if not C.first or not ENFORCED[rule] then
      entry.checked = true
      local windows, at = entry.windows, entry.at
      if kind == WINDOW then
        local rings = entry.rings
        entry.loaded = true
        for k = 1, #windows do
          local window, ring = windows[k], load_ring_into(rings[k], stored[at + k - 1])
          local sum = advance(ring, window[3])
          if sum >= window[1] then C.note(rule, ring_retry(ring, window[3], window[1], sum), window[1], window[2]) end
        end
      elseif kind == PER_KEY then
        local window = windows[1]
        local buckets, sum = prune(load(stored[at]), window[2])
        entry.buckets = buckets
        if sum >= window[1] then C.note(rule, retry_after(buckets, window[2], window[1], sum), window[1], window[2]) end
      else
        -- DISTINCT: a key's last time is a field of the hash, and the ring counts keys by the
        -- bucket of their last time, so a known key moves within it and a new one adds one.
        local window, ring = windows[1], load_ring_into(entry.rings[1], stored[at])
        entry.loaded = true
        local distinct = advance(ring, window[3])
        local seen = tonumber(stored[at + 1])
        local known = seen ~= nil and counts(seen, window[3])
        entry.known = known
        if known then
          entry.seen = seen
        elseif distinct >= window[1] then
          C.note(rule, ring_retry(ring, window[3], window[1], distinct), window[1], window[2])
        end
      end
    end
  end
end

-- A rejected message records nothing, but rings moved back from a clock far ahead are kept
-- moved, whatever the answer.
local function keep_rebased()
  local counted = C.counted
  for j = 1, #counted do
    local entry = counted[j]
    if entry.loaded then
      local rings, windows = entry.rings, entry.windows
      for k = 1, #windows do
        if rings[k].rebased then C.write(windows[k][4], dump_ring(rings[k])) end
      end
    end
  end
end

-- Records an admitted message in each counter it counts in. Returns what the reply hands
-- back: whether a PER_KEY counter recorded it, and what a DISTINCT one did to its key (0, or
-- RECIPIENT_NEW or RECIPIENT_REFRESHED) with the key's time before.
local function record_counters(ARGV)
  local per_key, distinct, seen, counted, fields = 0, 0, 0, C.counted, C.fields
  for j = 1, #counted do
    local entry = counted[j]
    local kind, windows = entry.kind, entry.windows
    if not entry.checked then -- (never for an admitted message: every rule was worth checking)
    elseif kind == WINDOW then
      local rings = entry.rings
      for k = 1, #windows do
        ring_add(rings[k], windows[k][3], now, 1)
        C.write(windows[k][4], dump_ring(rings[k]))
      end
    elseif kind == PER_KEY then
      local buckets = entry.buckets
      add(buckets, now, windows[1][2])
      C.write(fields[entry.at], cmsgpack.pack(buckets))
      per_key = 1
    else
      local window, ring = windows[1], entry.rings[1]
      distinct = RECIPIENT_NEW
      if entry.known then
        ring_add(ring, window[3], entry.seen, -1)
        distinct, seen = RECIPIENT_REFRESHED, entry.seen
      end
      ring_add(ring, window[3], now, 1)
      C.write(window[4], dump_ring(ring))
      C.write(fields[entry.at + 1], ARGV[2])
    end
  end
  return per_key, distinct, seen
end

-- Hands back what an admitted check recorded at ARGV[6] for a message another rule then
-- rejected: in each counter the reservation counted in, where it is still stored.
local function release_counters(ARGV)
  local at, stored, fields, counted = tonumber(ARGV[6]), C.stored, C.fields, C.counted
  for j = 1, #counted do
    local entry = counted[j]
    local kind, windows, from = entry.kind, entry.windows, entry.at
    if kind == WINDOW then
      for k = 1, #windows do
        local window, field = windows[k], stored[from + k - 1]
        if field then
          local ring = load_ring(field)
          ring_add(ring, window[3], at, -1)
          C.write(window[4], dump_ring(ring))
        end
      end
    elseif kind == PER_KEY then
      if stored[from] then
        local buckets = load(stored[from])
        remove(buckets, at, windows[1][2])
        if #buckets == 0 then redis.call('HDEL', C.state, fields[from]) else C.write(fields[from], cmsgpack.pack(buckets)) end
      end
    elseif stored[from + 1] == ARGV[6] then
      -- DISTINCT: the key back to its time before the check (or gone, if the check added it),
      -- unless a later message has moved it on since.
      local window, ring, previous = windows[1], load_ring(stored[from]), tonumber(ARGV[7])
      ring_add(ring, window[3], at, -1)
      if previous > 0 then
        C.write(fields[from + 1], ARGV[7])
        if counts(previous, window[3]) then ring_add(ring, window[3], previous, 1) end
      else
        redis.call('HDEL', C.state, fields[from + 1])
      end
      C.write(window[4], dump_ring(ring))
    end
  end
end

-- Entries that left their window are swept, and TTLs refreshed, once per sweep interval (a
-- new sender has nothing to sweep: its first call only starts the clock).
local function sweep(ARGV)
  local state = C.state
  local due = C.swept_at and now - tonumber(C.swept_at) >= width(TTL)
  if not C.swept_at or due then
    C.write(FIELD.swept, ARGV[2])
    C.refresh_all = due
  end
  if not due then return end
  -- With no counter keeping a field per key, the hash holds only fields this call read, unless
  -- an older configuration or version left others: HLEN tells, without reading every field.
  if not KEYED then
    local present = 0
    for i = 1, #C.fields do if C.stored[i] then present = present + 1 end end
    if redis.call('HLEN', state) <= present then return end
  end
  -- Keys whose counts all left their window, and every field this script does not write
  -- (windows of an older configuration, an older version's layout). Once per sweep interval; a
  -- sender holds at most as many keys as the rate windows admitted.
  local kept = {[FIELD.block] = true, [FIELD.swept] = true}
  for _, field in ipairs(C.fields) do kept[field] = true end
  for _, counter in ipairs(COUNTERS) do
    if counter.kind ~= PER_KEY then
      for _, window in ipairs(counter.windows) do kept[window[4]] = true end
    end
  end
  local all, stale = redis.call('HGETALL', state), {}
  for i = 1, #all, 2 do
    local field = all[i]
    if not kept[field] then -- this call neither reads nor writes it
      local keyed, live = KEYED and #field == 9 and KEYED[string.sub(field, 1, 1)], false
      if keyed and keyed.kind == PER_KEY then
        local buckets = cmsgpack.unpack(all[i + 1])
        live = #buckets > 0 and buckets[#buckets - 1] >= math.floor(now / keyed.windows[1][3]) - SUB
      elseif keyed then
        live = counts(tonumber(all[i + 1]), keyed.windows[1][3])
      end
      if not live then stale[#stale + 1] = field end
    end
  end
  if #stale > 0 then redis.call('HDEL', state, unpack(stale)) end
end

-- A retried callback (check, act): its first decision, before anything is read or counted.
local function replayed(KEYS, ARGV)
  C.replay_key = nil
  local replay_id = ARGV[16]
  if replay_id and replay_id ~= '' and tonumber(ARGV[18]) > 0 then
    C.replay_key = KEYS[tonumber(ARGV[18])]
    local seen = redis.call('HGET', C.replay_key, replay_id)
    if seen and struct.unpack('>d', seen) > now then
      return struct.pack('>d', REPLAYED) .. string.sub(seen, 9)
    end
  end
  return nil
end

-- Records a check's or act's reply for retries of the same callback, and answers it.
local function decided(reply, ARGV)
  local replay_key, replay_id = C.replay_key, ARGV[16]
  if not replay_key then return reply end
  local window = tonumber(ARGV[17])
  redis.call('HSET', replay_key, replay_id, struct.pack('>d', now + window) .. reply)
  if redis.call('HLEN', replay_key) > REPLAY_CAP then
    local all, stale = redis.call('HGETALL', replay_key), {}
    for i = 1, #all, 2 do
      if struct.unpack('>d', all[i + 1]) <= now then stale[#stale + 1] = all[i] end
    end
    if #stale == 0 or #all / 2 - #stale > REPLAY_CAP then
      redis.call('DEL', replay_key)
      redis.call('HSET', replay_key, replay_id, struct.pack('>d', now + window) .. reply)
    else
      redis.call('HDEL', replay_key, unpack(stale))
    end
  end
  -- The window as the caller's text: a Lua number would be formatted with printf.
  redis.call('PEXPIRE', replay_key, ARGV[17])
  return reply
end

function OPS.status(KEYS, ARGV)
  read_sender(KEYS[1], ARGV, false)
  local memory_key = KEYS[2]
  local strikes = 0
  if STRIKE_LIMIT > 0 then strikes = #C.live_strikes(STRIKE_WINDOW) end
  local contacts, groups = 0, 0
  if CONTACT_MEMORY > 0 and memory_key then
    local all, counted = redis.call('HGETALL', memory_key), {}
    for i = 1, #all, 2 do
      local in_group = string.sub(all[i], 1, 1) == MEMORY_FIELD.group
      if all[i] ~= MEMORY_FIELD.writers and entry_established(in_group, all[i + 1], now, CONTACT_MEMORY, SEASONING) then
        if in_group then groups = groups + 1 else contacts, counted[all[i]] = contacts + 1, true end
      end
    end
    -- Strangers pending in KEYS[4] make messages to them established too; each person once.
    local pending = redis.call('HGETALL', KEYS[4])
    for i = 1, #pending, 2 do
      if not counted[pending[i]] and tonumber(pending[i + 1]) + PENDING_MEMORY > now then contacts = contacts + 1 end
    end
  end
  local reply = {strikes, math.max(C.blocked_until - now, 0), C.blocks, contacts, groups}
  -- The counts of the counters always read (the rate windows), in their order.
  for _, entry in ipairs(C.counted) do
    if entry.counter.always then
      local rings = load_rings(entry)
      for k, window in ipairs(entry.windows) do reply[#reply + 1] = advance(rings[k], window[3]) end
    end
  end
  -- Then each act's windows (KEYS[3]), in ACT_NAMES order.
  for _, name in ipairs(ACT_NAMES) do
    C.act_windows = ACTS[name]
    C.load_act_rings(KEYS[3])
    for k, window in ipairs(C.act_windows) do reply[#reply + 1] = advance(C.act_rings[k], window[3]) end
  end
  return packed(reply)
end

function OPS.unblock(KEYS, ARGV)
  read_sender(KEYS[1], ARGV, false)
  -- Strikes cleared; the count of blocks stays, so the next block is still longer.
  if C.stored[1] then redis.call('HSET', C.state, FIELD.block, cmsgpack.pack({0, C.block_length, C.blocks})) end
  if C.in_block then return 1 end
  return 0
end

function OPS.strike(KEYS, ARGV)
  -- A content rule's strike on a retried callback: the first strike's reply, nothing struck.
  local first = replayed(KEYS, ARGV)
  if first then return first end
  read_sender(KEYS[1], ARGV, false)
  local at = tonumber(ARGV[6])
  if at > 0 and ARGV[14] ~= '' then
    -- Hand back what an admitted act recorded, for an act the campaign rule then rejected
    -- (nothing, when its windows are off: never the message windows).
    local stored = C.load_act_rings(KEYS[3])
    for k, window in ipairs(C.act_windows) do
      if stored[k] then ring_add(C.act_rings[k], window[3], at, -1) end
    end
    if #C.act_windows > 0 then C.write_act_rings(KEYS[3], true) end
  elseif at > 0 then
    release_counters(ARGV)
  end
  if ARGV[14] ~= '' and not ACT_STRIKES[ARGV[14]] then
    -- An act that strikes nobody (an application) only hands its reservation back.
    C.commit()
    return packed({0, 0, 0, 0, 0})
  end
  if C.in_block then
    C.commit()
    local retry, number, length = C.block_violation()
    return packed({1, retry, number, length, 0})
  end
  local started = C.add_strike()
  C.commit()
  return decided(packed({0, 0, 0, 0, started}), ARGV)
end

function OPS.act(KEYS, ARGV)
  local first = replayed(KEYS, ARGV)
  if first then return first end
  read_sender(KEYS[1], ARGV, false)
  local served = C.served_block()
  if served then return served end
  -- A creation's initial members (ARGV[15]) weigh in the owner's members windows, read and
  -- written beside the act's own: each window has its weight (nil: 1 each).
  local members, weights = tonumber(ARGV[15]) or 0, nil
  if members > 0 and #ACTS.members > 0 then
    local windows = {unpack(C.act_windows)}
    weights = {}
    for k = 1, #windows do weights[k] = 1 end
    for _, window in ipairs(ACTS.members) do
      windows[#windows + 1] = window
      weights[#windows] = members
    end
    C.act_windows = windows
  end
  C.load_act_rings(KEYS[3])
  for k, window in ipairs(C.act_windows) do
    local ring, weight = C.act_rings[k], weights and weights[k] or 1
    local sum = advance(ring, window[3])
    if sum + weight > window[1] then
      -- Fits once the count drops below limit - weight + 1; never, for more than the limit.
      local room, retry = window[1] + 1 - weight, 0
      if room > 0 then retry = ring_retry(ring, window[3], room, sum) end
      C.note(ACT_RULE[ARGV[14]], retry, window[1], window[2])
    end
  end
  -- Whether the user is known (the campaign rule trusts them), read even when the campaign
  -- keys are decided elsewhere (a cluster): the caller skips them then.
  local known = false
  if CAMPAIGN_LIMIT > 0 and CONTACT_MEMORY > 0 and not C.first then
    known = is_known(redis.call('HGET', KEYS[2], MEMORY_FIELD.writers), now, CONTACT_MEMORY)
  end
  if not known then C.campaign_rule(KEYS, ARGV) end
  if C.first then
    C.write_act_rings(KEYS[3], false)
    if ARGV[14] ~= '' and not ACT_STRIKES[ARGV[14]] then
      -- An actor OpenIM does not check (an applicant): rejected, struck never.
      C.commit()
      return decided(C.with_shadow({REJECTED, C.first[1], C.first[2], C.first[3], C.first[4], 0}), ARGV)
    end
    return decided(C.rejection(), ARGV)
  end
  for k, window in ipairs(C.act_windows) do
    ring_add(C.act_rings[k], window[3], now, weights and weights[k] or 1)
  end
  C.write_act_rings(KEYS[3], true)
  C.commit()
  local standing = 0
  if known then standing = KNOWN_SENDER end
  return decided(C.with_shadow({ADMITTED, now, 0, 0, 0, standing}), ARGV)
end

-- The conversation, read from the sender's own memory before anything depends on it: whether
-- it is established, whether the sender is known, the peer's field and entry, and (when only
-- the sender's pending memory establishes it) when the stranger they answer wrote.
local function conversation(KEYS, ARGV)
  local peer_kind, memory_key = ARGV[10], KEYS[2]
  local established, known, peer_field, peer_entry, answering = false, false, nil, nil, nil
  if CONTACT_MEMORY > 0 and peer_kind ~= '' then
    if peer_kind == 'u' then peer_field = MEMORY_FIELD.contact .. ARGV[11] else peer_field = MEMORY_FIELD.group .. ARGV[11] end
    local memory = redis.call('HMGET', memory_key, peer_field, MEMORY_FIELD.writers)
    peer_entry, known = memory[1], is_known(memory[2], now, CONTACT_MEMORY)
    established = peer_entry and entry_established(peer_kind == 'g', peer_entry, now, CONTACT_MEMORY, SEASONING) or false
    if not established and peer_kind == 'u' then
      local pending = tonumber(redis.call('HGET', KEYS[3], peer_field))
      if pending and pending + PENDING_MEMORY > now then established, answering = true, pending end
    end
  end
  return established, known, peer_field, peer_entry, answering
end

-- The conversation is remembered once the sender's own rules admit the message (whatever the
-- campaign rule then says, as on a cluster, where the two are decided on different slots): in
-- the sender's memory as a post in the group, or in the recipient's that the sender wrote.
local function remember_conversation(KEYS, ARGV, established, peer_field, peer_entry, answering)
  if not peer_field then return end
  local memory_key = KEYS[2]
  if ARGV[10] == 'g' then
    local since = now
    if peer_entry then
      local first_post, last_post = struct.unpack('>dd', peer_entry)
      if last_post + CONTACT_MEMORY > now then since = first_post end
    end
    remember(memory_key, peer_field, struct.pack('>dd', since, now), CONTACT_MEMORY_TEXT)
    return
  end
  -- Answering a pending stranger: the sender's own memory keeps them from now on.
  if answering then remember_writer(memory_key, ARGV[11], string.format('%d', answering), answering, CONTACT_MEMORY_TEXT) end
  if ARGV[12] == '' then return end
  if established then
    remember_writer(KEYS[4], ARGV[12], ARGV[2], now, CONTACT_MEMORY_TEXT)
  else
    remember_pending(KEYS[5], ARGV[12], ARGV[2], PENDING_MEMORY)
  end
end

function OPS.check(KEYS, ARGV)
  local first = replayed(KEYS, ARGV)
  if first then return first end
  local established, known, peer_field, peer_entry, answering = conversation(KEYS, ARGV)
  read_sender(KEYS[1], ARGV, established)
  local served = C.served_block()
  if served then return served end
  check_counters()
  sweep(ARGV)
  local sender_admitted = not C.first
  -- Standalone Redis: the campaign keys' distinct senders, for a cold message the sender's own
  -- rules admitted (a rejected message is not a copy, and records nothing there). Every key is
  -- checked before any is recorded: one over the limit rejects, and then none is.
  if not established and not known then C.campaign_rule(KEYS, ARGV) end
  if C.first then
    keep_rebased()
    local reply = C.rejection()
    if sender_admitted then remember_conversation(KEYS, ARGV, established, peer_field, peer_entry, answering) end
    return decided(reply, ARGV)
  end
  -- Admitted: record the message's quota.
  local per_key, distinct, seen = record_counters(ARGV)
  C.commit()
  remember_conversation(KEYS, ARGV, established, peer_field, peer_entry, answering)
  if established then C.vouch_domains(KEYS, ARGV) end
  local standing = 0
  if established then standing = standing + ESTABLISHED end
  if known then standing = standing + KNOWN_SENDER end
  return decided(C.with_shadow({ADMITTED, now, per_key, distinct, seen, standing}), ARGV)
end
