-- agent.lua: agent changes and agent pull.
-- ARGV[4] = op, ARGV[5] = agent id:
--   'update' ARGV[6] = msgpack map of the given fields (already normalised by Python: status,
--            skills, regions, team, capacity, performance), ARGV[7] = '1' to reset the missed-
--            offer count (the update set status available). Creates the agent if unknown,
--            maintains the candidate index, then the agent pulls waiting work.
--   'claim'  the agent takes its single best waiting ticket, if it may.
-- Reply: cmsgpack list of decisions.

local op, aid = ARGV[4], ARGV[5]

if op == 'claim' then
  return reply_decisions(pull(aid, 1))
elseif op ~= 'update' then
  error('agent.lua: unknown op ' .. tostring(op))
end

local a = agent(aid)
local old_skills = {}
if a then
  old_skills = a.sk
else
  -- engine.core.model.Agent defaults
  a = {id = aid, st = DEFAULT_STATUS, sk = {}, rg = {}, tm = '', cap = {}, pf = DEFAULT_PERFORMANCE,
       last = 0, miss = 0}
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

return reply_decisions(pull(aid, nil))
