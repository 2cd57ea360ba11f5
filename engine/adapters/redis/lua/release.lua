-- release.lua: a ticket leaves (resolved, closed, cancelled).
-- ARGV[4] = ticket id, ARGV[5] = reason, ARGV[6] = the event's version or '', ARGV[7] = '1' when
-- the reason starts a wrap-up (engine.ports.RELEASE_RESOLVED).
-- Frees its agent (or takes it out of its waiting queue), marks it closed (the record expires
-- after CLOSED_TTL_S); the agent of an assigned ticket wraps up for the request's wrap_up_ms
-- (CC.wrap); then the freed agent pulls waiting work. Closed, or a version not newer
-- than the ticket's last lifecycle change (a late release after a reopen): no decision, so a
-- re-run changes nothing. Unknown: REPLY_UNKNOWN_TICKET.
-- Reply: cmsgpack list of decisions.

local t = ticket(ARGV[4])
if not t then return cmsgpack.pack(REPLY_UNKNOWN_TICKET) end
if t.st == CLOSED then return reply_decisions({}) end
local vnew = ARGV[6]
if vnew ~= '' then
  if not newer(vnew, redis.call('HGET', key('ticket', t.id), TF_VERSION)) then
    return reply_decisions({})
  end
  redis.call('HSET', key('ticket', t.id), TF_VERSION, vnew)
end
if t.st == WAITING then unwait(t) end
local worked = t.st == ASSIGNED
local aid = free(t)
ticket_state(t, CLOSED)
redis.call('EXPIRE', key('ticket', t.id), CLOSED_TTL_S)
local out = {decision(K_RELEASED, t.rq, aid, {reason = ARGV[5]})}
if aid ~= nil and worked and ARGV[7] == '1' and (t.rq.wrap_up_ms or 0) > 0 then
  CC.wrap(aid, NOW + t.rq.wrap_up_ms)
end
if aid ~= nil then append(out, pull(aid, nil)) end
return reply_decisions(out)
