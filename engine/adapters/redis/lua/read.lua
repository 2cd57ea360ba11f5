-- read.lua: consistent snapshots for AgentStore.agents() and .waiting(); writes nothing.
-- ARGV[4] = op:
--   'agent_views'      reply: cmsgpack [[id, status, skills, regions, team, capacity,
--                      performance, last_assigned_ms (string), misses,
--                      [channel, [ticket ids], ...], schedule, shift start ms, shift end ms,
--                      wrap-up end ms], ...] (wire.agent_views)
--   'waiting_entries'  ARGV[5] = queue, or '' with ARGV[6] = '1' for every queue.
--                      reply: cmsgpack [[ticket id, queue, score (string), priority,
--                      ticket_ts], ...] (wire.waiting_entries)

local op = ARGV[4]
local out = {}
if op == 'agent_views' then
  for _, aid in ipairs(redis.call('ZRANGE', key('agents'), 0, -1)) do
    local a = agent(aid)
    if a then
      local open = {}
      for _, ch in ipairs(redis.call('SMEMBERS', key('chans', aid))) do
        open[#open + 1] = ch
        open[#open + 1] = redis.call('SMEMBERS', key('open', ch, aid))
      end
      local last = redis.call('HGET', key('agent', aid), AF_LAST)
      out[#out + 1] = {aid, a.st, a.sk, a.rg, a.tm, a.cap, a.pf, last, a.miss, open,
                       a.sc, a.ss, a.se, a.wu}
    end
  end
elseif op == 'waiting_entries' then
  local queues = {ARGV[5]}
  if ARGV[6] == '1' then queues = redis.call('SMEMBERS', key('queues')) end
  for _, q in ipairs(queues) do
    local entries = redis.call('ZRANGE', key('wq', q), 0, -1, 'WITHSCORES')
    for i = 1, #entries, 2 do
      local t = ticket(entries[i])
      out[#out + 1] = {entries[i], q, entries[i + 1], t.rq.priority, t.rq.ts}
    end
  end
else
  error('read.lua: unknown op ' .. tostring(op))
end
return reply(out)
