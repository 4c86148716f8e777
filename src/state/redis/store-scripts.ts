/**
 * The Lua scripts of the Redis store and how calls are encoded for them and their replies
 * decoded. One script call per `apply()` (whatever mix of ops it carries), one per
 * `observeBaseline()` and one per `observeBinding()`: each is atomic and costs one round trip.
 */
import {
  BINDING_MAX_NETWORKS,
  BINDING_MAX_USES,
  decodeBindingRecord,
  type BindingRecord,
  type BindingRules,
  type BindingUse,
} from "../token-binding-record.js";
import {
  baselineKey,
  bindingKey,
  distinctBucketKeys,
  memberSetKey,
  takeBucketKeys,
  takeTtlMs,
  valueKey,
  windowBucketKeys,
  windowKeyTtlMs,
} from "../keys.js";
import {
  entityKeyPrefix,
  slidingWindowEstimate,
  StoreUnavailableError,
  takePreviousWeight,
  type BaselineObservation,
  type BaselineState,
  type EntityOp,
  type WriteGuard,
} from "../store.js";

/**
 * All of one entity's ops, atomically, in one round trip, whatever their kinds.
 *
 * KEYS: each op's keys, in op order; how many an op consumes depends on its code (table below).
 *       All carry the entity's `{…}` hash tag, so they share one Cluster slot.
 * ARGV: per op, in op order: its one-letter code, then its arguments, as many as the code says.
 *
 *   code  op                             KEYS                       arguments                    results
 *   p     window.add, amount 0           current bucket, previous   none (only reads)            current count, previous count
 *   i     window.add, amount 1           current bucket, previous   ttlMs                        the same, after the add
 *   w     window.add                     current bucket, previous   amount, ttlMs                the same, after the add
 *   W     window.add with a guard        same, then the guard's     same, then withinMs, nowMs   the same
 *   t     window.take                    current bucket, previous   amount, limit, weight, ttlMs current count, previous count
 *   r     distinct.add, no member        current bucket, previous   none (only reads)            distinct members of both buckets
 *   d     distinct.add                   current bucket, previous   ttlMs, member                the same, after the add
 *   D     distinct.add, count: false     current bucket, previous   ttlMs, member                0 (only adds)
 *   c     member.check                   set                        member                       1 if in the set, else 0
 *   m     member.add                     set                        member, score (nowMs),       members after the add
 *                                                                   maxMembers, ttlMs
 *   M     member.add with maxAgeMs       set                        the same, then the oldest    the same
 *                                                                   score kept (nowMs - maxAgeMs)
 *   g     value.swap, no value           value                      none (only reads)            the value before (0 when none)
 *   s     value.swap                     value                      value, ttlMs                 the same, then writes
 *   S     value.swap with a guard        value, then the guard's    value, ttlMs, withinMs, nowMs the same
 *   ;     commit                         none                       none                         none
 *
 * A guard (store.ts WriteGuard) has two more KEYS after the op's own (the values `newer` and
 * `than`); the op's write is skipped when it does not hold. The code fixes how many arguments
 * follow, so no count travels with an op nor is parsed in Lua: every argument costs Redis about
 * 1,200 instructions to receive and hand to Lua, and every `tonumber` of a text two `strtod`s
 * (BENCHMARKS.md, branch entityargs).
 *
 * Returns: the results of all ops, flattened in op order; all integers, because Redis truncates
 * Lua numbers to integers on the way out. Hence the sliding-window estimate is computed in
 * TypeScript, with the same function as the memory store, so the two agree to the last digit.
 * Reads never create a key. A window or distinct-count bucket gets its time to live (PEXPIRE)
 * from the write that creates it (an INCR or INCRBY answering the amount, a PFADD answering 1; a
 * PFADD that changes registers renews it too), not from every write: its number is its window, so
 * it is written only within that window and read for one more (or, fixed, only within it), and a
 * time to live of two windows from its first write already outlasts that (a fixed one's: its window
 * and a slack for clock skew, keys.ts takeTtlMs). Every other write
 * (sets, values) renews its key's time to live. A PEXPIRE was 4.3 of the ~28 commands per Check
 * (BENCHMARKS.md, branch `checkredis`). What this gives up: a replica whose clock lags by δ finds
 * a previous bucket gone for the last δ it reads it (its weight then below δ / window), and a
 * replay through the server (trustEventTime) slower than real time loses buckets before their
 * windows end (renewing on every write held down to half speed), and a bucket left without a time
 * to live (restored from a backup, written by hand) is not given one by later writes.
 *
 * window.take counts all or nothing: each take reads its counts (with earlier takes of the call
 * on the same key as if taken) and checks current + previous × weight + amount ≤ limit; the
 * takes are counted after the last op, and only if every one fitted. The weight is that of the
 * previous bucket (0 for a fixed window, whose previous bucket is then not read), computed in
 * TypeScript and sent as its shortest round-trip decimal, so both stores compare the same
 * doubles. Takes never share an entity's ops with other ops (store.ts refuses it). When several
 * entities share a call (`applyBatch()`), a `commit` after each entity's ops ends its all or
 * nothing, so one entity's refused take never holds back another entity's.
 */
