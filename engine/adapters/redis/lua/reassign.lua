-- reassign.lua: a supervisor moves a ticket to an agent.
-- ARGV[4] = ticket id, ARGV[5] = target agent, ARGV[6] = supervisor, ARGV[7] = '1' to force
-- (the only way past the target's capacity), ARGV[8] = the reason text for an unknown target
-- (Python formats it: "unknown agent 'x'"), ARGV[9] = the command's reason (the decision's
-- 'why'; the supervisor is its 'supervisor').
-- A refused move is one rejected decision and changes nothing. A re-run of a done move is
-- refused (REASON_SAME_AGENT). The previous agent, if any, pulls waiting work.
-- Reply: cmsgpack list of decisions.

local tid, to, supervisor, force = ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1'
local why = ARGV[9]
local t = ticket(tid)
local target = agent(to)
local refusal = nil
if not t or t.st == CLOSED then
  refusal = REASON_NOT_OPEN
elseif not target then
  refusal = ARGV[8]
elseif t.ag == to then
  refusal = REASON_SAME_AGENT
elseif not force and load(to, t.rq.channel) >= (target.cap[t.rq.channel] or 0) then
  refusal = REASON_NO_SPARE
end

if refusal ~= nil then
  local req = t and t.rq or
    {id = tid, queue = '', strategy = '', channel = '', priority = 0, ts = 0, step = STEP_INITIAL}
  return reply_decisions({decision(K_REJECTED, req, to,
    {reason = refusal, supervisor = supervisor, forced = force, why = why})})
end

if t.st == WAITING then unwait(t) end
local prev = free(t)
local d = give(t, to, {supervisor = supervisor, forced = force, why = why})
ticket_state(t, ASSIGNED)
timer_del(offer_timer(tid, to))
d[D_KIND] = K_REASSIGNED
d[D_REASON] = (prev ~= nil and prev ~= '') and (REASON_MOVED_FROM .. prev) or ''
local out = {d}
if prev ~= nil then append(out, pull(prev, nil)) end
return reply_decisions(out)
