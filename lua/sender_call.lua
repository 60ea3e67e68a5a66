--[[ floodgate · sender_call.lua — the per-call body of the sender program: the op ARGV[1] names,
one of lua/sender.lua's OPS (that file documents KEYS, ARGV and the replies). Everything it
calls is built with the modules, once per library load as a Redis Function.
]]

now = tonumber(ARGV[2])
local run = OPS[ARGV[1]]
if not run then return redis.error_reply('sender.lua: unknown op ' .. tostring(ARGV[1])) end
return run(KEYS, ARGV)
