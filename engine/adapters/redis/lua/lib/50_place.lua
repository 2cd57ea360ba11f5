-- 50_place.lua: placing work (MemoryAgentStore._place/_give/_unwait/_free/_pull).

local function give(t, aid, x)
  local req = t.rq
  local offered = (req.offer_ms or 0) > 0
  local st = offered and OFFERED or ASSIGNED
  t.st, t.ag = st, aid
  local p = t.pend
  if p then
    p.st, p.ag = st, aid
  else
    redis.call('HSET', key('ticket', t.id), TF_STATE, st, TF_AGENT, aid)
  end
  open_add(aid, req.channel, t.id, p ~= nil)
  agent(aid).last = NOW
  DIRTY_LAST[aid] = true
  RR[req.queue] = aid
  DIRTY_RR[req.queue] = true
  local fmax = req.fair_max
  if fmax ~= nil and fmax > 0 then CC.fair_add(req, aid, t.id) end
  if not t.fresh then timer_del(esc_timer(t.id)) end
  if offered then
    timer_set(offer_timer(t.id, aid), NOW + req.offer_ms)
  end
  x = x or {}
  x.load = load(aid, req.channel)
  x.capacity = (agent(aid).cap or {})[req.channel] or 0
  return decision(offered and K_OFFERED or K_ASSIGNED, req, aid, x)
end

-- Assign to the strategy's winner, or park in the waiting queue.
local function place(t)
  local req = t.rq
  local is_paused = paused(req.queue)
  local n, filtered, win, ex = select(t, is_paused or req.pull == true)  -- pooled: for a claim
  local x = {candidates = n, flat = filtered, explain = ex}
  if win == nil then
    ticket_state(t, WAITING)
    t.fresh = nil
    redis.call('ZADD', key('wq', req.queue), req.score, t.id)
    redis.call('SADD', key('queues'), req.queue)
    -- wake at the next escalation step or the end of the earliest running cool-off
    local wake = req.wake_ms or 0
    for _, c in ipairs(t.ex) do
      local u = c[2]
      if NOW < u and (wake == 0 or u < wake) then wake = u end
    end
    -- or when the window of an agent held back by the fairness limit slides (MemoryAgentStore
    -- _Pool.fair_free_at): its (count - limit + 1)-th oldest ticket in the window leaves it
    local fmax = req.fair_max
    if fmax ~= nil and fmax > 0 then
      local win = req.fair_window_ms
      for _, e in ipairs(plan_of(t).live) do
        if e.why == R_FAIR_SHARE then
          local c = CC.fair_count(req.queue, e.id, win)
          local at = redis.call('ZRANGEBYSCORE', key('fair', req.queue, e.id),
            sformat('(%d', NOW - win), '+inf', 'WITHSCORES', 'LIMIT', c - fmax, 1)
          local u = tonumber(at[2]) + win
          if wake == 0 or u < wake then wake = u end
        end
      end
    end
    if wake ~= 0 then
      timer_set(esc_timer(t.id), wake)
    end
    x.reason = is_paused and REASON_PAUSED or (req.pull and LATER.POOLED or REASON_NO_AGENT)
    return decision(K_QUEUED, req, nil, x)
  end
  return give(t, win, x)
end

local function unwait(t)
  local q = t.rq.queue
  local k = key('wq', q)
  redis.call('ZREM', k, t.id)
  if redis.call('ZCARD', k) == 0 then redis.call('SREM', key('queues'), q) end
  timer_del(esc_timer(t.id))
end

-- Take the ticket off its agent; returns the agent id (or nil).
local function free(t)
  local aid = t.ag
  if aid ~= nil then
    open_rem(aid, t.rq.channel, t.id)
    timer_del(offer_timer(t.id, aid))
    redis.call('HDEL', key('ticket', t.id), TF_AGENT)
    redis.call('HSET', key('ticket', t.id), TF_LAST_AGENT, aid)
  end
  t.ag = nil
  return aid
end

local function append(out, list)
  for _, d in ipairs(list) do out[#out + 1] = d end
  return out
end

-- The agent takes the best waiting tickets it is eligible for, while it can (limit: nil = no
-- limit). Per queue (paused ones skipped) the first eligible of the first SCAN entries; the
-- best (score, ticket id) across queues wins.
local function pull(aid, limit)
  local out = {}
  local a = agent(aid)
  if not a or a.st ~= AGENT_AVAILABLE or CC.off(a) then return out end
  while limit == nil or #out < limit do
    local best_sc, best_id = nil, nil
    for _, q in ipairs(redis.call('SMEMBERS', key('queues'))) do
      if not paused(q) then
        local top = redis.call('ZRANGE', key('wq', q), 0, SCAN - 1, 'WITHSCORES')
        for i = 1, #top, 2 do
          local tid, sc = top[i], tonumber(top[i + 1])
          local t = ticket(tid)
          if not t.rq.pull and first_reason(a, load(aid, t.rq.channel), t) == nil then
            if best_id == nil or sc < best_sc or (sc == best_sc and str_lt(tid, best_id)) then
              best_sc, best_id = sc, tid
            end
            break
          end
        end
      end
    end
    if best_id == nil then break end
    local t = ticket(best_id)
    unwait(t)
    out[#out + 1] = give(t, aid, {step = t.rq.step .. STEP_PULLED})
  end
  return out
end
