-- offer.lua: the answer to an offer. Both ops act only if the ticket is still offered to the
-- agent, so re-runs and late answers change nothing.
-- ARGV[4] = op, ARGV[5] = ticket id, ARGV[6] = agent id:
--   'accept'  the offer becomes an assignment; the agent's missed-offer count resets.
--   'decline' ARGV[7] = '1' when the offer timed out (counts a miss; offer_max_misses misses in
--             a row set the agent away), ARGV[8] = the new request (msgpack), ARGV[9] = the
--             agent's reason (the released decision's why). The agent is freed and cools off
--             for the ticket until now + the request's reoffer_ms, the ticket is placed again
--             and the agent pulls waiting work.
-- Reply: cmsgpack list of decisions (REPLY_UNKNOWN_TICKET for a ticket the store does not know).

local op, tid, aid = ARGV[4], ARGV[5], ARGV[6]
local t = ticket(tid)
if not t then return cmsgpack.pack(REPLY_UNKNOWN_TICKET) end
if t.st ~= OFFERED or t.ag ~= aid then return reply_decisions({}) end

if op == 'accept' then
  ticket_state(t, ASSIGNED)
  if agent(aid) then
    agent(aid).miss = 0
    redis.call('HSET', key('agent', aid), AF_MISSES, '0')
  end
  timer_del(offer_timer(tid, aid))
  return reply_decisions({decision(K_ASSIGNED, t.rq, aid, {step = STEP_ACCEPTED})})
elseif op ~= 'decline' then
  error('offer.lua: unknown op ' .. tostring(op))
end

local timeout = ARGV[7] == '1'
free(t)
local reason = timeout and REASON_OFFER_TIMEOUT or REASON_OFFER_REJECTED
local out = {decision(K_RELEASED, t.rq, aid, {reason = reason, why = ARGV[9]})}
if timeout then
  local misses = redis.call('HINCRBY', key('agent', aid), AF_MISSES, 1)
  local a = agent(aid)
  a.miss = misses
  local max = t.rq.max_misses or 0
  if max ~= 0 and misses >= max then set_status(a, AGENT_AWAY) end
end

-- cool-offs = the ticket's and the request's (the later end of an agent in both), the agent's
-- until now + reoffer_ms, the expired ones dropped; in byte order of the ids
-- (engine.core.model cooloff_merged, cooloff_with).
do
  local rq_blob = ARGV[8]
  local rq = cmsgpack.unpack(rq_blob)
  local ends, ids = {}, {}
  local function put(id, u)
    local cur = ends[id]
    if cur == nil then
      ids[#ids + 1] = id
      ends[id] = u
    elseif u > cur then
      ends[id] = u
    end
  end
  for _, c in ipairs(t.ex) do put(c[1], c[2]) end
  for _, c in ipairs(rq.cooloff or {}) do put(c[1], c[2]) end
  put(aid, NOW + (rq.reoffer_ms or 0))
  table.sort(ids, str_lt)
  local ex = {}
  for _, id in ipairs(ids) do
    if NOW < ends[id] then ex[#ex + 1] = {id, ends[id]} end
  end
  ticket_request(t, rq_blob, ex)
end

out[#out + 1] = place(t)
append(out, pull(aid, nil))
return reply_decisions(out)
