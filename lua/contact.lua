--[[ floodgate · contact.lua — on a Redis Cluster, remembers in a recipient's memory (another
slot than the sender's) that the sender wrote to them, once sender.lua admitted the message.
Built on memory.lua. (Standalone Redis does this inside sender.lua.)

KEYS  [1] <prefix>:{s:<recipient>}:m
ARGV  [1] now_ms  [2] the sender as the recipient's memory names them (8 bytes)  [3] memory ms
]]

remember_writer(KEYS[1], ARGV[2], ARGV[1], tonumber(ARGV[1]), ARGV[3])
return 1