export const ENTITY_BATCH_SCRIPT = `
local results = {}
local nResults = 0
local nextKey = 1
-- The takes since the last commit: their keys, amounts and ttls side by side, and what each key
-- already has pending in this call. Plain locals and one dispatch on the code, no closures or
-- per-op tables: the script runs on every Check and ShouldRateLimit, on Redis's one thread.
local takeKeys, takeAmounts, takeTtls, nTakes = {}, {}, {}, 0
local pending, takesFit = {}, true

-- Counts the takes since the last commit, if every one of them fitted, and starts afresh: the
-- end of one entity's ops when several entities share a call.
local function commit()
  if takesFit then
    for i = 1, nTakes do
      -- A count equal to the amount is a bucket this take created: only then is its ttl set.
      if takeAmounts[i] ~= '0' and redis.call('INCRBY', takeKeys[i], takeAmounts[i]) == takeAmounts[i] + 0 then
        redis.call('PEXPIRE', takeKeys[i], takeTtls[i])
      end
    end
  end
  if nTakes > 0 then takeKeys, takeAmounts, takeTtls, nTakes, pending = {}, {}, {}, 0, {} end
  takesFit = true
end

-- A counter's or value's integer, 0 when the key is not there. Arithmetic converts the text with
-- one strtod; tonumber would parse it twice.
local function integerAt(key)
  local text = redis.call('GET', key)
  if text then return text + 0 end
  return 0
end

-- Whether the guard whose keys come next and whose withinMs and nowMs are ARGV[at] and
-- ARGV[at + 1] holds; the guarded op writes only when it does.
local function guardHolds(at)
  local newer = integerAt(KEYS[nextKey])
  local than = integerAt(KEYS[nextKey + 1])
  nextKey = nextKey + 2
  return newer > 0 and newer >= than and ARGV[at + 1] - newer <= ARGV[at] + 0
end

local a = 1 -- ARGV[a] is the op's code, ARGV[a + i] its i-th argument
local nArgs = #ARGV
while a <= nArgs do
  local code = ARGV[a]
  if code == 'r' or code == 'd' or code == 'D' then
    -- A multi-key PFCOUNT counts the union of the buckets without writing anything, but merges
    -- them into a fresh HyperLogLog of 16,384 registers on every call. Without a previous bucket
    -- the union is the current bucket: a single-key PFCOUNT counts the same registers (the same
    -- estimate) from its sparse form or the count Redis keeps with the key between writes.
    local current = KEYS[nextKey]
    local previous = KEYS[nextKey + 1]
    nextKey = nextKey + 2
    nResults = nResults + 1
    if code == 'r' then
      -- A read mostly finds neither bucket: one EXISTS of both answers it then, and when it
      -- finds both, tells that the previous bucket is there.
      a = a + 1
      local present = redis.call('EXISTS', current, previous)
      if present == 0 then
        results[nResults] = 0
      elseif present == 2 or redis.call('EXISTS', previous) == 1 then
        results[nResults] = redis.call('PFCOUNT', current, previous)
      else
        results[nResults] = redis.call('PFCOUNT', current)
      end
    else
      -- PFADD answers 0 when the bucket was there and the member changed no register: its ttl
      -- was set by the write that created it.
      if redis.call('PFADD', current, ARGV[a + 2]) == 1 then redis.call('PEXPIRE', current, ARGV[a + 1]) end
      a = a + 3
      if code == 'D' then
        results[nResults] = 0
      elseif redis.call('EXISTS', previous) == 1 then
        results[nResults] = redis.call('PFCOUNT', current, previous)
      else
        results[nResults] = redis.call('PFCOUNT', current)
      end
    end
  elseif code == 'p' then
    -- A read mostly finds neither bucket (a login counter of an address that only browses): one
    -- EXISTS of both answers it then, where two GETs would.
    local current = KEYS[nextKey]
    local previous = KEYS[nextKey + 1]
    nextKey = nextKey + 2
    local present = redis.call('EXISTS', current, previous)
    if present == 0 then
      results[nResults + 1], results[nResults + 2] = 0, 0
    else
      -- When one bucket is there and it is the current one (a count is never 0), the previous is not.
      local count = integerAt(current)
      results[nResults + 1] = count
      if present == 1 and count > 0 then results[nResults + 2] = 0 else results[nResults + 2] = integerAt(previous) end
    end
    nResults = nResults + 2
    a = a + 1
  elseif code == 'i' or code == 'w' or code == 'W' then
    local current = KEYS[nextKey]
    local previous = KEYS[nextKey + 1]
    nextKey = nextKey + 2
    nResults = nResults + 1
    -- A count equal to the amount is a bucket this add created: only then is its ttl set.
    if code == 'i' then
      local count = redis.call('INCR', current)
      if count == 1 then redis.call('PEXPIRE', current, ARGV[a + 1]) end
      results[nResults] = count
      a = a + 2
    else
      if code == 'w' or guardHolds(a + 3) then
        -- The amount (never 0 here) and ttl stay text: INCRBY and PEXPIRE take them as they came.
        local count = redis.call('INCRBY', current, ARGV[a + 1])
        if count == ARGV[a + 1] + 0 then redis.call('PEXPIRE', current, ARGV[a + 2]) end
        results[nResults] = count
      else
        results[nResults] = integerAt(current)
      end
      if code == 'w' then a = a + 3 else a = a + 5 end
    end
    nResults = nResults + 1
    results[nResults] = integerAt(previous)
  elseif code == 'g' or code == 's' or code == 'S' then
    local key = KEYS[nextKey]
    nextKey = nextKey + 1
    local writes = code == 's' or (code == 'S' and guardHolds(a + 3))
    nResults = nResults + 1
    if writes then
      -- SET … GET (Redis 6.2) answers the value it replaced: one command where GET and SET were two.
      local before = redis.call('SET', key, ARGV[a + 1], 'PX', ARGV[a + 2], 'GET')
      if before then results[nResults] = before + 0 else results[nResults] = 0 end
    else
      results[nResults] = integerAt(key)
    end
    if code == 'g' then a = a + 1 elseif code == 's' then a = a + 3 else a = a + 5 end
  elseif code == 't' then
    local current = KEYS[nextKey]
    local previous = KEYS[nextKey + 1]
    nextKey = nextKey + 2
    local amount, limit, weight = ARGV[a + 1] + 0, ARGV[a + 2] + 0, ARGV[a + 3] + 0
    local count = integerAt(current) + (pending[current] or 0)
    local before = 0
    if weight > 0 then before = integerAt(previous) end
    if count + before * weight + amount > limit then takesFit = false end
    pending[current] = (pending[current] or 0) + amount
    nTakes = nTakes + 1
    -- The amount as it came, text: INCRBY would otherwise format the number (snprintf).
    takeKeys[nTakes], takeAmounts[nTakes], takeTtls[nTakes] = current, ARGV[a + 1], ARGV[a + 4]
    results[nResults + 1], results[nResults + 2] = count, before
    nResults = nResults + 2
    a = a + 5
  elseif code == ';' then
    commit()
    a = a + 1
  elseif code == 'c' then
    nResults = nResults + 1
    results[nResults] = redis.call('ZSCORE', KEYS[nextKey], ARGV[a + 1]) and 1 or 0
    nextKey = nextKey + 1
    a = a + 2
  elseif code == 'm' or code == 'M' then
    -- Ranks order by score (the time added), so rank 0 up to -(max + 1) are the oldest beyond max.
    -- Trimmed only when the add took it past max, which ZCARD tells: one command fewer otherwise.
    local set = KEYS[nextKey]
    local max = ARGV[a + 3] + 0
    nextKey = nextKey + 1
    redis.call('ZADD', set, ARGV[a + 2], ARGV[a + 1])
    if code == 'M' then redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. ARGV[a + 5]) end
    local members = redis.call('ZCARD', set)
    if members > max then
      redis.call('ZREMRANGEBYRANK', set, 0, -(max + 1))
      members = max
    end
    redis.call('PEXPIRE', set, ARGV[a + 4])
    nResults = nResults + 1
    results[nResults] = members
    if code == 'm' then a = a + 5 else a = a + 6 end
  else
    return redis.error_reply('palisade: unknown store op code ' .. tostring(code))
  end
end
commit()
return results
`;

