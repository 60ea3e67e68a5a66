--[[ floodgate · moderation.lua — what moderators see and do, written beside the decisions and
never inside one: the senders recorded for a campaign key, a block by hand, the index of blocks.
Keys of one call share one hash tag (a campaign key's `{f:…}`, a sender's `{s:…}`, or the
moderation lists' `{m}`), so each call runs on one Redis Cluster slot.

ARGV[1] is the op; the rest depends on it:
  sight  KEYS {senders set, key hash}
         ARGV {op, now_ms, ttl_ms, cap, kind, display, rejected, sendID...}
         Adds each sendID while the set holds fewer than `cap`; sets kind, display and first
         seen once, adds `rejected` to the key's rejections, keeps both keys `ttl_ms`.
         Returns the set's size.
  block  KEYS {the sender's state hash (sender.lua)}
         ARGV {op, now_ms, length_ms, longest_block_ms, block field}
         Starts a block of `length_ms` now, written as decision.lua's C.add_strike writes one
         (msgpack {until, length, blocks}): it counts as a block, strikes are cleared. The hash
         is kept until the block ends plus the longest block, as sender.lua keeps it.
         Returns the sender's blocks so far, this one included.
  index_block KEYS {blocks zset (sendID by end), entries hash (sendID -> JSON)}
         ARGV {op, now_ms, until_ms, sendID, entry, cap}
         Indexes a block for `GET /v1/blocks`; forgets ended ones and, past `cap`, those that
         end first. Returns the number indexed.
]]

local op = ARGV[1]
local now = tonumber(ARGV[2])

if op == 'sight' then
  local senders, meta = KEYS[1], KEYS[2]
  local ttl, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
  local size = redis.call('SCARD', senders)
  for i = 8, #ARGV do
    if size >= cap then break end
    size = size + redis.call('SADD', senders, ARGV[i])
  end
  if redis.call('HSETNX', meta, 'first', now) == 1 then
    redis.call('HSET', meta, 'kind', ARGV[5], 'display', ARGV[6])
  end
  local rejected = tonumber(ARGV[7])
  if rejected > 0 then redis.call('HINCRBY', meta, 'rejected', rejected) end
  redis.call('HSET', meta, 'last', now)
  if size > 0 then redis.call('PEXPIRE', senders, ttl) end
  redis.call('PEXPIRE', meta, ttl)
  return size
end

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

if op == 'index_block' then
  local index, entries = KEYS[1], KEYS[2]
  local cap = tonumber(ARGV[6])
  redis.call('ZADD', index, ARGV[3], ARGV[4])
  redis.call('HSET', entries, ARGV[4], ARGV[5])
  local ended = redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, 100)
  local over = redis.call('ZCARD', index) - cap
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', index, 0, over - 1)) do ended[#ended + 1] = id end
  end
  for _, id in ipairs(ended) do
    redis.call('ZREM', index, id)
    redis.call('HDEL', entries, id)
  end
  return redis.call('ZCARD', index)
end

return redis.error_reply('moderation.lua: unknown op')
