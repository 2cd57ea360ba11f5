-- 40_select.lua: candidates and strategies (MemoryAgentStore._candidates +
-- engine/core/strategies.py choose): per-shape plans kept current as loads change, and select().

local function skill_sum(a, skills)
  local s = 0
  for skill in pairs(skills) do s = s + (a.sk[skill] or 0) end
  return s
end

-- A request's shape: everything eligibility reads from it (channel, preferred agent, cool-offs,
-- skills, regions, teams). Plans are found by walking EL as a tree keyed by the shape's parts in
-- turn (no string is built): channel, preferred agent (or NONE), each skill and its level, SEP,
-- each region, SEP (or NONE: no region rule), each id cooling off at NOW, SEP, each team, SEP
-- (or NONE: no team rule), the channel's stop before a shift's end (ms), the queue, limit and
-- window of a fairness limit (or NONE); the leaf holds the plan under PLAN. NONE, SEP, NAN and
-- PLAN are tables, so they never equal a part; a NaN level (not a valid key) is NAN. No
-- shape's path is a prefix of another's.
local NONE, SEP, NAN, PLAN = {}, {}, {}, {}
local function shape_leaf(t)
  local req = t.rq
  local node = EL
  local function step(k)
    local nxt = node[k]
    if nxt == nil then
      nxt = {}
      node[k] = nxt
    end
    node = nxt
  end
  step(req.channel)
  step(req.preferred == nil and NONE or req.preferred)
  for skill, level in pairs(req.skills) do
    step(skill)
    step(level == level and level or NAN)
  end
  step(SEP)
  if req.regions == nil then
    step(NONE)
  else
    for _, r in ipairs(req.regions) do step(r) end
    step(SEP)
  end
  for _, x in ipairs(t.ex) do
    if NOW < x[2] then step(x[1]) end
  end
  step(SEP)
  if req.teams == nil then
    step(NONE)
  else
    for _, m in ipairs(req.teams) do step(m) end
    step(SEP)
  end
  step(req.stop_ms or 0)
  if (req.fair_max or 0) > 0 then
    step(req.queue)
    step(req.fair_max)
    step(req.fair_window_ms)
  else
    step(NONE)
  end
  return node
end

-- first_reason split around its load-dependent rules: pre = first failing of status, shift,
-- wrap_up, excluded, not_preferred, no_channel; cap; post = first failing of skill, region, team.
-- first_reason(load) = pre, else capacity if load >= cap, else fair_share if the agent's count
-- in the queue's window is at the limit, else post.
local function static(a, t)
  local req = t.rq
  local cap = a.cap[req.channel] or 0
  if a.st ~= AGENT_AVAILABLE then return R_STATUS, cap, nil end
  if a.se ~= 0 or a.wu ~= 0 then
    local why = CC.hours(a, req)
    if why ~= nil then return why, cap, nil end
  end
  local cool = t.exset[a.id]
  if cool ~= nil and NOW < cool then return R_EXCLUDED, cap, nil end
  if req.preferred ~= nil and a.id ~= req.preferred then return R_NOT_PREFERRED, cap, nil end
  if cap <= 0 then return R_NO_CHANNEL, cap, nil end
  return nil, cap, CC.post_reason(a, req)
end

-- Plans: per request shape, the candidates (available agents holding every required skill)
-- split once per call into 'fixed' (reason -> count of those failing a load-independent rule
-- before capacity: status, excluded, not_preferred, no_channel) and 'live' entries {id, cap,
-- post, a (agent), ssum (skill sum), why (current first failing rule: capacity, post, or nil
-- = eligible)} in candidate order; 'cnt' (reason -> count) and 'n' (eligible) over the live
-- ones are kept current as loads change (ld_set), so a ticket does not walk the candidates to
-- count them. 'sorted': the live entries in agent id order (round robin), made when needed.
-- WATCH: channel -> agent -> the agent's live entries in the plans on that channel (a chain
-- through e.nxt). Plans are dropped with EL on any change of an agent. Entries of a plan with a
-- fairness limit (fmax, fwin) also chain through e.fnxt from EL[CC][queue][agent] (the table
-- CC as a key: never a channel), so a ticket given in the queue recounts them.
local function classify(e, ld)
  if ld >= e.cap then return R_CAPACITY end
  if e.fmax ~= nil and CC.fair_count(e.plan.queue, e.id, e.fwin) >= e.fmax then
    return R_FAIR_SHARE
  end
  return e.post
