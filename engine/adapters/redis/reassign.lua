-- reassign.lua: a supervisor moves a ticket to an agent.
-- ARGV[4] = ticket id, ARGV[5] = target agent, ARGV[6] = supervisor, ARGV[7] = '1' to force
-- (the only way past the target's capacity), ARGV[8] = the reason text for an unknown target
-- (Python formats it: "unknown agent 'x'").
-- A refused move is one 'rejected' decision and changes nothing. A re-run of a done move is
-- refused ("already with that agent"). The previous agent, if any, pulls waiting work.
-- Reply: cmsgpack list of decisions.

local tid, to, supervisor, force = ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1'
local t = ticket(tid)
local target = agent(to)
local why = nil
if not t or t.st == CLOSED then
  why = 'ticket is not open'
elseif not target then
  why = ARGV[8]
elseif t.ag == to then
  why = 'already with that agent'
elseif not force and load(to, t.rq.channel) >= (target.cap[t.rq.channel] or 0) then
  why = 'target agent has no spare capacity (use force)'
end

if why ~= nil then
  local req = t and t.rq or
    {id = tid, queue = '', strategy = '', channel = '', priority = 0, ts = 0, step = 'initial'}
  return reply_decisions({decision('rejected', req, to,
    {reason = why, supervisor = supervisor, forced = force})})
end

if t.st == WAITING then unwait(t) end
local prev = free(t)
local d = give(t, to, {supervisor = supervisor, forced = force})
ticket_state(t, ASSIGNED)
timer_del(offer_timer(tid, to))
d[D_KIND] = 'reassigned'
d[D_REASON] = (prev ~= nil and prev ~= '') and ('from ' .. prev) or ''
local out = {d}
if prev ~= nil then append(out, pull(prev, nil)) end
return reply_decisions(out)
