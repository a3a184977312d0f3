-- count_failures: ARGV[4] expected epoch, ARGV[5] replica id, ARGV[6] this replica's consecutive
-- failures, ARGV[7] threshold, ARGV[8] share window (ms), ARGV[9] open for (ms), ARGV[10] quorum,
-- ARGV[11] quorum window (ms).
-- Iff the breaker is Closed in the expected epoch: stores the replica's share (0 removes it), expiring
-- `window` from now, and opens the circuit (compare-and-set, as trip.lua) iff the live shares sum to
-- the threshold and, with a quorum Q > 1, Q distinct replicas fail (live shares and trips within the
-- quorum window). Replies 'opened' | 'counted' (extra = sum of live shares) | 'stale' (nothing changed).
local expected = arg_id(4, 'expected epoch')
local replica = ARGV[5]
local count = arg_int(6, 'failures')
local threshold = arg_int(7, 'threshold')
local window = arg_int(8, 'failure window')
local open_for = arg_int(9, 'open period')
local quorum = arg_int(10, 'quorum')
local quorum_window = arg_int(11, 'quorum window')
if threshold < 1 then argerr('threshold must be at least 1') end
if window < 1 then argerr('failure window must be at least 1 ms') end
local now = now_ms()
local s = load()
normalize(s, now)
if s.kind ~= 'closed' or s.epoch ~= expected then
  return reply('stale', s, now)
end
if count > 0 then
  redis.call('HSET', FAILURES, replica, int(count) .. ' ' .. int(now + window))
else
  redis.call('HDEL', FAILURES, replica)
end
local total, holders = live_failures(now)
if total >= threshold and (quorum <= 1 or failing(now, quorum_window, holders) >= quorum) then
  transition(s, now, 'open')
  s.open_until = now + open_for
  commit(s, now)
  return reply('opened', s, now)
end
touch(s, now, window)
return reply('counted', s, now, total)
