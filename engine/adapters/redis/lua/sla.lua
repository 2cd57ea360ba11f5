-- SLA tracker state (engine/adapters/redis/sla_store.py). ARGV[1] selects the operation;
-- every operation is idempotent, so a retried call changes nothing more.
local op = ARGV[1]

if op == 'apply' then
  -- KEYS: ticket hash. ARGV: op, ttl_s, then field/value pairs added unless present.
  local h = KEYS[1]
  for i = 3, #ARGV, 2 do
    redis.call('HSETNX', h, ARGV[i], ARGV[i + 1])
  end
  redis.call('EXPIRE', h, ARGV[2])
  return redis.call('HGETALL', h)

elseif op == 'settle' then
  -- KEYS: ticket hash, due zset, lease hash. ARGV: op, member, due ('' none), recheck,
  -- number of marks, marks..., then (event id, final key or '', payload) triples.
  local h, due, lease = KEYS[1], KEYS[2], KEYS[3]
  local member, due_ms, recheck, n = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
  local new = {}
  for i = 6, 5 + n do
    if redis.call('HSETNX', h, ARGV[i], '1') == 1 then
      new[#new + 1] = ARGV[i]
    end
  end
  for i = 6 + n, #ARGV, 3 do
    local eid, final, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if redis.call('HEXISTS', h, 'o:' .. eid) == 0 and redis.call('HEXISTS', h, 's:' .. eid) == 0 then
      if final == '' or redis.call('HSETNX', h, 'f:' .. final, eid) == 1 then
        redis.call('HSET', h, 'o:' .. eid, payload)
      end
    end
  end
  local unsent = {}
  local all = redis.call('HGETALL', h)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'o:' then
      unsent[#unsent + 1] = string.sub(all[i], 3)
      unsent[#unsent + 1] = all[i + 1]
    end
  end
  local d = due_ms
  if #unsent > 0 and (d == '' or tonumber(recheck) < tonumber(d)) then
    d = recheck
  end
  if d == '' then
    redis.call('ZREM', due, member)
  else
    redis.call('ZADD', due, d, member)
  end
  redis.call('HDEL', lease, member)
  return {new, unsent}

elseif op == 'sent' then
  -- KEYS: ticket hash. ARGV: op, event ids published; returns those not recorded before.
  local new = {}
  for i = 2, #ARGV do
    redis.call('HDEL', KEYS[1], 'o:' .. ARGV[i])
    if redis.call('HSETNX', KEYS[1], 's:' .. ARGV[i], '1') == 1 then
      new[#new + 1] = ARGV[i]
    end
  end
  return new

elseif op == 'claim' then
  -- KEYS: due zset, lease hash. ARGV: op, watermark, now, lease_ms, limit.
  local wm, now, lease_ms, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local out = {}
  local cands = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', wm, 'LIMIT', 0, limit * 4)
  for _, m in ipairs(cands) do
    local held = redis.call('HGET', KEYS[2], m)
    if not held or tonumber(held) <= now then
      redis.call('HSET', KEYS[2], m, tostring(now + lease_ms))
      out[#out + 1] = m
      if #out >= limit then
        break
      end
    end
  end
  return out

elseif op == 'wm' then
  -- KEYS: watermark hash. ARGV: op, then name/value pairs; a value only ever rises.
  for i = 2, #ARGV, 2 do
    local old = redis.call('HGET', KEYS[1], ARGV[i])
    if not old or tonumber(ARGV[i + 1]) > tonumber(old) then
      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    end
  end
  return 0

elseif op == 'agent' then
  -- KEYS: agent stats hash. ARGV: op, rating or '', handle seconds or '', alpha, ttl_s.
  local h, alpha = KEYS[1], tonumber(ARGV[4])
  local function fold(name, v)
    if v == '' then
      return
    end
    local x = tonumber(v)
    local old = redis.call('HGET', h, name)
    if old then
      x = tonumber(old) + alpha * (x - tonumber(old))
    end
    redis.call('HSET', h, name, string.format('%.6f', x))
  end
  fold('csat', ARGV[2])
  fold('ht', ARGV[3])
  redis.call('EXPIRE', h, ARGV[5])
  return redis.call('HMGET', h, 'csat', 'ht', 'pub')
end
return redis.error_reply('unknown sla operation ' .. tostring(op))
