-- release.lua: a ticket leaves (resolved, closed, cancelled).
-- ARGV[4] = ticket id, ARGV[5] = reason.
-- Frees its agent (or takes it out of its waiting queue), marks it closed (the record expires
-- after CLOSED_TTL_S), then the freed agent pulls waiting work. Unknown or closed: no decision,
-- so a re-run changes nothing.
-- Reply: cmsgpack list of decisions.

local t = ticket(ARGV[4])
if not t or t.st == CLOSED then return reply_decisions({}) end
if t.st == WAITING then unwait(t) end
local aid = free(t)
ticket_state(t, CLOSED)
redis.call('EXPIRE', key('ticket', t.id), CLOSED_TTL_S)
local out = {decision(K_RELEASED, t.rq, aid, {reason = ARGV[5]})}
if aid ~= nil then append(out, pull(aid, nil)) end
return reply_decisions(out)
