--[[ floodgate · buckets.lua — bucket lists, the repeat rule's counts of one content's admitted
copies: functions sender.lua is built on (Rust prepends SUB; ring.lua defines `width` and the
call's `now`). A window is cut as in ring.lua; a list keeps only the buckets in use, mostly one
or two.
]]

-- A bucket list is a msgpack array {index, count, index, count, ...}, oldest first: packed and
-- unpacked by Redis's C msgpack library, which costs far less than parsing text in Lua.
local function load(packed)
  if packed then return cmsgpack.unpack(packed) end
  return {}
end

-- Keeps the buckets that overlap the window; returns them and their sum.
local function prune(buckets, window)
  local current = math.floor(now / width(window))
  local oldest = current - SUB
  local kept, n, sum = {}, 0, 0
  for i = 1, #buckets, 2 do
    if buckets[i] >= oldest then
      -- A bucket more than a window ahead (a replica's clock far ahead) counts as current.
      local index = buckets[i]
      if index > current + SUB then index = current end
      kept[n + 1], kept[n + 2] = index, buckets[i + 1]
      n = n + 2
      sum = sum + buckets[i + 1]
    end
  end
  return kept, sum
end

-- Milliseconds until the sum drops below limit: when enough of the oldest buckets leave.
local function retry_after(buckets, window, limit, sum)
  for i = 1, #buckets, 2 do
    sum = sum - buckets[i + 1]
    if sum < limit then return (buckets[i] + SUB + 1) * width(window) - now end
  end
  return 0
end

local function add(buckets, at, window)
  local index = math.floor(at / width(window))
  local len = #buckets
  if len > 0 and buckets[len - 1] == index then
    buckets[len] = buckets[len] + 1
  else
    buckets[len + 1], buckets[len + 2] = index, 1
  end
end

local function remove(buckets, at, window)
  local index = math.floor(at / width(window))
  for i = 1, #buckets, 2 do
    if buckets[i] == index then
      buckets[i + 1] = buckets[i + 1] - 1
      if buckets[i + 1] <= 0 then
        table.remove(buckets, i + 1)
        table.remove(buckets, i)
      end
      return
    end
  end
end