/**
 * Folds one observation into a learned baseline, unless its period was already folded in.
 *
 * KEYS[1]: the baseline hash, fields mean, variance, samples, lastPeriod.
 * ARGV:    period, value, alpha, retentionMs.
 * Returns: {mean, variance, samples, lastPeriod} after the call, as strings.
 *
 * The update is the formula of baseline.ts, with the same floating-point operations in the same
 * order. Numbers travel as strings because Redis would truncate Lua numbers returned to it to
 * integers, and as `%.17g`, not `tostring` (`%.14g`), because 17 significant digits round-trip
 * every double exactly: both stores then agree to the last bit, and the hash stores exactly
 * what was computed. A call for the same or an earlier period changes nothing, not even the
 * time to live, so replicas observing the same period fold it in once.
 */
export const OBSERVE_BASELINE_SCRIPT = `
local key = KEYS[1]
local period = tonumber(ARGV[1])
local value = tonumber(ARGV[2])
local alpha = tonumber(ARGV[3])
local stored = redis.call('HMGET', key, 'mean', 'variance', 'samples', 'lastPeriod')
if stored[4] and period <= tonumber(stored[4]) then
  return stored
end

local mean, variance, samples
if stored[4] then
  mean = tonumber(stored[1])
  variance = tonumber(stored[2])
  samples = tonumber(stored[3]) + 1
  local deviation = value - mean
  mean = mean + alpha * deviation
  variance = (1 - alpha) * (variance + alpha * deviation * deviation)
else
  mean = value
  variance = 0
  samples = 1
end

local function exact(number)
  return string.format('%.17g', number)
end
local state = {exact(mean), exact(variance), exact(samples), exact(period)}
redis.call('HSET', key, 'mean', state[1], 'variance', state[2], 'samples', state[3], 'lastPeriod', state[4])
redis.call('PEXPIRE', key, ARGV[4])
return state
`;

