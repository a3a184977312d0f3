-- set_manual: ARGV[4] mode (force_open|disable|reset). Always a new epoch.
-- reset also repairs: it deletes whatever the keys hold (even garbage) and stores Closed.
local mode = ARGV[4]
local now = now_ms()
local s
if mode == 'reset' then
  local ok, loaded = pcall(load)
  if ok then s = loaded else
    s = {exists = false, epoch = 0, prev_epoch = 0, kind = 'closed', open_until = 0,
         reopens = 0, successes = 0, lease_seq = 0}
  end
  redis.call('DEL', STATE, LEASES, VOTES, FAILURES)
  transition(s, now, 'closed')
  s.reopens = 0
elseif mode == 'force_open' then
  s = load()
  transition(s, now, 'forced_open')
elseif mode == 'disable' then
  s = load()
  transition(s, now, 'disabled')
else
  argerr('manual mode ' .. tostring(mode) .. ' is unknown')
end
commit(s, now)
return reply('applied', s, now)
