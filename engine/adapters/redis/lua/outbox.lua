-- outbox.lua: acknowledge published decisions, or lease unacknowledged ones to publish again.
-- ARGV[4] = op:
--   'ack'   ARGV[5..] = ticket id, seq, duplicate ('1'/'0'), ...: decisions now on the log. A
--           non-duplicate still its ticket's latest (same seq) leaves the outbox. Reply: cmsgpack
--           list of the latest decisions of the tickets whose seq moved past the one published
--           (the caller publishes them too, so each ticket's last record is its newest).
--   'claim' ARGV[5] = lease end (ms), ARGV[6] = limit. Ids due (score <= now) get score =
--           lease end; reply: cmsgpack list of their latest decisions (decision rows, as
--           stamped: layout.DECISION_FIELDS).

local op = ARGV[4]
local k = key('outbox')
if op == 'ack' then
  -- one ZREM for all the ids whose seq matches (in chunks: Lua's unpack has a stack limit)
  local gone, newer_rows, seen = {}, {}, {}
  for i = 5, #ARGV, 3 do
    local tid = ARGV[i]
    local h = redis.call('HMGET', key('ticket', tid), TF_SEQ, TF_LATEST)
    local seq = h[1]
    if seq and tonumber(seq) > tonumber(ARGV[i + 1]) then
      if h[2] and not seen[tid] then
        seen[tid] = true
        newer_rows[#newer_rows + 1] = cmsgpack.unpack(h[2])
      end
    elseif ARGV[i + 2] ~= '1' and (seq == false or seq == ARGV[i + 1]) then
      gone[#gone + 1] = tid
    end
  end
  for i = 1, #gone, 1000 do
    redis.call('ZREM', k, unpack(gone, i, math.min(i + 999, #gone)))
  end
  return cmsgpack.pack(newer_rows)
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