/**
 * One use of a bound token: `stepBinding()` of token-binding-record.ts, step for step, so that
 * replicas sharing Redis agree on who bound a token even when two uses arrive in the same
 * millisecond (Redis runs one script at a time; the second sees the first's binding).
 *
 * KEYS[1]: the binding, a string holding the JSON of `encodeBindingRecord()` (cjson).
 * ARGV:    device, companion, network, nowMs, missing (1/0), retentionMs, alternationMs,
 *          max networks, max uses.
 * Returns: the stored text before the use ("" when there was none or it was not a record).
 *
 * Writes nothing when the use binds nothing (`unbound`); otherwise stores the record after the
 * use with a time to live of retentionMs. cjson writes numbers with 14 significant digits, so
 * times stay exact up to BINDING_MAX_TIME_MS.
 */
export const OBSERVE_BINDING_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
local before = nil
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and type(decoded.u) == 'table' and #decoded.u > 0
    and type(decoded.n) == 'table' and #decoded.n > 0 and type(decoded.d) == 'string' and type(decoded.c) == 'string' then
    before = decoded
  end
end
local device, companion, network = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[4])
local missing = ARGV[5] == '1'
local retention = tonumber(ARGV[6])
local window = tonumber(ARGV[7])
local maxNetworks = tonumber(ARGV[8])
local maxUses = tonumber(ARGV[9])
local previous = ''
if before then previous = raw end

