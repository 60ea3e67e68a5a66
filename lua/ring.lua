--[[ floodgate · ring.lua — the sliding-window arithmetic of src/store/window.rs as bucket
rings: functions sender.lua (rate, fanout, @all and act windows) and invite.lua (a group's
invitees) are built on. Rust prepends SUB. `now` is set by each call (the first line of the
scripts built on this file: they pass now_ms as ARGV[2]); as a Redis Function the helpers are
built once per load and read the call's `now` through it.

A window W is cut into SUB buckets of width ceil(W/SUB); its count sums every bucket that
overlaps [now-W, now], the oldest one in full, so no window of length W ever holds more than the
limit. A ring is the index of its newest bucket and SUB+1 counts, bucket i in slot i % (SUB+1),
packed by struct (52 bytes: small enough for Redis to keep a hash a compact listpack); a call
moves the ring forward in place.
]]

local now

local function width(window) return math.max(1, math.ceil(window / SUB)) end

local RING = SUB + 1
local RING_FORMAT = '>dI4I4I4I4I4I4I4I4I4I4I4' -- the newest bucket's index, then RING counts

local function load_ring(packed)
  if packed then return {struct.unpack(RING_FORMAT, packed)} end
  local ring = {0}
  for i = 2, RING + 1 do ring[i] = 0 end
  return ring
end

local function dump_ring(ring) return struct.pack(RING_FORMAT, unpack(ring, 1, RING + 1)) end

-- Moves a ring of bucket width w to the current bucket, emptying the slots of buckets that
-- left the window; returns the window's count.
local function advance(ring, w)
  local current = math.floor(now / w)
  if ring[1] > current + SUB then
    -- Written by a replica whose clock is more than a window ahead: left as it is, the ring
    -- would never move on here and the sender would stay refused until that clock's time came.
    -- Its counts are kept in this replica's current bucket, so they expire one window from now.
    local sum = 0
    for i = 2, RING + 1 do sum = sum + ring[i]; ring[i] = 0 end
    ring[1], ring[2 + current % RING] = current, sum
    ring.rebased = true -- written back even when the message is rejected
  end
  if current > ring[1] then
    for index = math.max(ring[1] + 1, current - SUB), current do ring[2 + index % RING] = 0 end
    ring[1] = current
  end
  local sum = 0
  for i = 2, RING + 1 do sum = sum + ring[i] end
  return sum
end

-- Milliseconds until a ring's count drops below limit: when enough of its oldest buckets leave.
local function ring_retry(ring, w, limit, sum)
  for index = ring[1] - SUB, ring[1] do
    sum = sum - ring[2 + index % RING]
    if sum < limit then return (index + SUB + 1) * w - now end
  end
  return 0
end

-- Adds n (1, or -1 to hand a reservation back) to the bucket of `at`. A time older than the
-- ring counts in its oldest bucket (a replica's clock far behind) or, taken back, is ignored.
local function ring_add(ring, w, at, n)
  local index = math.floor(at / w)
  if index < ring[1] - SUB then
    if n < 0 then return end
    index = ring[1] - SUB
  end
  if index > ring[1] then return end
  local slot = 2 + index % RING
  ring[slot] = math.max(ring[slot] + n, 0)
end

-- Whether a time still counts in a window of bucket width w: its bucket overlaps the window.
local function counts(at, w) return math.floor(at / w) >= math.floor(now / w) - SUB end

