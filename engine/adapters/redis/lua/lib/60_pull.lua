-- 60_pull.lua: grab mode (engine/adapters/memory/pull.py, rule for rule): what a claim limit
-- counts, who may claim a ticket, the claimable tickets and taking one. Functions live in CC
-- (no locals: the prelude, the library and a script share Lua's 200).

-- The agent's open tickets (offered or assigned) of queue q.
function CC.held(aid, q)
  local n = 0
  for _, ch in ipairs(redis.call('SMEMBERS', key('chans', aid))) do
    local k = key('open', ch, aid)
    open_flush(k)
    for _, tid in ipairs(redis.call('SMEMBERS', k)) do
      local t = ticket(tid)
      if t and t.rq.queue == q then n = n + 1 end
    end
  end
  return n
end

-- Why agent a may not claim ticket t now (nil: it may): engine.core.pull.claim_reason.
function CC.why_not(a, t)
  local why = first_reason(a, load(a.id, t.rq.channel), t)
  if why == nil then
    local lim = t.rq.claim_limit or 0
    if lim > 0 and CC.held(a.id, t.rq.queue) >= lim then return LATER.CLAIM_LIMIT end
  end
  return why
end

-- Per unpaused queue, of its first SCAN entries, the ones agent a may claim (pooled ones only
-- with 'pooled'; at most 'per' per queue): {score, id, score text, ticket}, best first.
function CC.claimable(a, pooled, per)
  local found = {}
  for _, q in ipairs(redis.call('SMEMBERS', key('queues'))) do
    if not paused(q) then
      local top = redis.call('ZRANGE', key('wq', q), 0, SCAN - 1, 'WITHSCORES')
      local n = 0
      for i = 1, #top, 2 do
        local t = ticket(top[i])
        if (t.rq.pull or not pooled) and CC.why_not(a, t) == nil then
          found[#found + 1] = {tonumber(top[i + 1]), top[i], top[i + 1], t}
          n = n + 1
          if n >= per then break end
        end
      end
    end
  end
  table.sort(found, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return str_lt(x[2], y[2])
  end)
  return found
end

-- The claimer takes waiting ticket t: assigned, never offered (the agent chose it).
function CC.take(t, aid)
  unwait(t)
  local req = t.rq
  local offer = req.offer_ms
  req.offer_ms = 0
  local d = give(t, aid, {step = req.step .. LATER.STEP_CLAIMED})
  req.offer_ms = offer
  return d
end
