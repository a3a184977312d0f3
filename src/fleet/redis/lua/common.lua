-- protego fleet store: prelude shared by every script (concatenated in front of each one).
-- KEYS[1] = prefix{name}:state   hash
-- KEYS[2] = prefix{name}:leases  zset  member = lease id, score = expiry (ms, Redis TIME)
-- KEYS[3] = prefix{name}:votes   zset  member = replica id, score = vote time (ms, Redis TIME)
-- KEYS[4] = prefix{name}:failures hash field = replica id, value = '<consecutive failures> <expiry ms>'
-- ARGV[1] = pub/sub channel, ARGV[2] = breaker name, ARGV[3] = idle TTL (ms); the rest is per script.
-- Every reply: {status, epoch, kind, open_remaining_ms, reopens, trials_in_flight, trial_successes, extra}
-- Errors raised on purpose start with PROTEGO_GARBAGE or PROTEGO_ARG.
local STATE, LEASES, VOTES, FAILURES = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local CHANNEL, NAME = ARGV[1], ARGV[2]
local MAX_MS = 1000000000000000 -- 1e15 ms (~31,700 years): every duration is clamped to this

local function argerr(what)
  error({err = 'PROTEGO_ARG ' .. what})
end

local function garbage(what)
  error({err = 'PROTEGO_GARBAGE ' .. what})
end

-- A stored value as error text: its first 40 bytes, every byte outside printable ASCII written as
-- \xNN, so an error reply never carries bytes a client cannot read (one breaker's garbage must
-- never look like a broken connection).
local function shown(v)
  return (string.gsub(string.sub(v, 1, 40), '[^\32-\126]', function(c)
    return string.format('\\x%02x', string.byte(c))
  end))
end

-- A non-negative integer argument, clamped to MAX_MS.
local function arg_int(i, what)
  local n = tonumber(ARGV[i])
  if n == nil or n < 0 or n ~= math.floor(n) then argerr(what .. ' is not a non-negative integer') end
  if n > MAX_MS then n = MAX_MS end
  return n
end

-- An epoch or id argument: a non-negative integer below 2^53 (not clamped).
local function arg_id(i, what)
  local n = tonumber(ARGV[i])
  if n == nil or n < 0 or n ~= math.floor(n) or n > 9007199254740992 then argerr(what .. ' is not a non-negative integer') end
  return n
end

local IDLE_TTL = arg_int(3, 'idle ttl')

local function int(n)
  return string.format('%d', n)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function check_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    garbage('key ' .. key .. ' holds a ' .. t .. ', expected a ' .. want)
  end
end

local KINDS = {closed = true, open = true, half_open = true, forced_open = true, disabled = true}

local function field_int(h, f, required)
  local v = h[f]
  if v == nil then
    if required then garbage('key ' .. STATE .. ' has no field ' .. f) end
    return 0
  end
  local n = tonumber(v)
  if n == nil or n < 0 or n ~= math.floor(n) or n > 9007199254740992 then
    garbage('key ' .. STATE .. ' field ' .. f .. ' = ' .. shown(v) .. ' is not a non-negative integer')
  end
  return n
end

-- Loads the breaker's state; a name the store does not hold is Closed in epoch 0.
local function load()
  check_type(STATE, 'hash')
  check_type(LEASES, 'zset')
  check_type(VOTES, 'zset')
  check_type(FAILURES, 'hash')
  local raw = redis.call('HGETALL', STATE)
  local s = {exists = false, epoch = 0, prev_epoch = 0, kind = 'closed', open_until = 0,
             reopens = 0, successes = 0, lease_seq = 0}
  if #raw == 0 then return s end
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  s.exists = true
  s.epoch = field_int(h, 'epoch', true)
  if h.kind == nil then garbage('key ' .. STATE .. ' has no field kind') end
  if not KINDS[h.kind] then garbage('key ' .. STATE .. ' field kind = ' .. shown(h.kind) .. ' is unknown') end
  s.kind = h.kind
  s.prev_epoch = field_int(h, 'prev_epoch', false)
  s.open_until = field_int(h, 'open_until', false)
  s.reopens = field_int(h, 'reopens', false)
  s.successes = field_int(h, 'successes', false)
  s.lease_seq = field_int(h, 'lease_seq', false)
  return s
