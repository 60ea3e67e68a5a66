--[[ floodgate · sender.lua — everything about one sender, decided atomically on one hash slot;
on standalone Redis, the content's campaign rule too, so one call decides a whole message.
Rust prepends constants (src/store/redis/prelude.rs): the protocol both sides share — SUB, OP,
CODE (errCodes by rule), ENFORCED (each rule's mode), FIELD (the hash's field prefixes), the
reply codes ADMITTED, REJECTED, RECIPIENT_NEW, RECIPIENT_REFRESHED — and the policy (RATES,
REPEAT_LIMIT, ...; a limit of 0 turns its rule off; SENDER_FIELDS, the fields every check
reads); then the modules reply.lua, memory.lua, campaign_check.lua, ring.lua, buckets.lua and
decision.lua (this call's state and the helpers that write it). This file is the per-call
body: as a Redis Function, the constants and modules are built once per library load
(src/store/redis/program.rs). Replies are packed by reply.lua and decoded in
src/store/redis/protocol.rs. A new configuration is a new program (another library and SHA),
so replicas with different configurations never mix them up.

KEYS
  KEYS[1]  <prefix>:{s:<sender>}     hash  W<window_ms> = bucket ring of a rate window,
                                           r<fingerprint> = bucket list of admitted copies,
                                           T<window_ms> = bucket ring of recipients' last times,
                                           t<recipient> = last admitted message to them (ms),
                                           A<window_ms> = bucket ring of AtAllTag uses,
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
  KEYS[ARGV[13]..] <prefix>:{f:<key>} zsets: the message's campaign keys (standalone Redis
                                       only, where keys of several slots may meet): see
                                       campaign_check.lua

ARGV
  [1] op: OP.check | OP.act | OP.strike | OP.status | OP.unblock (anything else is an error)
  [2] now_ms (the caller's clock, decimal text)
  [3] fingerprint or ""                          [4] recipient or ""
  [5] sender (as campaign sets hold it)
  [6] strike: at_ms of the reservation to release, 0 = none
  [7] strike: the recipient's time before the reservation, 0 = the reservation added them
  [8] "1" when the message @-mentions the whole group (AtAllTag), else ""
  [9] the repeat fingerprint of an established message ("" = none)
  [10] the peer's kind: "u" (one-to-one), "g" (group) or "" (none)   [11] the peer (8 bytes)
  [12] the sender as the recipient's memory names them, or "" (not recorded in this call)
  [13] the index in KEYS of the first campaign key, 0 = none
  [14] act, and a strike releasing one: the act's name in ACTS ("" = none: the block only)
  [15] act: a creation's initial members, weighed in ACTS.members (0 = none)
  [16] check, act: the callback's replay id (8 bytes, "" = none)   [17] its replay window (ms)
  [18] the index in KEYS of <prefix>:{s:<sender>}:d, the sender's recent decisions (hash: replay
       id → struct '>d' until when, then the reply as it was sent), 0 = none
  [19] the campaign keys' kinds, one letter each: 'k' (KEYS: the set, its recipients) or 'd' (a
       domain: the set, its recipients, its vouchers); see decision.lua C.campaign_rule
  [20] the campaign recipient (8 bytes: the one-to-one recipient or the group), "" = unknown

Replays: a check or act whose replay id is in the hash KEYS[n], n = ARGV[18], within its window answers {REPLAYED,
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

now = tonumber(ARGV[2])

local op = ARGV[1]

-- A retried callback: its first decision, before anything is read or counted.
local replay_id, replay_key = ARGV[16], nil
if (op == OP.check or op == OP.act) and replay_id and replay_id ~= '' and tonumber(ARGV[18]) > 0 then
  replay_key = KEYS[tonumber(ARGV[18])]
  local seen = redis.call('HGET', replay_key, replay_id)
  if seen and struct.unpack('>d', seen) > now then
    return struct.pack('>d', REPLAYED) .. string.sub(seen, 9)
  end
end

-- Records a check's or act's reply for retries of the same callback, and answers it.
local function decided(reply)
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
  redis.call('PEXPIRE', replay_key, window)
  return reply
end
local state = KEYS[1]
local fingerprint, recipient = ARGV[3], ARGV[4]

-- The conversation, read from the sender's own memory before anything depends on it.
local peer_kind, memory_key = ARGV[10], KEYS[2]
local established, known, peer_field, peer_entry = false, false, nil, nil
-- When only the sender's pending memory establishes it: when the stranger they answer wrote.
local answering = nil
if op == OP.check and CONTACT_MEMORY > 0 and peer_kind ~= '' then
  if peer_kind == 'u' then peer_field = MEMORY_FIELD.contact .. ARGV[11] else peer_field = MEMORY_FIELD.group .. ARGV[11] end
  local memory = redis.call('HMGET', memory_key, peer_field, MEMORY_FIELD.writers)
  peer_entry, known = memory[1], is_known(memory[2], now, CONTACT_MEMORY)
  established = peer_entry and entry_established(peer_kind == 'g', peer_entry, now, CONTACT_MEMORY, SEASONING) or false
  if not established and peer_kind == 'u' then
    local pending = tonumber(redis.call('HGET', KEYS[3], peer_field))
    if pending and pending + PENDING_MEMORY > now then established, answering = true, pending end
  end
  if established then fingerprint, recipient = ARGV[9], '' end
end

local repeat_limit, repeat_window = REPEAT_LIMIT, REPEAT_WINDOW
local fanout_limit, fanout_window = FANOUT_LIMIT, FANOUT_WINDOW
local checks_repeat = repeat_limit > 0 and fingerprint ~= ''
local checks_fanout = fanout_limit > 0 and recipient ~= ''
local checks_at_all = AT_ALL_LIMIT > 0 and ARGV[8] == '1'

-- The rate windows (RATES: {limit, window, bucket width, field} each) have a ring each, and so
-- does fanout (the recipients' last-write times, bucketed: distinct recipients count like
-- messages in a window).
local rates, rings = RATES, {}

-- One HMGET for everything this call may read. (Fields that are missing cost the most in a
-- listpack hash, a scan to its end: blocks and strikes share one field for that reason.)
-- SENDER_FIELDS (the prelude): the block, the sweep time and the rate windows, always read.
local fields = SENDER_FIELDS
if checks_repeat or checks_fanout or checks_at_all then fields = {unpack(SENDER_FIELDS)} end
local repeat_field = FIELD.repeats .. fingerprint
if checks_repeat then fields[#fields + 1] = repeat_field end
local recipient_field, fanout_at = FIELD.recipient .. recipient, #fields + 1
if checks_fanout then
  fields[fanout_at], fields[fanout_at + 1] = FANOUT_FIELD, recipient_field
end
local at_all_at = #fields + 1
if checks_at_all then fields[at_all_at] = AT_ALL_FIELD end
local stored = redis.call('HMGET', state, unpack(fields))
local stored_repeat = checks_repeat and stored[fanout_at - 1]
local swept_at = stored[2]
local block = stored[1] and cmsgpack.unpack(stored[1]) or NO_BLOCK
for k = 1, #rates do rings[k] = load_ring(stored[2 + k]) end

-- This call's state (decision.lua's C): what it writes, the block and strikes, the violations.
C.state, C.writes, C.swept_at, C.refresh_all = state, {}, swept_at, false
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

if op == OP.status then
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
  for k, rate in ipairs(rates) do reply[#reply + 1] = advance(rings[k], rate[3]) end
  -- Then each act's windows (KEYS[3]), in ACT_NAMES order.
  for _, name in ipairs(ACT_NAMES) do
    C.act_windows = ACTS[name]
    C.load_act_rings(KEYS[3])
    for k, window in ipairs(C.act_windows) do reply[#reply + 1] = advance(C.act_rings[k], window[3]) end
  end
  return packed(reply)
end

if op == OP.unblock then
  -- Strikes cleared; the count of blocks stays, so the next block is still longer.
  if stored[1] then redis.call('HSET', state, FIELD.block, cmsgpack.pack({0, C.block_length, C.blocks})) end
  if C.in_block then return 1 end
  return 0
end

if op == OP.strike then
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
    -- Hand back what the sender check admitted for a message rejected by another rule.
    for k, rate in ipairs(rates) do
      if stored[2 + k] then
        ring_add(rings[k], rate[3], at, -1)
        C.write(rate[4], dump_ring(rings[k]))
      end
    end
    if stored_repeat then
      local buckets = load(stored_repeat)
      remove(buckets, at, repeat_window)
      if #buckets == 0 then redis.call('HDEL', state, repeat_field) else C.write(repeat_field, cmsgpack.pack(buckets)) end
    end
    if checks_fanout and stored[fanout_at + 1] == ARGV[6] then
      -- The recipient back to their time before the check (or gone, if the check added them),
      -- unless a later message has moved them on since.
      local ring, previous = load_ring(stored[fanout_at]), tonumber(ARGV[7])
      ring_add(ring, FANOUT_WIDTH, at, -1)
      if previous > 0 then
        C.write(recipient_field, ARGV[7])
        if counts(previous, FANOUT_WIDTH) then ring_add(ring, FANOUT_WIDTH, previous, 1) end
      else
        redis.call('HDEL', state, recipient_field)
      end
      C.write(FANOUT_FIELD, dump_ring(ring))
    end
    if checks_at_all and stored[at_all_at] then
      local ring = load_ring(stored[at_all_at])
      ring_add(ring, AT_ALL_WIDTH, at, -1)
      C.write(AT_ALL_FIELD, dump_ring(ring))
    end
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
  return packed({0, 0, 0, 0, started})
end


if op == OP.act then
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
    known = is_known(redis.call('HGET', memory_key, MEMORY_FIELD.writers), now, CONTACT_MEMORY)
  end
  if not known then C.campaign_rule(KEYS, ARGV) end
  if C.first then
    C.write_act_rings(KEYS[3], false)
    if ARGV[14] ~= '' and not ACT_STRIKES[ARGV[14]] then
      -- An actor OpenIM does not check (an applicant): rejected, struck never.
      C.commit()
      return decided(C.with_shadow({REJECTED, C.first[1], C.first[2], C.first[3], C.first[4], 0}))
    end
    return decided(C.rejection())
  end
  for k, window in ipairs(C.act_windows) do
    ring_add(C.act_rings[k], window[3], now, weights and weights[k] or 1)
  end
  C.write_act_rings(KEYS[3], true)
  C.commit()
  local standing = 0
  if known then standing = KNOWN_SENDER end
  return decided(C.with_shadow({ADMITTED, now, 0, 0, 0, standing}))
end

if op ~= OP.check then return redis.error_reply('sender.lua: unknown op ' .. tostring(op)) end

local served = C.served_block()
if served then return served end

for k, rate in ipairs(rates) do
  local sum = advance(rings[k], rate[3])
  if sum >= rate[1] then C.note('rate', ring_retry(rings[k], rate[3], rate[1], sum), rate[1], rate[2]) end
end

-- Entries that left their window are swept, and TTLs refreshed, once per sweep interval (a
-- new sender has nothing to sweep: its first call only starts the clock).
local sweep = C.swept_at and now - tonumber(C.swept_at) >= width(TTL)
if not C.swept_at or sweep then
  C.write(FIELD.swept, ARGV[2])
  C.refresh_all = sweep
end
-- With neither repeat nor fanout on, the hash holds only fields this call read, unless an older
-- configuration or version left others: HLEN tells, without reading every field.
if sweep and REPEAT_LIMIT == 0 and FANOUT_LIMIT == 0 then
  local present = 0
  for i = 1, #fields do if stored[i] then present = present + 1 end end
  sweep = redis.call('HLEN', state) > present
end
if sweep then
  -- Fingerprints whose copies all left the repeat window, and every field this script does not
  -- write (windows of an older rate configuration, an older version's layout). Once per sweep
  -- interval; a sender holds at most as many fingerprints as the rate windows admitted.
  local oldest = math.floor(now / width(repeat_window)) - SUB
  local kept = {[FIELD.block] = true, [FIELD.swept] = true, [repeat_field] = true, [recipient_field] = true}
  if FANOUT_LIMIT > 0 then kept[FANOUT_FIELD] = true end
  if AT_ALL_LIMIT > 0 then kept[AT_ALL_FIELD] = true end
  for _, rate in ipairs(rates) do kept[rate[4]] = true end
  local all, stale = redis.call('HGETALL', state), {}
  for i = 1, #all, 2 do
    local field = all[i]
    if kept[field] then -- this call reads or writes it
    elseif string.sub(field, 1, 1) == FIELD.repeats and #field == 9 then -- a fingerprint's copies
      local buckets = cmsgpack.unpack(all[i + 1])
      if #buckets == 0 or buckets[#buckets - 1] < oldest then stale[#stale + 1] = field end
    elseif string.sub(field, 1, 1) == FIELD.recipient and #field == 9 and FANOUT_LIMIT > 0 then -- a recipient
      if not counts(tonumber(all[i + 1]), FANOUT_WIDTH) then stale[#stale + 1] = field end
    else
      stale[#stale + 1] = field
    end
  end
  if #stale > 0 then redis.call('HDEL', state, unpack(stale)) end
end

local repeat_buckets
if checks_repeat and C.worth_checking('repeats') then
  local sum
  repeat_buckets, sum = prune(load(stored_repeat), repeat_window)
  if sum >= repeat_limit then
    C.note('repeats', retry_after(repeat_buckets, repeat_window, repeat_limit, sum), repeat_limit, repeat_window)
  end
end

-- Fanout: the recipient's last time is a field of the hash, and the ring counts recipients by
-- the bucket of their last time, so a known recipient moves within it and a new one adds one.
local fanout_ring, recipient_known, recipient_seen = nil, false, 0
if checks_fanout and C.worth_checking('fanout') then
  fanout_ring = load_ring(stored[fanout_at])
  local distinct = advance(fanout_ring, FANOUT_WIDTH)
  local seen = tonumber(stored[fanout_at + 1])
  recipient_known = seen ~= nil and counts(seen, FANOUT_WIDTH)
  if recipient_known then
    recipient_seen = seen
  elseif distinct >= fanout_limit then
    C.note('fanout', ring_retry(fanout_ring, FANOUT_WIDTH, fanout_limit, distinct), fanout_limit, fanout_window)
  end
end

-- AtAllTag notifies the whole group: its uses are counted like a rate window (mentions rule).
local at_all_ring
if checks_at_all and C.worth_checking('mentions') then
  at_all_ring = load_ring(stored[at_all_at])
  local uses = advance(at_all_ring, AT_ALL_WIDTH)
  if uses >= AT_ALL_LIMIT then
    C.note('mentions', ring_retry(at_all_ring, AT_ALL_WIDTH, AT_ALL_LIMIT, uses), AT_ALL_LIMIT, AT_ALL_WINDOW)
  end
end

-- The conversation is remembered once the sender's own rules admit the message (whatever the
-- campaign rule then says, as on a cluster, where the two are decided on different slots): in
-- the sender's memory as a post in the group, or in the recipient's that the sender wrote.
local sender_admitted = not C.first
local function remember_conversation()
  if not sender_admitted or not peer_field then return end
  if peer_kind == 'g' then
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

-- Standalone Redis: the campaign keys' distinct senders, for a cold message the sender's own
-- rules admitted (a rejected message is not a copy, and records nothing there). Every key is
-- checked before any is recorded: one over the limit rejects, and then none is.
if not established and not known then C.campaign_rule(KEYS, ARGV) end

if C.first then
  -- Rings moved back from a clock far ahead are kept moved, whatever the answer.
  for k, rate in ipairs(rates) do
    if rings[k].rebased then C.write(rate[4], dump_ring(rings[k])) end
  end
  if fanout_ring and fanout_ring.rebased then C.write(FANOUT_FIELD, dump_ring(fanout_ring)) end
  if at_all_ring and at_all_ring.rebased then C.write(AT_ALL_FIELD, dump_ring(at_all_ring)) end
  local reply = C.rejection()
  remember_conversation()
  return decided(reply)
end

-- Admitted: record the message's quota.
for k, rate in ipairs(rates) do
  ring_add(rings[k], rate[3], now, 1)
  C.write(rate[4], dump_ring(rings[k]))
end
local repeat_recorded = 0
if repeat_buckets then
  add(repeat_buckets, now, repeat_window)
  C.write(repeat_field, cmsgpack.pack(repeat_buckets))
  repeat_recorded = 1
end
local recipient_recorded = 0
if fanout_ring then
  recipient_recorded = RECIPIENT_NEW
  if recipient_known then
    ring_add(fanout_ring, FANOUT_WIDTH, recipient_seen, -1)
    recipient_recorded = RECIPIENT_REFRESHED
  end
  ring_add(fanout_ring, FANOUT_WIDTH, now, 1)
  C.write(FANOUT_FIELD, dump_ring(fanout_ring))
  C.write(recipient_field, ARGV[2])
end
if at_all_ring then
  ring_add(at_all_ring, AT_ALL_WIDTH, now, 1)
  C.write(AT_ALL_FIELD, dump_ring(at_all_ring))
end
C.commit()
remember_conversation()
if established then C.vouch_domains(KEYS, ARGV) end
local standing = 0
if established then standing = standing + ESTABLISHED end
if known then standing = standing + KNOWN_SENDER end
return decided(C.with_shadow({ADMITTED, now, repeat_recorded, recipient_recorded, recipient_seen, standing}))
