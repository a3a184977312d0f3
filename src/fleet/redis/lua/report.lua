-- report: ARGV[4] epoch, ARGV[5] lease id, ARGV[6] outcome (success|failure|cancelled),
-- ARGV[7] max trials, ARGV[8] next open period (ms).
-- Only a live lease of the current HalfOpen counts: success adds a trial success (max trials of
-- them close: new epoch), failure reopens (new epoch, reopens + 1, open for next period),
-- cancelled frees the lease. Replies 'applied' | 'stale' (nothing changed).
local epoch = arg_id(4, 'epoch')
local lease = arg_id(5, 'lease id')
local outcome = ARGV[6]
local max_trials = arg_int(7, 'max trials')
local next_open = arg_int(8, 'next open period')
if outcome ~= 'success' and outcome ~= 'failure' and outcome ~= 'cancelled' then
  argerr('outcome ' .. tostring(outcome) .. ' is unknown')
end
local now = now_ms()
local s = load()
normalize(s, now)
if s.kind ~= 'half_open' or (epoch ~= s.epoch and epoch ~= s.prev_epoch) then
  return reply('stale', s, now)
end
local member = int(lease)
local expiry = redis.call('ZSCORE', LEASES, member)
if not expiry then
  return reply('stale', s, now)
end
redis.call('ZREM', LEASES, member)
if tonumber(expiry) <= now then
  return reply('stale', s, now)
end
if outcome == 'cancelled' then
  touch(s, now)
  return reply('applied', s, now)
end
if outcome == 'success' then
  s.successes = s.successes + 1
  if s.successes >= max_trials then
    transition(s, now, 'closed')
    s.reopens = 0
    commit(s, now)
  else
    redis.call('HSET', STATE, 'successes', int(s.successes))
    touch(s, now)
  end
  return reply('applied', s, now)
end
transition(s, now, 'open')
s.reopens = s.reopens + 1
s.open_until = now + next_open
commit(s, now)
return reply('applied', s, now)
