--[[ floodgate · memory.lua — one user's conversation memory: a hash <prefix>:{s:<id>}:m on the
user's own slot, beside their state. Functions that sender.lua (the sender's own memory and, on
standalone Redis, the recipient's) and contact.lua (a recipient's, on a cluster) are built on.
Rust prepends MEMORY_CAP, MEMORY_KEPT, PENDING_CAP, PENDING_KEPT, MEMORY_SLACK_PARTS,
KNOWN_WRITERS and MEMORY_FIELD
(src/store/redis/prelude.rs); the embedded
store keeps the same memory in src/store/conversations.rs.

Fields
  c<user>   (8 bytes) decimal ms: that user last wrote to this one (an admitted message)
  g<group>  (8 bytes) struct '>dd': this user's first and last post in that group
  w         msgpack {TTL set at, user, ms, ...}: the last KNOWN_WRITERS different users who
            wrote to this one, latest first (the user is *known* when all of them are within the
            memory), and when the key's TTL was last set

Pending (a hash <prefix>:{s:<id>}:p beside it)
  c<user>   decimal ms: that user wrote to this one cold (this one never wrote to them), kept
            PENDING_MEMORY (sender.lua's prelude; contact.lua's ARGV): an answer within it is
            established. The key lives PENDING_MEMORY past its last write; past PENDING_CAP fields the
            oldest are forgotten down to PENDING_KEPT (a support desk hears many strangers).

Bounded: past MEMORY_CAP fields, the least recently active are forgotten down to MEMORY_KEPT
(every entry at the cut's time goes, so no order among equal times is needed). The hash lives
FLOODGATE_CONTACT_MEMORY (and a slack, memory_ttl) past its last write.
]]

-- When an entry was last active.
local function memory_last(field, value)
  if string.sub(field, 1, 1) == MEMORY_FIELD.group then
    local _, last = struct.unpack('>dd', value)
    return last
  end
  return tonumber(value)
end

local function trim_memory(key, kept)
  local all, times = redis.call('HGETALL', key), {}
  for i = 1, #all, 2 do
    if all[i] ~= MEMORY_FIELD.writers then times[#times + 1] = memory_last(all[i], all[i + 1]) end
  end
  table.sort(times)
  local cut = times[#times - kept]
  local forgotten = {}
  for i = 1, #all, 2 do
    if all[i] ~= MEMORY_FIELD.writers and memory_last(all[i], all[i + 1]) <= cut then
      forgotten[#forgotten + 1] = all[i]
    end
  end
  redis.call('HDEL', key, unpack(forgotten))
end

-- A slack of the memory (a MEMORY_SLACK_PARTS-th of it): a conversation going on rewrites its
-- entry, and the key its TTL, once per slack rather than per message.
local function memory_slack(memory)
  return math.floor(memory / MEMORY_SLACK_PARTS)
end

-- The key's TTL: the memory and a slack, so that remember_writer needs to refresh it only once
-- per slack and the key still outlives every entry by the memory.
local function memory_ttl(memory)
  return memory + memory_slack(memory)
end

-- A TTL as the decimal text Redis reads: given a Lua number, redis.call formats it with printf on
-- every call. The TTLs are the configuration's, so the texts are made once per load.
local TTL_TEXTS = {}
local function ttl_as_text(ms)
  local text = TTL_TEXTS[ms]
  if not text then
    text = string.format('%d', ms)
    TTL_TEXTS[ms] = text
  end
  return text
end

-- Writes one entry, keeps the hash bounded and alive for the memory (`memory_text` ms).
local function remember(key, field, value, memory_text)
  if redis.call('HSET', key, field, value) == 1 then
    local entries = redis.call('HLEN', key) - redis.call('HEXISTS', key, MEMORY_FIELD.writers)
    if entries > MEMORY_CAP then trim_memory(key, MEMORY_KEPT) end
  end
  redis.call('PEXPIRE', key, ttl_as_text(memory_ttl(tonumber(memory_text))))
end

-- Remembers that `writer` wrote to this user at `now` (unless they did within the slack): their
-- entry, and the writers list
-- (msgpack {TTL last set at, writer, ms, writer, ms, ...}: the last KNOWN_WRITERS different
-- people, latest first).
local function remember_writer(key, writer, now_text, now, memory_text)
  local memory = tonumber(memory_text)
  local stored = redis.call('HMGET', key, MEMORY_FIELD.contact .. writer, MEMORY_FIELD.writers)
  -- A conversation going on is refreshed once per slack, not per message.
  if stored[1] and tonumber(stored[1]) + memory_slack(memory) > now then return end
  local packed = stored[2]
  local refreshed = now
  local writers = {now, writer, now}
  if packed then
    local old = cmsgpack.unpack(packed)
    if old[1] + memory_slack(memory) > now then refreshed = old[1] end
    writers[1] = refreshed
    for i = 2, #old, 2 do
      if old[i] ~= writer and #writers < 1 + 2 * KNOWN_WRITERS then
        writers[#writers + 1], writers[#writers + 2] = old[i], old[i + 1]
      end
    end
  end
  local added = redis.call('HSET', key, MEMORY_FIELD.contact .. writer, now_text,
    MEMORY_FIELD.writers, cmsgpack.pack(writers))
  if not packed then added = added - 1 end
  if added == 1 and redis.call('HLEN', key) - 1 > MEMORY_CAP then trim_memory(key, MEMORY_KEPT) end
  -- Every write sets the TTL to at least its time plus the memory and the slack (remember
  -- always does), so one set within the slack still covers this write.
  if refreshed == now then redis.call('PEXPIRE', key, ttl_as_text(memory_ttl(memory))) end
end

-- Remembers that `writer` wrote cold to this user at `now_text`, for `pending_ms`: a stranger
-- makes the recipient hold this only briefly (trimmed past PENDING_CAP).
local function remember_pending(key, writer, now_text, pending_ms)
  if redis.call('HSET', key, MEMORY_FIELD.contact .. writer, now_text) == 1 and redis.call('HLEN', key) > PENDING_CAP then
    trim_memory(key, PENDING_KEPT)
  end
  redis.call('PEXPIRE', key, ttl_as_text(pending_ms))
end

-- Whether a memory entry (a group's when `in_group`, else a person's) makes its conversation
-- established: a person wrote within `memory` ms; a group's first post is `seasoning` old and
-- its last within `memory`.
local function entry_established(in_group, entry, now, memory, seasoning)
  if in_group then
    local first, last = struct.unpack('>dd', entry)
    return last + memory > now and first + seasoning <= now
  end
  return tonumber(entry) + memory > now
end

-- Whether KNOWN_WRITERS different people wrote to this user within `memory` ms of `now`.
local function is_known(packed, now, memory)
  if not packed then return false end
  local writers = cmsgpack.unpack(packed)
  if #writers < 1 + 2 * KNOWN_WRITERS then return false end
  for i = 3, #writers, 2 do
    if writers[i] + memory <= now then return false end
  end
  return true
end
