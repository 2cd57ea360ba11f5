-- handover.lua: an agent's open tickets re-routed (engine.core.handover: logout, away), and its
-- away timers (MemoryAgentStore: engine/adapters/memory/handover.py).
-- ARGV[4] = op:
--   'move'   ARGV[5] = agent id, ARGV[6] = cause (the handed_over decision's reason), ARGV[7] =
--            the status the agent must still have (else nothing moves: it is back), ARGV[8] = n,
--            then n pairs (ticket id, request msgpack), in the order they are placed. Each
--            ticket still offered or assigned to the agent is freed (a handed_over decision
--            naming the agent) and placed with its new request, its cool-offs kept.
--   'timers' ARGV[5] = n, then n pairs (timer member, due ms; '0' removes the timer).
-- Reply: cmsgpack list of decisions. A re-run finds the tickets gone from the agent.

local op = ARGV[4]
if op == 'timers' then
  for i = 1, tonumber(ARGV[5]) do
    local member, due = ARGV[4 + 2 * i], tonumber(ARGV[5 + 2 * i])
    if due == 0 then timer_del(member) else timer_set(member, due) end
  end
  return reply_decisions({})
elseif op ~= 'move' then
  error('handover.lua: unknown op ' .. tostring(op))
end

local aid, cause = ARGV[5], ARGV[6]
local a = agent(aid)
if not a or a.st ~= ARGV[7] then return reply_decisions({}) end
local out = {}
for i = 1, tonumber(ARGV[8]) do
  local j = 7 + 2 * i
  local t = ticket(ARGV[j])
  if t and (t.st == OFFERED or t.st == ASSIGNED) and t.ag == aid then
    out[#out + 1] = decision(LATER.HANDED_OVER, t.rq, aid, {reason = cause})
    free(t)
    ticket_request(t, ARGV[j + 1], nil)
    out[#out + 1] = place(t)
  end
end
return reply_decisions(out)
