--[[ floodgate · reply.lua — how the programs answer: a reply of integers as one string of
big-endian doubles (struct '>d' each), which src/store/redis/protocol.rs reads back. Redis turns
a Lua table into a reply element by element, after looking for its error, status and map fields,
which costs more than a rate window's arithmetic; a string is copied as it is. Lua's numbers are
doubles, so every integer a reply holds (times in ms, counts, codes) is exact.
]]

-- Formats by reply length, made once: the longest is a status or a reply with every rule in
-- shadow, a few dozen numbers.
local REPLY_FORMATS = {}

local function packed(reply)
  local n = #reply
  local format = REPLY_FORMATS[n]
  if not format then
    format = '>' .. string.rep('d', n)
    REPLY_FORMATS[n] = format
  end
  return struct.pack(format, unpack(reply))
end
