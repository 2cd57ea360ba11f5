-- 70_reply.lua: writing back what was buffered and cached, and encoding the reply.

-- New tickets' hashes (PEND), buffered open-set additions and the outbox ids, each in as few
-- commands as it takes.
local function flush()
  for _, t in ipairs(PEND) do
    local p = t.pend
    local f = {TF_STATE, p.st, TF_REQUEST, p.rq, TF_COOLOFF, p.ex, TF_EVENT, p.ev}
    if p.ag then
      f[#f + 1] = TF_AGENT
      f[#f + 1] = p.ag
    end
    if p.seq then
      f[#f + 1] = TF_SEQ
      f[#f + 1] = p.seq
      f[#f + 1] = TF_LATEST
      f[#f + 1] = p.ld
    end
    redis.call('HSET', key('ticket', t.id), unpack(f))
    t.pend = nil
  end
  PEND = {}
  for _, k in ipairs(OPENK) do open_flush(k) end
  OPENK = {}
  local n = #OUTBOX
  if n > 0 then
    local due = NOW + OUTBOX_GRACE_MS
    for i = 1, n, 500 do
      local args = {}
      for j = i, math.min(i + 499, n) do
        args[#args + 1] = due
        args[#args + 1] = OUTBOX[j]
      end
      redis.call('ZADD', key('outbox'), unpack(args))
    end
    OUTBOX = {}
  end
end

-- msgpack array header (as cmsgpack writes it)
local schar = string.char
local function mp_array(n)
  if n < 16 then return schar(0x90 + n) end
  if n < 65536 then return schar(0xdc, math.floor(n / 256), n % 256) end
  return schar(0xdd, math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

-- Write back what was cached, then encode the reply. Every script returns through here.
local function reply(out)
  flush()
  for aid in pairs(DIRTY_LAST) do
    redis.call('HSET', key('agent', aid), AF_LAST, NOW_S)
  end
  local rr = {}
  for q in pairs(DIRTY_RR) do
    rr[#rr + 1] = q
    rr[#rr + 1] = RR[q]
  end
  if #rr > 0 then redis.call('HSET', key('rr'), unpack(rr)) end
  return cmsgpack.pack(out)
end

-- reply(stamp(out)), with the stamped decisions' packed strings reused (same bytes as
-- cmsgpack.pack(out)).
local function reply_decisions(out)
  stamp(out)
  reply({})
  local parts = {mp_array(#out)}
  for _, d in ipairs(out) do
    if type(d[D_KIND]) == 'string' then
      parts[#parts + 1] = BLOB[d] or cmsgpack.pack(d)
    else
      parts[#parts + 1] = mp_array(#d)
      for _, x in ipairs(d) do parts[#parts + 1] = BLOB[x] or cmsgpack.pack(x) end
    end
  end
  return table.concat(parts)
end
