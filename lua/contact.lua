--[[ floodgate · contact.lua — on a Redis Cluster, remembers in a recipient's memory (another
slot than the sender's) that the sender wrote to them, once sender.lua admitted the message:
for the whole memory when the conversation is established, else as pending (memory.lua).
Built on memory.lua. (Standalone Redis does this inside sender.lua.)

KEYS  [1] <prefix>:{s:<recipient>}:m   [2] <prefix>:{s:<recipient>}:p
ARGV  [1] now_ms  [2] the sender as the recipient's memory names them (8 bytes)  [3] memory ms
      [4] "1" when the message is established, else ""   [5] pending ms
]]

if ARGV[4] == '1' then
  remember_writer(KEYS[1], ARGV[2], ARGV[1], tonumber(ARGV[1]), ARGV[3])
else
  remember_pending(KEYS[2], ARGV[2], ARGV[1], tonumber(ARGV[5]))
end
return 1
