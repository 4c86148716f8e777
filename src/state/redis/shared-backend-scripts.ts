/**
 * Lua scripts of the response engine's Redis structures: shared maps (see shared-map.ts) and
 * the audit stream. Time comes from Redis itself (TIME), so replicas with drifting clocks agree
 * on when an entry expires. Scripts that change a map also PUBLISH the change from inside the
 * script: announcements then leave in exactly the order the changes were made, which a replica
 * needs to apply them in sequence.
 */

/** Shared helpers, prepended to each map script. */
const MAP_HELPERS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Entries past their deadline leave the hash; bounded work per call.
local function prune(entries, deadlines, now)
  local expired = redis.call('ZRANGEBYSCORE', deadlines, '-inf', now, 'LIMIT', 0, 256)
  if #expired == 0 then return end
  redis.call('HDEL', entries, unpack(expired))
  redis.call('ZREM', deadlines, unpack(expired))
end

local function version(meta)
  local v = redis.call('HMGET', meta, 'epoch', 'seq')
  return v[1] or '', tonumber(v[2] or '0')
end

-- A new epoch only when the bookkeeping is gone (first write, or Redis lost it).
local function bump(meta, candidate)
  redis.call('HSETNX', meta, 'epoch', candidate)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  return redis.call('HGET', meta, 'epoch'), seq
end

-- Keys live as long as their longest-lived entry: only ever lengthened.
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

-- Put, or put-if-absent; returns {created 0|1, value now stored, epoch, seq}.
local function map_put(now, field, value, ttl, only_if_absent, epoch_candidate, channel)
  prune(KEYS[1], KEYS[2], now)
  if only_if_absent == '1' then
    local existing = redis.call('HGET', KEYS[1], field)
    if existing then
      local epoch, seq = version(KEYS[3])
      return {0, existing, epoch, seq}
    end
  end
  redis.call('HSET', KEYS[1], field, value)
  redis.call('ZADD', KEYS[2], now + ttl, field)
  local epoch, seq = bump(KEYS[3], epoch_candidate)
  for i = 1, 3 do extend(KEYS[i], ttl) end
  redis.call('PUBLISH', channel, cjson.encode({op = 'put', key = field, value = value, ttlMs = ttl, epoch = epoch, seq = seq}))
  return {1, value, epoch, seq}
end

-- Remove, optionally only when the field holds an expected value; returns {removed 0|1,
-- removed value or "", epoch, seq}.
local function map_remove(now, field, conditional, expected, epoch_candidate, channel)
  prune(KEYS[1], KEYS[2], now)
  local current = redis.call('HGET', KEYS[1], field)
  if not current or (conditional == '1' and current ~= expected) then
    local epoch, seq = version(KEYS[3])
    return {0, '', epoch, seq}
  end
  redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[2], field)
  local epoch, seq = bump(KEYS[3], epoch_candidate)
  redis.call('PUBLISH', channel, cjson.encode({op = 'remove', key = field, epoch = epoch, seq = seq}))
  return {1, current, epoch, seq}
end
`;

/**
 * Put, or put-if-absent.
 * KEYS[1] entries (hash field → value)   KEYS[2] deadlines (sorted set field → deadline ms)
 * KEYS[3] meta (hash: epoch, seq)
 * ARGV[1] field   ARGV[2] value   ARGV[3] ttl ms   ARGV[4] "1" = only if absent
 * ARGV[5] epoch to use if none exists   ARGV[6] channel
 * Returns {created 0|1, value now stored, epoch, seq}.
 */
export const MAP_PUT_SCRIPT = `${MAP_HELPERS}
return map_put(now_ms(), ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6])
`;

/**
 * Remove, optionally only when the field holds an expected value.
 * KEYS as MAP_PUT_SCRIPT.
 * ARGV[1] field   ARGV[2] "1" = conditional   ARGV[3] expected value   ARGV[4] epoch candidate
 * ARGV[5] channel
 * Returns {removed 0|1, removed value or "", epoch, seq}.
 */
export const MAP_REMOVE_SCRIPT = `${MAP_HELPERS}
return map_remove(now_ms(), ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
`;

/**
 * An audited change (see AuditedChange in ../shared-map.ts): the map change, its audit record
 * and the answer kept under the idempotency key, in one script, so all three happen or none.
 *
 * The deadline is in Redis time. A command sent while Redis hangs waits in its input buffer and
 * runs when Redis resumes, long after the caller answered "nothing was changed": past its
 * deadline the script refuses ("late") and changes nothing, so that answer stays true.
 *
 * KEYS[1..3] the map's, as MAP_PUT_SCRIPT   KEYS[4] audit stream   KEYS[5] idempotency record
 * ARGV[1] op ("put" | "remove")   ARGV[2] deadline ms (Redis time)   ARGV[3] idempotency ttl ms
 * ARGV[4] fingerprint   ARGV[5] audit record (JSON)   ARGV[6] max entries   ARGV[7] max age ms
 * ARGV[8…] the op's own arguments, as MAP_PUT_SCRIPT's or MAP_REMOVE_SCRIPT's ARGV.
 * Returns JSON: {outcome = "done" | "replayed" | "late" | "mismatch", changed, value, epoch,
 * seq, auditId}.
 */
export const MAP_AUDITED_SCRIPT = `${MAP_HELPERS}
local now = now_ms()
local seen = redis.call('GET', KEYS[5])
if seen then
  local kept = cjson.decode(seen)
  if kept.fingerprint ~= ARGV[4] then return cjson.encode({outcome = 'mismatch'}) end
  kept.outcome = 'replayed'
  return cjson.encode(kept)
end
if now > tonumber(ARGV[2]) then return cjson.encode({outcome = 'late'}) end
local reply
if ARGV[1] == 'put' then
  reply = map_put(now, ARGV[8], ARGV[9], tonumber(ARGV[10]), ARGV[11], ARGV[12], ARGV[13])
else
  reply = map_remove(now, ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12])
