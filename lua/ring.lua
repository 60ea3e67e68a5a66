--[[ floodgate · ring.lua — the sliding-window arithmetic of src/store/window.rs as bucket
rings: functions sender.lua (its window and distinct-set counters, act windows) and invite.lua (a group's
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
-- The newest bucket's index, then RING counts. Written out for SUB = 10 (src/store/window.rs),
-- as are the sums below: a loop or `unpack` costs more than the arithmetic on this path.
local RING_FORMAT = '>dI4I4I4I4I4I4I4I4I4I4I4'

-- floor(a / b) for the non-negative integers here, without a library call.
local function div(a, b) return (a - a % b) / b end

local function load_ring(stored)
  if stored then return {struct.unpack(RING_FORMAT, stored)} end
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
end

-- load_ring into a ring kept across calls (sender.lua's counters), so that a call builds no
-- table for it: the stored ring, or an empty one; its rebased mark cleared.
local function load_ring_into(r, stored)
  if stored then
    r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12] = struct.unpack(RING_FORMAT, stored)
  else
    r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12] = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  end
  r.rebased = false
  return r
end

local function dump_ring(r)
  return struct.pack(RING_FORMAT, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12])
end

local function ring_sum(r) return r[2] + r[3] + r[4] + r[5] + r[6] + r[7] + r[8] + r[9] + r[10] + r[11] + r[12] end

-- Moves a ring of bucket width w to the current bucket, emptying the slots of buckets that
-- left the window; returns the window's count.
local function advance(ring, w)
  local current = div(now, w)
  local newest = ring[1]
  if newest > current + SUB then
    -- Written by a replica whose clock is more than a window ahead: left as it is, the ring
    -- would never move on here and the sender would stay refused until that clock's time came.
    -- Its counts are kept in this replica's current bucket, so they expire one window from now.
    local sum = ring_sum(ring)
    for i = 2, RING + 1 do ring[i] = 0 end
    ring[1], ring[2 + current % RING] = current, sum
    ring.rebased = true -- written back even when the message is rejected
    return sum
  end
  if current > newest then
    if current - newest > SUB then
      for i = 2, RING + 1 do ring[i] = 0 end
    else
      for index = newest + 1, current do ring[2 + index % RING] = 0 end
    end
    ring[1] = current
  end
  return ring_sum(ring)
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
  local index, newest = div(at, w), ring[1]
  if index < newest - SUB then
    if n < 0 then return end
    index = newest - SUB
  end
  if index > newest then return end
  local slot = 2 + index % RING
  local count = ring[slot] + n
  if count < 0 then count = 0 end
  ring[slot] = count
end

-- Whether a time still counts in a window of bucket width w: its bucket overlaps the window.
local function counts(at, w) return div(at, w) >= div(now, w) - SUB end

