-- pull.lua: grab mode, AgentStore.claim and .pool (the library's 60_pull.lua).
-- ARGV[4] = op, ARGV[5] = agent id:
--   'claim'  ARGV[6] = ticket id, or '' for the best ticket the agent may claim. A refusal is
--            one rejected decision naming the agent (REASON_NOT_OPEN, LATER.CLAIMED,
--            REASON_PAUSED, LATER.MAY_NOT_CLAIM .. code) and changes nothing.
--   'pool'   ARGV[6] = limit; reads only. Reply: cmsgpack [[ticket id, queue, score (string),
--            priority, ticket_ts], ...] (wire.waiting_entries), best first.
-- An agent that never logged in: REPLY_UNKNOWN_AGENT. Claim reply: cmsgpack list of decisions.

local op, aid = ARGV[4], ARGV[5]
local a = agent(aid)
if not a then return cmsgpack.pack(REPLY_UNKNOWN_AGENT) end

if op == 'pool' then
  local limit = tonumber(ARGV[6])
  local out = {}
  if limit > 0 then
    for i, f in ipairs(CC.claimable(a, true, limit)) do
      if i > limit then break end
      out[i] = {f[2], f[4].rq.queue, f[3], f[4].rq.priority, f[4].rq.ts}
    end
  end
  return cmsgpack.pack(out)
elseif op ~= 'claim' then
  error('pull.lua: unknown op ' .. tostring(op))
end

local tid = ARGV[6]
if tid == '' then
  if a.st ~= AGENT_AVAILABLE or CC.off(a) then return reply_decisions({}) end
  local found = CC.claimable(a, false, 1)
  if #found == 0 then return reply_decisions({}) end
  return reply_decisions({CC.take(found[1][4], aid)})
end

local t = ticket(tid)
local refusal
if not t or t.st == CLOSED then
  refusal = REASON_NOT_OPEN
elseif t.ag == aid then
  return reply_decisions({})  -- already its (a re-run claim)
elseif t.st ~= WAITING then
  refusal = LATER.CLAIMED
elseif paused(t.rq.queue) then
  refusal = REASON_PAUSED
else
  local why = CC.why_not(a, t)
  if why ~= nil then refusal = LATER.MAY_NOT_CLAIM .. why end
end
if refusal ~= nil then
  local req = t and t.rq or
    {id = tid, queue = '', strategy = '', channel = '', priority = 0, ts = 0, step = STEP_INITIAL}
  local step = req.step .. LATER.STEP_CLAIMED  -- every claim outcome's step ends so
  return reply_decisions({decision(K_REJECTED, req, aid, {reason = refusal, step = step})})
end
return reply_decisions({CC.take(t, aid)})
