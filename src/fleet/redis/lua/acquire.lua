-- acquire_lease: ARGV[4] epoch, ARGV[5] lease length (ms), ARGV[6] max trials.
-- Grants a trial lease iff the breaker is HalfOpen in that epoch (or the epoch is the Open one
-- that this HalfOpen replaced) and live leases + trial successes < max trials.
-- Replies 'granted' (extra = lease id) | 'full' | 'stale'.
local epoch = arg_id(4, 'epoch')
local lease_ms = arg_int(5, 'lease length')
local max_trials = arg_int(6, 'max trials')
local now = now_ms()
local s = load()
normalize(s, now)
if s.kind ~= 'half_open' or (epoch ~= s.epoch and epoch ~= s.prev_epoch) then
  return reply('stale', s, now)
end
redis.call('ZREMRANGEBYSCORE', LEASES, '-inf', int(now))
if redis.call('ZCARD', LEASES) + s.successes >= max_trials then
  return reply('full', s, now)
end
s.lease_seq = s.lease_seq + 1
redis.call('HSET', STATE, 'lease_seq', int(s.lease_seq))
redis.call('ZADD', LEASES, int(now + lease_ms), int(s.lease_seq))
touch(s, now, lease_ms)
return reply('granted', s, now, s.lease_seq)