local fresh = before == nil or now - before.u[#before.u] > retention
if fresh and missing then
  return previous
end
local record
if fresh or (before.c == '' and companion ~= '' and device ~= before.d and #before.u == 1 and now - before.u[1] <= window) then
  record = {d = device, c = companion, n = {{network, now}}, u = {now}, i = 0}
else
  record = before
  local last = record.n[#record.n][1]
  local left = nil
  for index, pair in ipairs(record.n) do
    if pair[1] == network then left = index end
  end
  if left and last ~= network and now - record.n[left][2] <= window then record.i = now end
  if left then table.remove(record.n, left) end
  table.insert(record.n, {network, now})
  if #record.n > maxNetworks then table.remove(record.n, 1) end
  table.insert(record.u, now)
  if #record.u > maxUses then table.remove(record.u, 1) end
  if record.c == '' then record.c = companion end
  if type(record.i) ~= 'number' then record.i = 0 end
end
redis.call('SET', KEYS[1], cjson.encode(record), 'PX', retention)
return previous
`;

/** KEYS and ARGV of `OBSERVE_BINDING_SCRIPT`. */
export function encodeObserveBinding(namespace: string, entity: string, use: BindingUse, rules: BindingRules): ScriptCall {
  return {
    keys: [bindingKey(namespace, entity)],
    args: [use.device, use.companion, use.network, use.nowMs, use.missing ? 1 : 0, rules.retentionMs, rules.alternationMs, BINDING_MAX_NETWORKS, BINDING_MAX_USES],
  };
}

/** The record before the use; a reply that is neither text nor absent is a failed call. */
export function decodeBindingReply(reply: unknown): BindingRecord | undefined {
  if (typeof reply !== "string" && reply !== null) {
    throw new StoreUnavailableError(`redis binding script returned an unexpected reply: ${JSON.stringify(reply)}`);
  }
  return decodeBindingRecord(reply);
}

export interface ScriptCall {
  keys: string[];
  args: (string | number)[];
}

/**
 * KEYS and ARGV of `ENTITY_BATCH_SCRIPT` for one `apply()`, or appended to `call` for one entity
 * of several sent in one script (`applyBatch()` on a single Redis). Each op names its own keys,
 * so entities simply follow one another; an entity's takes are preceded by a `commit` of the
 * takes before them.
 */
export function encodeEntityBatch(namespace: string, entity: string, ops: readonly EntityOp[], nowMs: number, call: ScriptCall = { keys: [], args: [] }): ScriptCall {
  if (call.args.length > 0 && ops[0]?.op === "window.take") call.args.push(COMMIT); // the takes before are another entity's
  // Written straight into the call: no arrays of their own per op on the Check path.
  const prefix = entityKeyPrefix(namespace, entity);
  for (const op of ops) encodeOp(prefix, op, nowMs, call);
  return call;
}

/** The script's code that ends one caller's all or nothing (`commit` in ENTITY_BATCH_SCRIPT). */
const COMMIT = ";";

/**
 * Appends `call` to `merged`, the one script call of several callers' calls (the store's
 * coalescing, store.ts #flush): a commit between them keeps each caller's takes their own.
 */
export function appendEntityCall(merged: ScriptCall, call: ScriptCall): void {
  for (const key of call.keys) merged.keys.push(key);
  if (merged.args.length > 0) merged.args.push(COMMIT);
  for (const arg of call.args) merged.args.push(arg);
}

function encodeOp(prefix: string, op: EntityOp, nowMs: number, call: ScriptCall): void {
  const { keys, args } = call;
  switch (op.op) {
    case "window.add": {
      const buckets = windowBucketKeys(prefix, op, nowMs);
      keys.push(buckets.current, buckets.previous);
      if (op.amount === 0) args.push("p"); // a read: a guard has nothing to hold back
      else if (op.when) {
        args.push("W", op.amount, windowKeyTtlMs(op.windowMs));
        guarded(call, prefix, op.when, nowMs);
      } else if (op.amount === 1) args.push("i", windowKeyTtlMs(op.windowMs)); // the usual add: no amount to send
      else args.push("w", op.amount, windowKeyTtlMs(op.windowMs));
      return;
    }
    case "window.take": {
      const buckets = takeBucketKeys(prefix, op, nowMs);
      keys.push(buckets.current, buckets.previous);
      args.push("t", op.amount, op.limit, exactText(takePreviousWeight(op, nowMs)), takeTtlMs(op));
      return;
    }
    case "distinct.add": {
      const buckets = distinctBucketKeys(prefix, op, nowMs);
      keys.push(buckets.current, buckets.previous);
      if (op.member === undefined) args.push("r");
      else args.push(op.count === false ? "D" : "d", windowKeyTtlMs(op.windowMs), op.member);
      return;
    }
    case "member.check":
      keys.push(memberSetKey(prefix, op.name));
      args.push("c", op.member);
      return;
    case "member.add":
      keys.push(memberSetKey(prefix, op.name));
      if (op.maxAgeMs === undefined) args.push("m", op.member, nowMs, op.maxMembers, op.retentionMs);
      else args.push("M", op.member, nowMs, op.maxMembers, op.retentionMs, nowMs - op.maxAgeMs);
      return;
    case "value.swap":
      keys.push(valueKey(prefix, op.name));
      if (op.value === undefined) args.push("g"); // a read: a guard has nothing to hold back
      else if (!op.when) args.push("s", op.value, op.retentionMs!);
      else {
        args.push("S", op.value, op.retentionMs!);
        guarded(call, prefix, op.when, nowMs);
      }
      return;
    default: {
      const unknown: never = op;
      throw new TypeError(`unknown store op ${JSON.stringify((unknown as EntityOp).op)}`);
    }
  }
}

/** The guard's value keys and arguments after the op's own (the script's `guardHolds`). */
function guarded(call: ScriptCall, prefix: string, guard: WriteGuard, nowMs: number): void {
  call.keys.push(valueKey(prefix, guard.newer), valueKey(prefix, guard.than));
  call.args.push(guard.withinMs, nowMs);
}

/** How many integers the entity script returns for `ops`. */
export function entityBatchWidth(ops: readonly EntityOp[]): number {
  let width = 0;
  for (const op of ops) width += resultWidth(op);
  return width;
}

/** How many integers `ENTITY_BATCH_SCRIPT` returns for an op. */
function resultWidth(op: EntityOp): number {
  return op.op === "window.add" || op.op === "window.take" ? 2 : 1;
}

/** One result per op from the script's flat reply; rejects a reply of the wrong shape. */
export function decodeEntityBatch(reply: unknown, ops: readonly EntityOp[], nowMs: number): number[] {
  const expected = entityBatchWidth(ops);
  const valid = Array.isArray(reply) && reply.length === expected && reply.every((n) => Number.isSafeInteger(n));
  if (!valid) throw new StoreUnavailableError(`redis entity script returned an unexpected reply: ${JSON.stringify(reply)}`);
  const integers = reply as number[];
  let next = 0;
  return ops.map((op) => {
    if (op.op !== "window.add" && op.op !== "window.take") return integers[next++]!;
    const [current, previous] = [integers[next++]!, integers[next++]!];
    if (op.op === "window.take") return current + previous * takePreviousWeight(op, nowMs);
    return slidingWindowEstimate(current, previous, nowMs, op.windowMs);
  });
}

/** KEYS and ARGV of `OBSERVE_BASELINE_SCRIPT`. */
export function encodeObserveBaseline(
  namespace: string,
  entity: string,
  name: string,
  observation: BaselineObservation,
): ScriptCall {
  const { period, value, alpha, retentionMs } = observation;
  return { keys: [baselineKey(namespace, entity, name)], args: [exactText(period), exactText(value), exactText(alpha), retentionMs] };
}

/**
 * Text that Lua's tonumber (strtod) reads back as the same double: String() gives the shortest
 * such text for every number but -0, which it writes as "0".
 */
function exactText(number: number): string {
  return Object.is(number, -0) ? "-0" : String(number);
}

export function decodeBaseline(reply: unknown): BaselineState {
  const numbers = Array.isArray(reply) && reply.length === 4 ? reply.map((field) => (typeof field === "string" ? Number(field) : Number.NaN)) : [];
  if (numbers.length !== 4 || !numbers.every(Number.isFinite)) {
    throw new StoreUnavailableError(`redis baseline script returned an unexpected reply: ${JSON.stringify(reply)}`);
  }
  const [mean, variance, samples, lastPeriod] = numbers as [number, number, number, number];
  return { mean, variance, samples, lastPeriod };
}
