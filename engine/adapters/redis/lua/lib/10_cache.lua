-- 10_cache.lua: per-call caches of what the script reads (candidate index, agents, tickets,
-- loads and open sets, paused queues, round robin), and the writes that keep them current.

-- Candidate ids per required-skill set: SINTER(avail, skill:<s>...); EL: static eligibility
-- per request shape (plans, see plan_of) and their WATCH index. All reset on any change of
-- an agent.
local CS, EL, WATCH = {}, {}, {}
local function cand_ids(skills)
  local names = {}
  for s in pairs(skills) do names[#names + 1] = s end
  if #names > 1 then table.sort(names, str_lt) end
  local sig = {}
  for i, s in ipairs(names) do sig[i] = #s .. ':' .. s end
  sig = table.concat(sig)
  local ids = CS[sig]
  if ids == nil then
    if #names == 0 then
      ids = redis.call('SMEMBERS', key('avail'))
    else
      local sets = {key('avail')}
      for i, s in ipairs(names) do sets[i + 1] = key('skill', s) end
      ids = redis.call('SINTER', unpack(sets))
    end
    CS[sig] = ids
  end
  return ids
end

-- Agents: id -> {id, st, sk, rg, tm, cap, pf, sc, ss, se, wu, last, miss} or false when unknown
-- (sc schedule, ss/se shift start/end, wu wrap-up end: engine.core.model.Agent).
local AG = {}
local DIRTY_LAST = {}
local function agent(id)
  local a = AG[id]
  if a == nil then
    local h = redis.call('HMGET', key('agent', id), AF_STATUS, AF_DATA, AF_LAST, AF_MISSES)
    if h[1] then
      local d = cmsgpack.unpack(h[2])
      a = {id = id, st = h[1], sk = d.sk, rg = d.rg, tm = d.tm, cap = d.cap, pf = d.pf,
           last = tonumber(h[3]) or 0, miss = tonumber(h[4]) or 0,
           sc = d.sc or '', ss = d.ss or 0, se = d.se or 0, wu = d.wu or 0}
    else
      a = false
    end
    AG[id] = a
  end
  return a
end

local function agent_save(a)
  redis.call('HSET', key('agent', a.id), AF_STATUS, a.st,
    AF_DATA, cmsgpack.pack({sk = a.sk, rg = a.rg, tm = a.tm, cap = a.cap, pf = a.pf,
                            sc = a.sc, ss = a.ss, se = a.se, wu = a.wu}))
  CS, EL, WATCH = {}, {}, {}
end

local function set_status(a, st)
  a.st = st
  redis.call('HSET', key('agent', a.id), AF_STATUS, st)
  if st == AGENT_AVAILABLE then
    redis.call('SADD', key('avail'), a.id)
  else
    redis.call('SREM', key('avail'), a.id)
  end
  CS, EL, WATCH = {}, {}, {}
end

-- Agent hours (engine.core.eligibility hours_reason / off_hours): shift for req (its
-- channel's stop before the end of a shift), wrap-up; off: neither shift nor wrap-up allow any.
function CC.hours(a, req)
  if a.se ~= 0 and (NOW < a.ss or NOW >= a.se - (req.stop_ms or 0)) then return R_SHIFT end
  if NOW < a.wu then return R_WRAP_UP end
  return nil
end

function CC.off(a)
  return (a.se ~= 0 and (NOW < a.ss or NOW >= a.se)) or NOW < a.wu
end

-- The agent's timer: at the next future one of its shift start, shift end and wrap-up end,
-- or none (MemoryAgentStore _agent_timer).
function CC.agent_timer(a)
  local due = 0
  for _, at in ipairs({a.ss, a.se, a.wu}) do
    if at > NOW and (due == 0 or at < due) then due = at end
  end
  local member = TIMER_AGENT .. TIMER_SEP .. TIMER_SEP .. esc(a.id)
  if due == 0 then timer_del(member) else timer_set(member, due) end
end

-- A resolved ticket's agent wraps up until 'untl' (the later of two ends).
function CC.wrap(aid, untl)
  local a = agent(aid)
  if not a then return end
  if untl > a.wu then a.wu = untl end
  agent_save(a)
  CC.agent_timer(a)
end

-- Requests (decoded from the msgpack Python packed) get a set view of their regions and teams.
local function prep(req)
  if req.regions ~= nil then req.rgset = set_of(req.regions) end
  if req.teams ~= nil then req.tmset = set_of(req.teams) end
  return req
end

-- Cool-offs (engine.core.model.Cooloff): ex is a list of {agent id, until ms} sorted by id,
-- exset maps agent id -> until. An agent cools off while NOW < until. A plain id (stored before
-- cool-offs existed) counts as expired. CC.cool_of(list) -> ex, exset.
function CC.cool_of(raw)
  local ex, m = {}, {}
  for _, x in ipairs(raw) do
    if type(x) == 'table' then
      ex[#ex + 1] = x
      m[x[1]] = x[2]
    end
  end
  return ex, m
end

-- Tickets: id -> {id, st, ag, rq, ex, exset, fresh} or false when unknown. 'fresh': created in
-- this call and never queued, so it has no escalation timer to cancel.
local TK = {}
local function ticket(id)
  local t = TK[id]
  if t == nil then
    local h = redis.call('HMGET', key('ticket', id), TF_STATE, TF_AGENT, TF_REQUEST, TF_COOLOFF)
    if h[1] then
      t = {id = id, st = h[1], ag = h[2] or nil, rq = prep(cmsgpack.unpack(h[3]))}
      t.ex, t.exset = CC.cool_of(cmsgpack.unpack(h[4]))
    else
      t = false
    end
    TK[id] = t
  end
  return t
end

-- Tickets whose hash is not written yet ('defer' of ticket_new): t.pend holds its fields
-- (st, ag, rq, ex, ev, seq, ld) until reply() writes them in one HSET. Only a ticket that did
-- not exist before the call is deferred; every write to its hash in the call goes to t.pend.
local PEND = {}

-- ticket(id), with an EXISTS instead of the HMGET when the ticket is not cached and unknown
-- (the usual case for a new ticket).
local function ticket_known(id)
  local t = TK[id]
  if t ~= nil then return t end
  if redis.call('EXISTS', key('ticket', id)) == 0 then
    TK[id] = false
    return false
  end
  return ticket(id)
end

-- A new (or reopened: replace) ticket: waiting, no agent, no expiry. ex_blob: the request's
-- cool-off list, packed by Python.
local function ticket_new(id, rq_blob, ex_blob, ev, replace, defer)
  local req = prep(cmsgpack.unpack(rq_blob))
  local t = {id = id, st = WAITING, rq = req, fresh = true}
  t.ex, t.exset = CC.cool_of(req.cooloff or {})
  local k = key('ticket', id)
  if replace then
    -- A reopened ticket keeps its version: consumers keep the highest seq.
    local seq = redis.call('HGET', k, TF_SEQ)
    redis.call('DEL', k)
    if seq then redis.call('HSET', k, TF_SEQ, seq) end
  end
  if defer and not replace then
    t.pend = {st = WAITING, rq = rq_blob, ex = ex_blob, ev = ev}
    PEND[#PEND + 1] = t
  else
    redis.call('HSET', k, TF_STATE, WAITING, TF_REQUEST, rq_blob, TF_COOLOFF, ex_blob, TF_EVENT, ev)
  end
  TK[id] = t
  return t
end

local function ticket_state(t, st)
  t.st = st
  if t.pend then
    t.pend.st = st
  else
    redis.call('HSET', key('ticket', t.id), TF_STATE, st)
  end
end

local function ticket_request(t, rq_blob, ex)
  t.rq = prep(cmsgpack.unpack(rq_blob))
  redis.call('HSET', key('ticket', t.id), TF_REQUEST, rq_blob)
  if ex ~= nil then
    t.ex, t.exset = CC.cool_of(ex)
    redis.call('HSET', key('ticket', t.id), TF_COOLOFF, cmsgpack.pack(ex))
  end
end

-- Loads: channel -> agent -> SCARD of the open set; CHN: agent -> channels known in chans.
local LD, CHN = {}, {}
-- (channel, agent, load): every change of a cached load goes through it; defined with the
-- plans it keeps current (40_select.lua)
local ld_set
local function load(aid, ch)
  local l = LD[ch]
  if l == nil then
    l = {}
    LD[ch] = l
  end
  local n = l[aid]
  if n == nil then
    n = redis.call('SCARD', key('open', ch, aid))
    l[aid] = n
  end
  return n
end

-- Open-set additions not sent yet: open key -> list of ticket ids (SADD by reply()). Only
-- tickets created in this call (t.pend) are buffered: no open set holds the id of a ticket
-- without a hash, so their SADD adds one member and the load is the cached one + 1.
local OPENQ, OPENK = {}, {}
local function open_flush(k)
  local q = OPENQ[k]
  if q == nil then return end
  OPENQ[k] = nil
  for i = 1, #q, 1000 do
    redis.call('SADD', k, unpack(q, i, math.min(i + 999, #q)))
  end
end

local function open_add(aid, ch, tid, buffered)
  local k = key('open', ch, aid)
  if buffered then
    ld_set(ch, aid, load(aid, ch) + 1)
    local q = OPENQ[k]
    if q == nil then
      q = {}
      OPENQ[k] = q
      OPENK[#OPENK + 1] = k
    end
    q[#q + 1] = tid
  elseif redis.call('SADD', k, tid) == 1 and LD[ch] and LD[ch][aid] then
    ld_set(ch, aid, LD[ch][aid] + 1)
  end
  local known = CHN[aid]
  if known == nil then
    known = {}
    CHN[aid] = known
  end
  if not known[ch] then
    redis.call('SADD', key('chans', aid), ch)
    known[ch] = true
  end
end

local function open_rem(aid, ch, tid)
  local k = key('open', ch, aid)
  open_flush(k)
  if redis.call('SREM', k, tid) == 1 and LD[ch] and LD[ch][aid] then
    ld_set(ch, aid, LD[ch][aid] - 1)
  end
  if redis.call('SCARD', k) == 0 then
    redis.call('SREM', key('chans', aid), ch)
    if CHN[aid] then CHN[aid][ch] = nil end
  end
end

-- Fairness limits: the tickets of a queue given to an agent in a window are the members of
-- fair:<queue>:<agent> scored after now - window. CC.fc: queue -> window -> agent -> count;
-- CC.fair_changed(queue, agent) recounts the plans that watch the count (40_select.lua).
function CC.fair_count(q, aid, win)
  local byq = CC.fc[q]
  if byq == nil then
    byq = {}
    CC.fc[q] = byq
  end
  local c = byq[win]
  if c == nil then
    c = {}
    byq[win] = c
  end
  local n = c[aid]
  if n == nil then
    n = redis.call('ZCOUNT', key('fair', q, aid), sformat('(%d', NOW - win), '+inf')
    c[aid] = n
  end
  return n
end

-- A ticket of req's queue given to aid (MemoryAgentStore _Pool.count_given).
function CC.fair_add(req, aid, tid)
  local k, win = key('fair', req.queue, aid), req.fair_window_ms
  redis.call('ZADD', k, NOW_S, tid)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', sformat('%d', NOW - win))
  redis.call('PEXPIRE', k, sformat('%d', win))
  for _, c in pairs(CC.fc[req.queue] or {}) do c[aid] = nil end
  CC.fair_changed(req.queue, aid)
end

local PZ = {}
local function paused(q)
  local p = PZ[q]
  if p == nil then
    p = redis.call('SISMEMBER', key('paused'), q) == 1
    PZ[q] = p
  end
  return p
end

-- Round robin: queue -> agent last assigned there (false: none).
local RR, DIRTY_RR = {}, {}
local function rr_last(q)
  local last = RR[q]
  if last == nil then
    last = redis.call('HGET', key('rr'), q)
    RR[q] = last
  end
  return last or nil
end