end

local function remaining(s, now)
  if s.kind == 'open' and s.open_until > now then return s.open_until - now end
  return 0
end

-- The keys' TTL: the idle TTL past the end of the open period.
local function ttl(s, now)
  return IDLE_TTL + remaining(s, now)
end

-- Refreshes the TTL of every key of this breaker; `floor` is a minimum (lease length, vote window).
local function touch(s, now, floor)
  local t = ttl(s, now)
  if floor ~= nil and floor > t then t = floor end
  if t < 1 then t = 1 end
  redis.call('PEXPIRE', STATE, int(t))
  redis.call('PEXPIRE', LEASES, int(t))
  redis.call('PEXPIRE', VOTES, int(t))
  redis.call('PEXPIRE', FAILURES, int(t))
end

local function save(s, now)
  redis.call('HSET', STATE, 'epoch', int(s.epoch), 'prev_epoch', int(s.prev_epoch), 'kind', s.kind,
    'open_until', int(s.open_until), 'reopens', int(s.reopens), 'successes', int(s.successes),
    'lease_seq', int(s.lease_seq))
  s.exists = true
end

-- Message: "1 <epoch> <kind> <open_remaining_ms> <name>" (the name is the rest of the line).
local function publish(s, now)
  redis.call('PUBLISH', CHANNEL, '1 ' .. int(s.epoch) .. ' ' .. s.kind .. ' ' .. int(remaining(s, now)) .. ' ' .. NAME)
end

-- Every transition goes through here: a new epoch that is greater than every earlier one, also
-- across the keys expiring or Redis losing its data (epochs are seeded from Redis time).
local function transition(s, now, kind)
  local next_epoch = s.epoch + 1
  if now > next_epoch then next_epoch = now end
  s.prev_epoch = s.epoch
  s.epoch = next_epoch
  s.kind = kind
  s.successes = 0
  if kind ~= 'open' then s.open_until = 0 end
  redis.call('DEL', LEASES, VOTES, FAILURES)
end

local function commit(s, now, floor)
  save(s, now)
  touch(s, now, floor)
  publish(s, now)
end

-- An Open state whose period has ended on Redis time is HalfOpen: every script applies it first.
local function normalize(s, now)
  if s.kind == 'open' and now >= s.open_until then
    transition(s, now, 'half_open')
    commit(s, now)
  end
end

local function in_flight(now)
  return redis.call('ZCOUNT', LEASES, '(' .. int(now), '+inf')
end

local function reply(status, s, now, extra)
  return {status, s.epoch, s.kind, remaining(s, now), s.reopens, in_flight(now), s.successes, extra or 0}
end

-- The live failure shares (a replica's consecutive failures in this Closed epoch, until its
-- expiry): their sum and the set of replicas holding one. Expired or unreadable shares are removed.
local function live_failures(now)
  local raw = redis.call('HGETALL', FAILURES)
  local total, holders = 0, {}
  for i = 1, #raw, 2 do
    local count, expires = string.match(raw[i + 1], '^(%d+) (%d+)$')
    count, expires = tonumber(count), tonumber(expires)
    if count == nil or expires == nil or count == 0 or expires <= now then
      redis.call('HDEL', FAILURES, raw[i])
    else
      total = total + count
      holders[raw[i]] = true
    end
  end
  return total, holders
end

-- Distinct failing replicas for the quorum: those that tripped within `window` and those holding a
-- live failure share (`holders`), each counted once. Drops votes older than the window.
local function failing(now, window, holders)
  redis.call('ZREMRANGEBYSCORE', VOTES, '-inf', '(' .. int(now - window))
  local n = 0
  for _ in pairs(holders) do n = n + 1 end
  for _, r in ipairs(redis.call('ZRANGE', VOTES, 0, -1)) do
    if not holders[r] then n = n + 1 end
  end
  return n
end
