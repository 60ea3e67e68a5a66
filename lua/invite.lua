--[[ floodgate · invite.lua — invitees into one group (FLOODGATE_GROUP_INVITE_LIMIT), counted
like a rate window on the group's own slot. OpenIM's invite callback names no inviter, so this
is the only limit an invitation can have, and its rejection strikes nobody. Built on ring.lua;
Rust prepends SUB, INVITE_LIMIT, INVITE_WINDOW, INVITE_WIDTH, INVITE_FIELD, INVITE_TTL and
INVITE_ENFORCED (src/store/redis/prelude.rs). The embedded store decides the same in
src/store/memory.rs (check_invite).

KEYS
  KEYS[1]  <prefix>:{g:<group>}:i  hash  INVITE_FIELD = the ring of invitees

ARGV
  [1] invitees in this invitation (> 0)   [2] now_ms

Returns (integers, packed into one string by reply.lua)
  {over, retry_ms}: over = 1 when the invitees do not fit under the limit; they are recorded
  unless the rule enforces (then nothing is). retry_ms: until they would fit, 0 = never (more
  than the limit at once).
]]

now = tonumber(ARGV[2])

local invitees = tonumber(ARGV[1])
local ring = load_ring(redis.call('HGET', KEYS[1], INVITE_FIELD))
local count = advance(ring, INVITE_WIDTH)
local over, retry = 0, 0
if count + invitees > INVITE_LIMIT then
  over = 1
  -- Fits once the count drops below limit - invitees + 1.
  local room = INVITE_LIMIT + 1 - invitees
  if room > 0 then retry = ring_retry(ring, INVITE_WIDTH, room, count) end
  if INVITE_ENFORCED then
    if ring.rebased then redis.call('HSET', KEYS[1], INVITE_FIELD, dump_ring(ring)) end
    return packed({over, retry})
  end
end
ring_add(ring, INVITE_WIDTH, now, invitees)
redis.call('HSET', KEYS[1], INVITE_FIELD, dump_ring(ring))
redis.call('PEXPIRE', KEYS[1], INVITE_TTL)
return packed({over, retry})
