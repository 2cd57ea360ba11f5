-- pause.lua: pause (hold waiting tickets) or resume (drain them) a queue.
-- ARGV[4] = queue, ARGV[5] = '1' to pause, '0' to resume, ARGV[6] = the command's version or ''
-- (applied only when newer than the queue's last pause/resume: a late one changes nothing).
-- Resuming places the queue's waiting tickets again, in order, WAIT_SCAN_LIMIT at a time,
-- until a pass places none; resuming a queue that is not paused does nothing.
-- Reply: cmsgpack list of decisions (the tickets that left the queue).

local q, pause = ARGV[4], ARGV[5] == '1'
local vnew = ARGV[6]
if vnew ~= '' then
  if not newer(vnew, redis.call('HGET', key('qver'), q)) then return reply_decisions({}) end
  redis.call('HSET', key('qver'), q, vnew)
end
-- a queue decision (not stamped: 60_outbox.lua) when the queue changes
local qd = {id = q, queue = q, strategy = '', channel = '', priority = 0, ts = 0, step = ''}
if pause then
  if redis.call('SADD', key('paused'), q) == 0 then return reply_decisions({}) end
  return reply_decisions({decision(LATER.PAUSED, qd, nil, nil)})
end
if redis.call('SREM', key('paused'), q) == 0 then return reply_decisions({}) end
PZ[q] = false

local out = {decision(LATER.RESUMED, qd, nil, nil)}
local placed = true
while placed do
  placed = false
  for _, tid in ipairs(redis.call('ZRANGE', key('wq', q), 0, SCAN - 1)) do
    local t = ticket(tid)
    unwait(t)
    local d = place(t)
    if d[D_KIND] ~= K_QUEUED then
      out[#out + 1] = d
      placed = true
    end
  end
end
return reply_decisions(out)
