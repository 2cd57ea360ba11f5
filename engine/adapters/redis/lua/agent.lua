-- agent.lua: agent changes and agent pull.
-- ARGV[4] = op, ARGV[5] = agent id:
--   'update' ARGV[6] = msgpack map of the given fields (already normalised by Python: status,
--            skills, regions, team, capacity, performance, schedule, shift_start_ms,
--            shift_end_ms), ARGV[7] = '1' to reset the missed-offer count and end a wrap-up
--            (the update set status available), ARGV[8] = '1' to create the agent
--            if unknown (a login; else the reply is REPLY_UNKNOWN_AGENT), ARGV[9] = the
--            change's version or '' (applied only when newer than the agent's: else no change
--            and no decisions). Maintains the candidate index and the agent's timer
--            (CC.agent_timer), then the agent pulls work.
-- (Claims: pull.lua.)
-- Reply: cmsgpack list of decisions.

local op, aid = ARGV[4], ARGV[5]

if op ~= 'update' then
  error('agent.lua: unknown op ' .. tostring(op))
end

local a = agent(aid)
local old_skills = {}
local vnew = ARGV[9]
if a then
  if vnew ~= '' and not newer(vnew, redis.call('HGET', key('agent', aid), AF_VERSION)) then
    return reply_decisions({})  -- a late write: the agent holds a newer change
  end
  old_skills = a.sk
elseif ARGV[8] ~= '1' then
  return cmsgpack.pack(REPLY_UNKNOWN_AGENT)
else
  -- engine.core.model.Agent defaults
  a = {id = aid, st = DEFAULT_STATUS, sk = {}, rg = {}, tm = '', cap = {}, pf = DEFAULT_PERFORMANCE,
       last = 0, miss = 0, sc = '', ss = 0, se = 0, wu = 0}
  AG[aid] = a
  redis.call('ZADD', key('agents'), 'NX', 0, aid)
  RK = {}  -- ranks shift
  redis.call('HSET', key('agent', aid), AF_LAST, '0', AF_MISSES, '0')
end

local f = cmsgpack.unpack(ARGV[6])
if f.status ~= nil then a.st = f.status end
if f.skills ~= nil then a.sk = f.skills end
if f.regions ~= nil then a.rg = f.regions end
if f.team ~= nil then a.tm = f.team end
if f.capacity ~= nil then a.cap = f.capacity end
if f.performance ~= nil then a.pf = f.performance end
if f.schedule ~= nil then a.sc = f.schedule end
if f.shift_start_ms ~= nil then a.ss = f.shift_start_ms end
if f.shift_end_ms ~= nil then a.se = f.shift_end_ms end
if ARGV[7] == '1' then a.wu = 0 end
agent_save(a)
set_status(a, a.st)

for skill in pairs(old_skills) do
  if a.sk[skill] == nil then redis.call('SREM', key('skill', skill), aid) end
end
for skill in pairs(a.sk) do
  redis.call('SADD', key('skill', skill), aid)
end

if ARGV[7] == '1' then
  a.miss = 0
  redis.call('HSET', key('agent', aid), AF_MISSES, '0')
end
if vnew ~= '' then redis.call('HSET', key('agent', aid), AF_VERSION, vnew) end
CC.agent_timer(a)

return reply_decisions(pull(aid, nil))
