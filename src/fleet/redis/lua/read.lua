-- read: the breaker's state (applying Open -> HalfOpen when due). Writes nothing else except
-- refreshing the TTLs of a held name once they have run half down (so watched names stay alive).
local now = now_ms()
local s = load()
normalize(s, now)
if s.exists then
  local left = redis.call('PTTL', STATE)
  if left < 0 or left < ttl(s, now) / 2 then touch(s, now) end
end
return reply('ok', s, now)