end
local result = {changed = reply[1], value = reply[2], epoch = reply[3], seq = reply[4], fingerprint = ARGV[4]}
if reply[1] == 1 then
  result.auditId = redis.call('XADD', KEYS[4], 'MAXLEN', ARGV[6], '*', 'r', ARGV[5])
  redis.call('XTRIM', KEYS[4], 'MINID', now - tonumber(ARGV[7]))
  redis.call('PEXPIRE', KEYS[4], ARGV[7])
end
redis.call('SET', KEYS[5], cjson.encode(result), 'PX', ARGV[3])
result.outcome = 'done'
return cjson.encode(result)
`;

/** Redis time in ms, from the node that holds KEYS[1] (in a Cluster, the slot's node). */
export const TIME_SCRIPT = `
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * The live values of some keys (an entry past its deadline reads as absent, pruned or not).
 * KEYS as MAP_PUT_SCRIPT. ARGV the keys of the map to read.
 * Returns one value or nil per ARGV.
 */
export const MAP_READ_SCRIPT = `${MAP_HELPERS}
local now = now_ms()
local out = {}
for i, key in ipairs(ARGV) do
  local deadline = redis.call('ZSCORE', KEYS[2], key)
  out[i] = false
  if deadline and tonumber(deadline) > now then out[i] = redis.call('HGET', KEYS[1], key) end
end
return out
`;

/**
 * Every live entry, atomically with the change number it reflects.
 * KEYS as MAP_PUT_SCRIPT. No ARGV.
 * Returns {epoch, seq, now ms, {field, value, …}, {field, deadline, …}}.
 */
export const MAP_SNAPSHOT_SCRIPT = `${MAP_HELPERS}
local now = now_ms()
prune(KEYS[1], KEYS[2], now)
local epoch, seq = version(KEYS[3])
return {epoch, seq, now, redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')}
`;

/**
 * Append one record to the audit stream and apply retention: at most ARGV[1] entries and none
 * older than ARGV[2] ms (exact trimming: audit writes are rare, and an approximate trim could
 * keep much more than the policy allows). The stream expires ARGV[2] ms after its last write.
 * KEYS[1] stream
 * ARGV[1] max entries   ARGV[2] max age ms   ARGV[3] record (JSON)
 * Returns the entry id ("<ms>-<seq>").
 */
export const AUDIT_APPEND_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'r', ARGV[3])
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return id
`;

/**
 * Add counts to a minute and an hour bucket of decision statistics (hashes), keeping each to at
 * most ARGV[1] fields: a field the bucket lacks is only created while it has room, else its
 * count goes to the overflow field ARGV[4]. Both buckets expire after their retention.
 * KEYS[1] minute hash   KEYS[2] hour hash
 * ARGV[1] max fields   ARGV[2] minute ttl ms   ARGV[3] hour ttl ms   ARGV[4] overflow field
 * ARGV[5…] field, count, …
 */
export const STATS_ADD_SCRIPT = `
local max = tonumber(ARGV[1])
for k = 1, 2 do
  local key = KEYS[k]
  local size = redis.call('HLEN', key)
  for i = 5, #ARGV, 2 do
    local field = ARGV[i]
    if size >= max and redis.call('HEXISTS', key, field) == 0 then field = ARGV[4] end
    if redis.call('HINCRBY', key, field, ARGV[i + 1]) == tonumber(ARGV[i + 1]) then size = size + 1 end
  end
  redis.call('PEXPIRE', key, ARGV[k + 1])
end
return 1
`;

/**
 * Add decisions to one aggregate of a minute's decision records (a hash). Fields: `r:<f>` the
 * record (JSON, written once), `n:<f>` its count, `l:<f>` its last decision's time, and `#` how
 * many aggregates with a subject the minute holds. A new aggregate in a full minute (ARGV[8]) goes
 * to the overflow aggregate ARGV[2] instead (one per action, rule, scope and endpoint, not counted
 * in `#`); a write whose field is the overflow field (a replica that knows the minute is full)
 * counts there directly. The hash expires ARGV[7] ms after its last write.
 * KEYS[1] minute hash
 * ARGV[1] field   ARGV[2] overflow field   ARGV[3] record   ARGV[4] overflow record
 * ARGV[5] count   ARGV[6] last ms   ARGV[7] ttl ms   ARGV[8] aggregates per minute
 * Returns 1 when the aggregate is the decision's own, 0 when it went to the overflow.
 */
export const RECORD_WRITE_SCRIPT = `
local key = KEYS[1]
local field = ARGV[1]
if field == ARGV[2] then
  redis.call('HSETNX', key, 'r:' .. field, ARGV[4])
elseif redis.call('HEXISTS', key, 'r:' .. field) == 0 then
  local size = tonumber(redis.call('HGET', key, '#') or '0')
  if size >= tonumber(ARGV[8]) then
    field = ARGV[2]
    redis.call('HSETNX', key, 'r:' .. field, ARGV[4])
  else
    redis.call('HSET', key, 'r:' .. field, ARGV[3])
    redis.call('HINCRBY', key, '#', 1)
  end
end
redis.call('HINCRBY', key, 'n:' .. field, ARGV[5])
local last = tonumber(redis.call('HGET', key, 'l:' .. field) or '0')
if tonumber(ARGV[6]) > last then redis.call('HSET', key, 'l:' .. field, ARGV[6]) end
redis.call('PEXPIRE', key, ARGV[7])
if field == ARGV[2] then return 0 end
return 1
`;
