-- trip: ARGV[4] expected epoch, ARGV[5] replica id, ARGV[6] open for (ms), ARGV[7] quorum,
-- ARGV[8] quorum window (ms).
-- Opens the circuit iff the breaker is Closed in the expected epoch (compare-and-set) and, with a
-- quorum Q > 1, Q distinct replicas fail: replicas that tripped within the window (this one
-- included) and replicas holding a live failure share (see failures.lua), each counted once.
-- Replies 'opened' | 'voted' (extra = distinct votes in the window) | 'stale' (nothing changed).
local expected = arg_id(4, 'expected epoch')
local replica = ARGV[5]
local open_for = arg_int(6, 'open period')
local quorum = arg_int(7, 'quorum')
local window = arg_int(8, 'quorum window')
local now = now_ms()
local s = load()
normalize(s, now)
if s.kind ~= 'closed' or s.epoch ~= expected then
  return reply('stale', s, now)
end
if quorum > 1 then
  redis.call('ZADD', VOTES, int(now), replica)
  local _, holders = live_failures(now)
  local votes = failing(now, window, holders)
  if votes < quorum then
    touch(s, now, window)
    return reply('voted', s, now, votes)
  end
end
transition(s, now, 'open')
s.open_until = now + open_for
commit(s, now)
return reply('opened', s, now)