end

local function recount(e, why)
  local p, old = e.plan, e.why
  if old == why then return end
  if old == nil then p.n = p.n - 1 else p.cnt[old] = p.cnt[old] - 1 end
  if why == nil then p.n = p.n + 1 else p.cnt[why] = (p.cnt[why] or 0) + 1 end
  e.why = why
  p.flat = nil
end

function CC.fair_changed(q, aid)
  local w = EL[CC]
  local e = w and w[q] and w[q][aid]
  while e do
    recount(e, classify(e, load(aid, e.plan.ch)))
    e = e.fnxt
  end
end

ld_set = function(ch, aid, v)
  LD[ch][aid] = v
  local w = WATCH[ch]
  local e = w and w[aid]
  while e do
    recount(e, classify(e, v))
    e = e.nxt
  end
end

local function plan_of(t)
  local leaf = shape_leaf(t)
  local p = leaf[PLAN]
  if p == nil then
    local req = t.rq
    local ch = req.channel
    p = {fixed = {}, cnt = {}, n = 0, live = {}, ch = ch, queue = req.queue}
    local w = WATCH[ch]
    if w == nil then
      w = {}
      WATCH[ch] = w
    end
    local fmax, fw = req.fair_max, nil
    if fmax ~= nil and fmax > 0 then
      local all = EL[CC]
      if all == nil then
        all = {}
        EL[CC] = all
      end
      fw = all[req.queue]
      if fw == nil then
        fw = {}
        all[req.queue] = fw
      end
    else
      fmax = nil
    end
    local ids = cand_ids(req.skills)
    for i = 1, #ids do
      local a = agent(ids[i])
      if a then
        local pre, cap, post = static(a, t)
        if pre ~= nil then
          p.fixed[pre] = (p.fixed[pre] or 0) + 1
        else
          local e = {id = a.id, cap = cap, post = post, a = a, ssum = skill_sum(a, req.skills),
                     plan = p, nxt = w[a.id]}
          if fw ~= nil then
            e.fmax, e.fwin, e.fnxt = fmax, req.fair_window_ms, fw[a.id]
            fw[a.id] = e
          end
          local why = classify(e, load(a.id, ch))
          e.why = why
          if why == nil then p.n = p.n + 1 else p.cnt[why] = (p.cnt[why] or 0) + 1 end
          p.live[#p.live + 1] = e
          w[a.id] = e
        end
      end
    end
    leaf[PLAN] = p
  end
  return p
end

local RR_SCANS = 8

-- The live entries in agent id order (id_lt is byte order whether or not ranks are known).
local function sorted(p)
  local s = p.sorted
  if s == nil then
    s = {}
    for i, e in ipairs(p.live) do s[i] = e end
    table.sort(s, function(x, y) return id_lt(x.id, y.id) end)
    p.sorted = s
  end
  return s
end

-- The eligible candidates of ticket t (count), the first failing rule of the others (flat list
-- reason, count, ...: kept in the plan until a count changes), and -- unless 'hold' (paused
-- queue) -- the strategy's winner and its explain list (layout.DECISION_FIELDS 'explain':
-- {score} or {score, runner-up, its score}).
local function select(t, hold)
  local req = t.rq
  local strategy = req.strategy
  local rr = strategy == S_ROUND_ROBIN
  local ll, li, sw = strategy == S_LEAST_LOADED, strategy == S_LONGEST_IDLE,
    strategy == S_SKILL_WEIGHTED
  if not hold and not (rr or ll or li or sw or strategy == S_PERFORMANCE_WEIGHTED) then
    error('unknown strategy ' .. tostring(strategy))
  end
  local p = plan_of(t)
  local filtered = p.flat
  if filtered == nil then
    filtered = {}
    for why, c in pairs(p.fixed) do
      filtered[#filtered + 1] = why
      filtered[#filtered + 1] = c
    end
    for why, c in pairs(p.cnt) do
      if c > 0 then
        filtered[#filtered + 1] = why
        filtered[#filtered + 1] = c
      end
    end
    p.flat = filtered
  end
  local n = p.n
  if hold or n == 0 then return n, filtered, nil end
  local best
  if rr then
    -- ordered by agent id: the first eligible id after the last one this queue assigned to,
    -- else the first eligible. The first few tickets of a plan scan its live entries (like a
    -- sort, that compares every eligible id); after that the sorted list pays off. The
    -- runner-up (explain) is the next eligible id after the winner's, wrapping around.
    local last = rr_last(req.queue)
    p.rr_uses = (p.rr_uses or 0) + 1
    if p.sorted == nil and p.rr_uses <= RR_SCANS then
      local first, after
      local live = p.live
      for i = 1, #live do
        local e = live[i]
        if e.why == nil then
          local id = e.id
          if first == nil or id_lt(id, first) then first = id end
          if last ~= nil and id_lt(last, id) and (after == nil or id_lt(id, after)) then
            after = id
          end
        end
      end
      best = after or first
      local nxt
      for i = 1, #live do
        local e = live[i]
        if e.why == nil then
          local id = e.id
          if id_lt(best, id) and (nxt == nil or id_lt(id, nxt)) then nxt = id end
        end
      end
      if nxt == nil and first ~= best then nxt = first end
      return n, filtered, best, nxt and {0, nxt, 0} or {0}
    end
    local s = sorted(p)
    local lo = 1
    if last ~= nil then
      -- lo: the first position whose id is after 'last'
      local hi = #s + 1
      while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if id_lt(last, s[mid].id) then hi = mid else lo = mid + 1 end
      end
    end
    -- from position lo on, wrapping around: the first eligible wins, the next is runner-up
    local m = #s
    for j = 0, m - 1 do
      local e = s[(lo - 1 + j) % m + 1]
      if e.why == nil then
        if best ~= nil then return n, filtered, best, {0, e.id, 0} end
        best = e.id
      end
    end
    if best == nil then error('select: no eligible entry') end
    return n, filtered, best, {0}
  end
  local loads = LD[req.channel]
  local b1, b2, be
  local s1, s2, se  -- the runner-up: second in the same order
  local live = p.live
  for i = 1, #live do
    local e = live[i]
    if e.why == nil then
      local id, ld = e.id, loads[e.id]
      -- the strategies' sort keys, with exactly the float expressions of strategies.py;
      -- k2 is nil for one-key strategies, ties go to the lowest agent id
      local k1, k2
      if ll then
        k1, k2 = ld / e.cap, e.a.last
      elseif li then
        k1 = e.a.last
      elseif sw then
        k1, k2 = -e.ssum, ld / e.cap
      else -- S_PERFORMANCE_WEIGHTED
        k1 = -(e.a.pf * (1.0 - ld / e.cap))
      end
      -- (k1, k2, id) < (b1, b2, best), as Python compares the key tuples
      local take
      if best == nil then
        take = true
      elseif k1 ~= b1 then
        take = k1 < b1
      elseif k2 ~= b2 then
        take = k2 < b2
      else
        take = id_lt(id, best)
      end
      if take then
        s1, s2, se = b1, b2, be
        best, b1, b2, be = id, k1, k2, e
      else
        -- (k1, k2, id) < (s1, s2, runner-up)
        if se == nil then
          take = true
        elseif k1 ~= s1 then
          take = k1 < s1
        elseif k2 ~= s2 then
          take = k2 < s2
        else
          take = id_lt(id, se.id)
        end
        if take then s1, s2, se = k1, k2, e end
      end
    end
  end
  -- explain: strategies.pick_score of the winner and the runner-up (same float expressions)
  local function pick_score(e)
    local ld = loads[e.id]
    if ll then return 1.0 - ld / e.cap end
    if li then return -e.a.last end
    if sw then return e.ssum end
    return e.a.pf * (1.0 - ld / e.cap)
  end
  if se == nil then return n, filtered, best, {pick_score(be)} end
  return n, filtered, best, {pick_score(be), se.id, pick_score(se)}
end
