-- due.lua: re-index pools after their due work was fired (standalone: no prelude, no library).
-- KEYS[1] = the due index zset (tenant -> earliest due ms), KEYS[2] = the change counts (hash:
-- tenant -> n); both under one hash tag (keys.due_keys). ARGV: triples (tenant, the count when
-- the pool was handed out, its next due ms or '' for nothing pending). A pool whose count is
-- unchanged gets its next due (or leaves the index); a pool changed meanwhile is left as it
-- is: whoever changed it indexed it (ZADD LT) after the change. Reply: pools re-indexed.
local n = 0
for i = 1, #ARGV, 3 do
  local tenant, seen, nxt = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if (redis.call('HGET', KEYS[2], tenant) or '0') == seen then
    if nxt == '' then
      redis.call('ZREM', KEYS[1], tenant)
    else
      redis.call('ZADD', KEYS[1], nxt, tenant)
    end
    n = n + 1
  end
end
return n
