--[[ floodgate · moderation.lua — what a moderator does to a sender's own record, which a
decision reads: a block by hand. (The moderators' lists are plain commands: store/redis/
moderation.rs.) One key, the sender's `{s:…}` hash, so it runs on that sender's slot.

ARGV[1] is the op; the rest depends on it:
  block  KEYS {the sender's state hash (sender.lua)}
         ARGV {op, now_ms, length_ms, longest_block_ms, block field}
         Starts a block of `length_ms` now, written as decision.lua's C.add_strike writes one
         (msgpack {until, length, blocks}): it counts as a block, strikes are cleared. The hash
         is kept until the block ends plus the longest block, as sender.lua keeps it.
         Returns the sender's blocks so far, this one included.
]]

local op = ARGV[1]
local now = tonumber(ARGV[2])

if op == 'block' then
  local state, length, longest, field = KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
  local stored = redis.call('HGET', state, field)
  local blocks = 0
  if stored then blocks = cmsgpack.unpack(stored)[3] or 0 end
  blocks = blocks + 1
  redis.call('HSET', state, field, cmsgpack.pack({now + length, length, blocks}))
  local keep = length + longest
  if redis.call('PTTL', state) < keep then redis.call('PEXPIRE', state, keep) end
  return blocks
end

return redis.error_reply('moderation.lua: unknown op')
