-- GCRA decision for one key; mirrors gcra() in limiter.go line by line.
-- KEYS[1]  the key (hash-tagged by the caller)
-- ARGV[1]  emission interval, µs per event (integer >= 1)
-- ARGV[2]  burst (integer >= 1)
-- ARGV[3]  cost n (integer, 0 <= n <= burst)
-- Returns {allowed 0|1, remaining, retry_after µs, reset_after µs, now µs}.
--
-- Every number is an integer below 2^53, so Lua's doubles hold it exactly.
-- Time is Redis's own, so every client sees one clock. Since Redis 5 a
-- script is replicated by its effects, so calling TIME before a write
-- needs no redis.replicate_commands().
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local tat = tonumber(redis.call('GET', key)) or now
if tat < now then
  tat = now
end
local new_tat = tat + n * interval
local allow_at = new_tat - burst * interval
local diff = now - allow_at
if diff < 0 then
  return {0, 0, -diff, tat - now, now}
end

-- Integer division: a double quotient may round up to the next integer.
local remaining = math.floor(diff / interval)
if remaining * interval > diff then
  remaining = remaining - 1
elseif (remaining + 1) * interval <= diff then
  remaining = remaining + 1
end

local reset_after = new_tat - now
if n > 0 then
  -- The key lives as long as it matters: once new_tat has passed, a
  -- missing key and the stored one decide alike. Redis counts the TTL from
  -- its millisecond clock, up to 1 ms behind TIME: hence the + 1.
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil(reset_after / 1000) + 1)
end
return {1, remaining, 0, reset_after, now}
