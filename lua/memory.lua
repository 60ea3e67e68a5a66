--[[ floodgate · memory.lua — one user's conversation memory: a hash <prefix>:{s:<id>}:m on the
user's own slot, beside their state. Functions that sender.lua (the sender's own memory and, on
standalone Redis, the recipient's) and contact.lua (a recipient's, on a cluster) are built on.
Rust prepends MEMORY_CAP, MEMORY_KEPT and MEMORY_FIELD (src/store/redis/prelude.rs); the embedded
store keeps the same memory in src/store/conversations.rs.

Fields
  c<user>   (8 bytes) decimal ms: that user last wrote to this one (an admitted message)
  g<group>  (8 bytes) struct '>dd': this user's first and last post in that group

Bounded: past MEMORY_CAP fields, the least recently active are forgotten down to MEMORY_KEPT
(every entry at the cut's time goes, so no order among equal times is needed). The hash lives
FLOODGATE_CONTACT_MEMORY past its last write.
]]

-- When an entry was last active.
local function memory_last(field, value)
  if string.sub(field, 1, 1) == MEMORY_FIELD.group then
    local _, last = struct.unpack('>dd', value)
    return last
  end
  return tonumber(value)
end

local function trim_memory(key)
  local all, times = redis.call('HGETALL', key), {}
  for i = 1, #all, 2 do times[#times + 1] = memory_last(all[i], all[i + 1]) end
  table.sort(times)
  local cut = times[#times - MEMORY_KEPT]
  local forgotten = {}
  for i = 1, #all, 2 do
    if memory_last(all[i], all[i + 1]) <= cut then forgotten[#forgotten + 1] = all[i] end
  end
  redis.call('HDEL', key, unpack(forgotten))
end

-- Writes one entry, keeps the hash bounded and alive for `ttl_text` ms.
local function remember(key, field, value, ttl_text)
  if redis.call('HSET', key, field, value) == 1 and redis.call('HLEN', key) > MEMORY_CAP then
    trim_memory(key)
  end
  redis.call('PEXPIRE', key, ttl_text)
end
