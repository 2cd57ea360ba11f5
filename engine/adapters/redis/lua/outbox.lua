-- outbox.lua: acknowledge published decisions, or lease unacknowledged ones to publish again.
-- ARGV[4] = op:
--   'ack'   ARGV[5..] = ticket id, seq, ticket id, seq, ...: each id leaves the outbox if its
--           ticket's seq is still that seq (a newer decision keeps it). Reply: count removed.
--   'claim' ARGV[5] = lease end (ms), ARGV[6] = limit. Ids due (score <= now) get score =
--           lease end; reply: cmsgpack list of their latest decisions (decision rows, as
--           stamped: layout.DECISION_FIELDS).

local op = ARGV[4]
local k = key('outbox')
if op == 'ack' then
  -- one ZREM for all the ids whose seq matches (in chunks: Lua's unpack has a stack limit)
  local gone = {}
  for i = 5, #ARGV, 2 do
    local seq = redis.call('HGET', key('ticket', ARGV[i]), TF_SEQ)
    if seq == false or seq == ARGV[i + 1] then gone[#gone + 1] = ARGV[i] end
  end
  local n = 0
  for i = 1, #gone, 1000 do
    n = n + redis.call('ZREM', k, unpack(gone, i, math.min(i + 999, #gone)))
  end
  return n
elseif op == 'claim' then
  local due = redis.call('ZRANGEBYSCORE', k, '-inf', NOW_S, 'LIMIT', 0, ARGV[6])
  local out = {}
  for _, tid in ipairs(due) do
    local blob = redis.call('HGET', key('ticket', tid), TF_LATEST)
    if blob then
      redis.call('ZADD', k, 'XX', ARGV[5], tid)
      out[#out + 1] = cmsgpack.unpack(blob)
    else
      redis.call('ZREM', k, tid)
    end
  end
  return cmsgpack.pack(out)
end
error('outbox.lua: unknown op ' .. tostring(op))
