-- 60_outbox.lua: versioning decisions for the outbox (MemoryAgentStore._stamp).

-- Outbox (engine/ports.py): every non-duplicate decision about a known ticket bumps the
-- ticket's seq and carries it (D_SEQ); the latest one is kept in the ticket hash (TF_LATEST)
-- and its id in the outbox zset (score = when it may be handed out again) until acked.
-- The stamped decision is packed once (BLOB: decision table -> msgpack, its D_TS the call's
-- now, kept for a re-publication) and that string is both TF_LATEST and the decision's entry
-- in the reply. A duplicate carries the ticket's current seq; others keep seq 0. Outbox ids
-- are added by reply(), in one ZADD.
local BLOB, OUTBOX = {}, {}
local function stamp_one(d)
  local tid = d[D_TICKET_ID]
  local t = TK[tid]
  local p = t and t.pend
  if d[D_DUPLICATE] then
    if p then
      d[D_SEQ] = p.seq or 0
    else
      d[D_SEQ] = tonumber(redis.call('HGET', key('ticket', tid), TF_SEQ) or '0')
    end
  elseif d[D_KIND] ~= K_REJECTED and d[D_KIND] ~= LATER.PAUSED and d[D_KIND] ~= LATER.RESUMED
      and (p or redis.call('EXISTS', key('ticket', tid)) == 1) then
    local seq
    if p then
      seq = (p.seq or 0) + 1
      p.seq = seq
    else
      seq = redis.call('HINCRBY', key('ticket', tid), TF_SEQ, 1)
    end
    d[D_SEQ] = seq
    local blob = cmsgpack.pack(d)
    BLOB[d] = blob
    if p then
      p.ld = blob
    else
      redis.call('HSET', key('ticket', tid), TF_LATEST, blob)
    end
    OUTBOX[#OUTBOX + 1] = tid
  end
end

-- out: a list of decisions, or (assign.lua) a list of per-item lists of decisions.
local function stamp(out)
  for _, d in ipairs(out) do
    if type(d[D_KIND]) == 'string' then
      stamp_one(d)
    else
      for _, x in ipairs(d) do stamp_one(x) end
    end
  end
  return out
end
