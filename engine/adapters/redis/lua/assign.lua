-- assign.lua: route a batch of tickets of one pool in one atomic call.
-- ARGV[4] = op:
--   'assign'  ARGV[5] = n, then n quadruples (ticket id, request msgpack, its cool-off list
--             msgpack, ticket event msgpack): new tickets are placed (assigned/offered/queued);
--             a known ticket gets a duplicate decision.
--   'reroute' ARGV[5] = n, ARGV[6] = who asked ('' for the engine's own escalations),
--             ARGV[7] = why, then n triples (ticket id, request msgpack, ticket event msgpack or
--             '' to keep the stored one): waiting tickets get the new request (their cool-off
--             list is kept) and event (a queue move / priority raise persists) and are placed
--             again; others are ignored. The decisions record who and why.
--   'reopen'  ARGV[5] = 1, then (ticket id, request, cool-offs, ticket event, version or ''): a
--             closed ticket is routed again, unless the version is not newer than its last
--             lifecycle change (a late reopen).
-- Reply: cmsgpack array, one entry per item: the list of that item's decisions.
-- Idempotent per ticket id: a re-run finds the tickets known (or no longer waiting/closed).
-- New tickets of 'assign' are written once each, at the end (ticket_new 'defer',
-- lib/10_cache.lua).

local op = ARGV[4]
local n = tonumber(ARGV[5])
local out = {}

if op == 'assign' then
  for i = 1, n do
    local j = 2 + 4 * i
    local id = ARGV[j]
    local known = ticket_known(id)
    if known then
      out[i] = {state_decision(known)}
    else
      out[i] = {place(ticket_new(id, ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], false, true))}
    end
  end
elseif op == 'reroute' then
  local by, why = ARGV[6], ARGV[7]
  for i = 1, n do
    local j = 5 + 3 * i
    local id, rq_blob, ev = ARGV[j], ARGV[j + 1], ARGV[j + 2]
    local t = ticket(id)
    out[i] = {}
    if t and t.st == WAITING then
      if ev ~= '' then redis.call('HSET', key('ticket', id), TF_EVENT, ev) end
      local old = t.rq
      unwait(t)
      ticket_request(t, rq_blob, nil)
      local d = place(t)
      if by ~= '' then
        d[D_SUPERVISOR] = by
        d[D_WHY] = why
      end
      local new = t.rq
      if d[D_KIND] ~= K_QUEUED then
        out[i] = {d}
      elseif new.step ~= old.step or new.queue ~= old.queue or new.score ~= old.score then
        d[D_KIND] = K_ESCALATED
        out[i] = {d}
      end
    end
  end
elseif op == 'reopen' then
  local t = ticket(ARGV[6])
  out[1] = {}
  local k, vnew = key('ticket', ARGV[6]), ARGV[10]
  if t and t.st == CLOSED and newer(vnew, redis.call('HGET', k, TF_VERSION)) then
    local keep = vnew ~= '' and vnew or redis.call('HGET', k, TF_VERSION)
    local latest = redis.call('HGET', k, TF_LATEST)
    t = ticket_new(ARGV[6], ARGV[7], ARGV[8], ARGV[9], true)
    if keep then redis.call('HSET', k, TF_VERSION, keep) end
    if latest then redis.call('HSET', k, TF_LATEST, latest) end
    out[1] = {place(t)}
  end
elseif op == 'restore' then
  -- ARGV[5] = n, then n sextuples (ticket id, request, cool-offs, ticket event, state, agent or
  -- '', seq): recreate lost tickets as decided (reconcile --repair). Known tickets are left
  -- alone; no pull runs; no decisions.
  for i = 1, n do
    local j = 6 + 7 * (i - 1)
    local id = ARGV[j]
    if not ticket(id) then
      local t = ticket_new(id, ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], false)
      local st, aid = ARGV[j + 4], ARGV[j + 5]
      redis.call('HSET', key('ticket', id), TF_SEQ, ARGV[j + 6])
      if st == WAITING then
        t.fresh = nil
        redis.call('ZADD', key('wq', t.rq.queue), t.rq.score, id)
        redis.call('SADD', key('queues'), t.rq.queue)
        if (t.rq.wake_ms or 0) ~= 0 then
          timer_set(esc_timer(id), t.rq.wake_ms)
        end
      else
        ticket_state(t, st)
        t.ag = aid
        redis.call('HSET', key('ticket', id), TF_AGENT, aid)
        open_add(aid, t.rq.channel, id)
      end
      out[#out + 1] = id
    end
  end
  return reply(out)
else
  error('assign.lua: unknown op ' .. tostring(op))
end

return reply_decisions(out)
