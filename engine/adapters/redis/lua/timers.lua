-- timers.lua: lease due timers, and mark leased timers done.
-- ARGV[4] = op:
--   'claim' ARGV[5] = lease end (now + lease, ms), ARGV[6] = limit. Due members (score <= now)
--           in (due, member) order get score = lease end and a lease "<lease end>/<n>" in
--           tlease, n counting the pool's claims (tseq): unique per claim.
--           Reply: cmsgpack [member, due, lease, ...]. A claim never marked done becomes due
--           again when its lease ends.
--   'done'  ARGV[5] = member, ARGV[6] = the lease of the claim: removed only if that lease
--           still holds (the timer was not re-scheduled, removed or claimed again since; see
--           timer_set/timer_del in lib/00_base.lua). Reply: 1 if removed, else 0.

local op = ARGV[4]
local k = key('timers')
if op == 'claim' then
  local due = redis.call('ZRANGEBYSCORE', k, '-inf', NOW_S, 'WITHSCORES', 'LIMIT', 0, ARGV[6])
  local out = {}
  if #due > 0 then
    local last = redis.call('INCRBY', key('tseq'), #due / 2)
    local n = last - #due / 2
    for i = 1, #due, 2 do
      n = n + 1
      local lease = ARGV[5] .. '/' .. n
      redis.call('ZADD', k, 'XX', ARGV[5], due[i])
      redis.call('HSET', key('tlease'), due[i], lease)
      out[#out + 1] = due[i]
      out[#out + 1] = due[i + 1]
      out[#out + 1] = lease
    end
  end
  return reply(out)
elseif op == 'done' then
  if redis.call('HGET', key('tlease'), ARGV[5]) == ARGV[6] then
    timer_del(ARGV[5])
    return 1
  end
  return 0
end
error('timers.lua: unknown op ' .. tostring(op))
