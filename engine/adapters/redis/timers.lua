-- timers.lua: lease due timers, and mark leased timers done.
-- ARGV[4] = op:
--   'claim' ARGV[5] = lease end (now + lease, ms), ARGV[6] = limit. Due members (score <= now)
--           in (due, member) order get score = lease end. Reply: cmsgpack [member, due, ...].
--           A claim never marked done becomes due again when its lease ends.
--   'done'  ARGV[5] = member, ARGV[6] = lease end of the claim: removed only if its score is
--           still that lease end (not re-scheduled since). Reply: 1 if removed, else 0.

local op = ARGV[4]
local k = key('timers')
if op == 'claim' then
  local due = redis.call('ZRANGEBYSCORE', k, '-inf', NOW_S, 'WITHSCORES', 'LIMIT', 0, ARGV[6])
  for i = 1, #due, 2 do
    redis.call('ZADD', k, 'XX', ARGV[5], due[i])
  end
  return reply(due)
elseif op == 'done' then
  local score = redis.call('ZSCORE', k, ARGV[5])
  if score and tonumber(score) == tonumber(ARGV[6]) then
    redis.call('ZREM', k, ARGV[5])
    return 1
  end
  return 0
end
error('timers.lua: unknown op ' .. tostring(op))
