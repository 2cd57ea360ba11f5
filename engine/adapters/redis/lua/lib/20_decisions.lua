-- 20_decisions.lua: decision rows (laid out by layout.DECISION_FIELDS, decoded by wire.py).

-- A decision row: its fields are set by their D_ index (generated from layout.DECISION_FIELDS,
-- which wire.decision decodes with), so the layout is never spelled here. Every row is full:
-- seq is 0 until stamp_one() stamps it, ts is the call's now.
-- x: candidates, filtered (reason -> count), step, supervisor, why (the command's reason),
-- explain (select's list),
-- forced, reason, duplicate,
-- load and capacity (the agent's open tickets on the channel after the decision, its capacity).
local function decision(kind, req, aid, x)
  x = x or {}
  local flat = x.flat  -- already flat (select), else from x.filtered
  if flat == nil then
    flat = {}
    if x.filtered then
      for why, n in pairs(x.filtered) do
        flat[#flat + 1] = why
        flat[#flat + 1] = n
      end
    end
  end
  local d = blank_decision()
  d[D_KIND] = kind
  d[D_TICKET_ID] = req.id
  d[D_AGENT] = aid or false
  d[D_QUEUE] = req.queue
  d[D_STRATEGY] = req.strategy
  d[D_CHANNEL] = req.channel
  d[D_PRIORITY] = req.priority
  d[D_TICKET_TS] = req.ts
  d[D_CANDIDATES] = x.candidates or 0
  d[D_FILTERED] = flat
  d[D_STEP] = x.step or req.step
  d[D_SUPERVISOR] = x.supervisor or false
  d[D_FORCED] = x.forced or false
  d[D_REASON] = x.reason or ''
  d[D_DUPLICATE] = x.duplicate or false
  d[D_LOAD] = x.load or 0
  d[D_CAPACITY] = x.capacity or 0
  d[D_SEQ] = 0
  d[D_TS] = NOW
  d[D_WHY] = x.why or ''
  d[D_POLICY] = req.policy or ''
  d[LATER.D_EXPLAIN] = x.explain or {}
  return d
end

-- The decision answering a ticket the store already knows.
local DUP_KIND = {[WAITING] = K_QUEUED, [OFFERED] = K_OFFERED, [ASSIGNED] = K_ASSIGNED}
local function state_decision(t)
  return decision(DUP_KIND[t.st] or K_RELEASED, t.rq, t.ag,
    {reason = REASON_DUPLICATE, duplicate = true})
end
