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
 * KEYS: each op's keys, in op order; how many an op consumes depends on its kind (table below).
 *       All carry the entity's `{…}` hash tag, so they share one Cluster slot.
 * ARGV: per op, in op order: its kind, its argument count n, then its n arguments.
 *
 *   kind          KEYS                         arguments                                 results
 *   window.add    current bucket, previous     amount (0 only reads), ttlMs              current count, previous count
 *   window.take   current bucket, previous     amount, limit, weight, ttlMs              current count, previous count
 *   distinct.add  current bucket, previous     ttlMs [, member [, 0]] (no member: only   distinct members of both buckets
 *                                              reads; 0: only adds, counts nothing)      (0 when told not to count)
 *   member.check  set                          member                                    1 if in the set, else 0
 *   member.add    set                          member, score (nowMs), maxMembers, ttlMs  members after the add
 *   value.swap    value                        [value, ttlMs] (none: only reads)         the value before (0 when none)
 *
 *   window.add and value.swap may carry a guard (store.ts WriteGuard): two more KEYS after
 *   their own (the values `newer` and `than`) and two more arguments (withinMs, nowMs); the
 *   write is skipped when it does not hold.
 *   commit        none                         none                                      none
 *
 * Returns: the results of all ops, flattened in op order; all integers, because Redis truncates
 * Lua numbers to integers on the way out. Hence the sliding-window estimate is computed in
 * TypeScript, with the same function as the memory store, so the two agree to the last digit.
 * Every write renews its key's time to live (PEXPIRE); reads never create a key.
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
-- already has pending in this call. Plain locals and one dispatch on the kind, no closures or
-- per-op tables: the script runs on every Check and ShouldRateLimit, on Redis's one thread.
local takeKeys, takeAmounts, takeTtls, nTakes = {}, {}, {}, 0
local pending, takesFit = {}, true

-- Counts the takes since the last commit, if every one of them fitted, and starts afresh: the
-- end of one entity's ops when several entities share a call.
local function commit()
  if takesFit then
    for i = 1, nTakes do
      if takeAmounts[i] > 0 then
        redis.call('INCRBY', takeKeys[i], takeAmounts[i])
        redis.call('PEXPIRE', takeKeys[i], takeTtls[i])
      end
    end
  end
  if nTakes > 0 then takeKeys, takeAmounts, takeTtls, nTakes, pending = {}, {}, {}, 0, {} end
  takesFit = true
end

-- A guard (store.ts WriteGuard) of the op whose arguments start at ARGV[a + 1]: its two value
-- keys follow the op's keys, its withinMs and nowMs are the op's arguments \`from\` and
-- \`from + 1\`; the op writes only when it holds. No guard (fewer arguments): it holds.
local function guardHolds(a, argCount, from)
  if argCount < from then return true end
  local newer = tonumber(redis.call('GET', KEYS[nextKey]) or '0')
  local than = tonumber(redis.call('GET', KEYS[nextKey + 1]) or '0')
  nextKey = nextKey + 2
  return newer > 0 and newer >= than and tonumber(ARGV[a + from + 1]) - newer <= tonumber(ARGV[a + from])
end

local nextArg = 1
local nArgs = #ARGV
while nextArg <= nArgs do
  local kind = ARGV[nextArg]
  local argCount = tonumber(ARGV[nextArg + 1])
  local a = nextArg + 1 -- the op's i-th argument is ARGV[a + i]
  nextArg = nextArg + 2 + argCount
  if kind == 'window.take' then
    local current = KEYS[nextKey]
    local previous = KEYS[nextKey + 1]
    nextKey = nextKey + 2
    local amount, limit, weight = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local count = tonumber(redis.call('GET', current) or '0') + (pending[current] or 0)
    local before = 0
    if weight > 0 then before = tonumber(redis.call('GET', previous) or '0') end
    if count + before * weight + amount > limit then takesFit = false end
    pending[current] = (pending[current] or 0) + amount
    nTakes = nTakes + 1
    takeKeys[nTakes], takeAmounts[nTakes], takeTtls[nTakes] = current, amount, ARGV[a + 4]
    results[nResults + 1], results[nResults + 2] = count, before
    nResults = nResults + 2
  elseif kind == 'commit' then
    commit()
  elseif kind == 'window.add' then
    local current = KEYS[nextKey]
    local previous = KEYS[nextKey + 1]
    nextKey = nextKey + 2
    local amount = tonumber(ARGV[a + 1])
    if not guardHolds(a, argCount, 3) then amount = 0 end
    nResults = nResults + 1
    if amount > 0 then
      results[nResults] = redis.call('INCRBY', current, amount)
      redis.call('PEXPIRE', current, ARGV[a + 2])
    else
      results[nResults] = tonumber(redis.call('GET', current) or '0')
    end
    nResults = nResults + 1
    results[nResults] = tonumber(redis.call('GET', previous) or '0')
  elseif kind == 'distinct.add' then
    -- A multi-key PFCOUNT counts the union of the buckets without writing anything, but merges
    -- them into a fresh HyperLogLog of 16,384 registers on every call. Without a previous bucket
    -- the union is the current bucket: a single-key PFCOUNT counts the same registers (the same
    -- estimate) from its sparse form or the count Redis keeps with the key between writes.
    local current = KEYS[nextKey]
    local previous = KEYS[nextKey + 1]
    nextKey = nextKey + 2
    if argCount >= 2 then
      redis.call('PFADD', current, ARGV[a + 2])
      redis.call('PEXPIRE', current, ARGV[a + 1])
    end
    nResults = nResults + 1
    if argCount >= 3 and ARGV[a + 3] == '0' then
      results[nResults] = 0
    else
      -- A read (no member) mostly finds neither bucket: one EXISTS of both answers it then, and
      -- when it finds both, tells that the previous bucket is there.
      local present = -1
      if argCount < 2 then present = redis.call('EXISTS', current, previous) end
      if present == 0 then
        results[nResults] = 0
      elseif present == 2 or redis.call('EXISTS', previous) == 1 then
        results[nResults] = redis.call('PFCOUNT', current, previous)
      else
        results[nResults] = redis.call('PFCOUNT', current)
      end
    end
  elseif kind == 'member.check' then
    local set = KEYS[nextKey]
    nextKey = nextKey + 1
    nResults = nResults + 1
    results[nResults] = redis.call('ZSCORE', set, ARGV[a + 1]) and 1 or 0
  elseif kind == 'member.add' then
    -- Ranks order by score (the time added), so rank 0 up to -(max + 1) are the oldest beyond max.
    local set = KEYS[nextKey]
    nextKey = nextKey + 1
    redis.call('ZADD', set, ARGV[a + 2], ARGV[a + 1])
    redis.call('ZREMRANGEBYRANK', set, 0, -(tonumber(ARGV[a + 3]) + 1))
    redis.call('PEXPIRE', set, ARGV[a + 4])
    nResults = nResults + 1
    results[nResults] = redis.call('ZCARD', set)
  elseif kind == 'value.swap' then
    local key = KEYS[nextKey]
    nextKey = nextKey + 1
    nResults = nResults + 1
    local holds = guardHolds(a, argCount, 3)
    results[nResults] = tonumber(redis.call('GET', key) or '0')
    if argCount >= 1 and holds then
      redis.call('SET', key, ARGV[a + 1], 'PX', ARGV[a + 2])
    end
  else
    return redis.error_reply('palisade: unknown store op ' .. tostring(kind))
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
  if (call.args.length > 0 && ops[0]?.op === "window.take") call.args.push("commit", 0); // the takes before are another entity's
  for (const op of ops) {
    // Each op's kind, its argument count (filled in after its arguments) and its arguments,
    // written straight into the call: no arrays of their own per op on the Check path.
    call.args.push(op.op, 0);
    const countAt = call.args.length - 1;
    encodeOp(namespace, entity, op, nowMs, call);
    call.args[countAt] = call.args.length - countAt - 1;
  }
  return call;
}

function encodeOp(namespace: string, entity: string, op: EntityOp, nowMs: number, call: ScriptCall): void {
  const { keys, args } = call;
  switch (op.op) {
    case "window.add": {
      const buckets = windowBucketKeys(namespace, entity, op, nowMs);
      keys.push(buckets.current, buckets.previous);
      args.push(op.amount, windowKeyTtlMs(op.windowMs));
      if (op.when) guarded(call, namespace, entity, op.when, nowMs);
      return;
    }
    case "window.take": {
      const buckets = takeBucketKeys(namespace, entity, op, nowMs);
      keys.push(buckets.current, buckets.previous);
      args.push(op.amount, op.limit, exactText(takePreviousWeight(op, nowMs)), takeTtlMs(op));
      return;
    }
    case "distinct.add": {
      const buckets = distinctBucketKeys(namespace, entity, op, nowMs);
      keys.push(buckets.current, buckets.previous);
      args.push(windowKeyTtlMs(op.windowMs));
      if (op.member !== undefined) args.push(op.member);
      if (op.member !== undefined && op.count === false) args.push(0);
      return;
    }
    case "member.check":
      keys.push(memberSetKey(namespace, entity, op.name));
      args.push(op.member);
      return;
    case "member.add":
      keys.push(memberSetKey(namespace, entity, op.name));
      args.push(op.member, nowMs, op.maxMembers, op.retentionMs);
      return;
    case "value.swap":
      keys.push(valueKey(namespace, entity, op.name));
      if (op.value === undefined) return; // a read: a guard has nothing to hold back
      args.push(op.value, op.retentionMs!);
      if (op.when) guarded(call, namespace, entity, op.when, nowMs);
      return;
    default: {
      const unknown: never = op;
      throw new TypeError(`unknown store op ${JSON.stringify((unknown as EntityOp).op)}`);
    }
  }
}

/** The guard's value keys and arguments after the op's own (the script's `guardHolds`). */
function guarded(call: ScriptCall, namespace: string, entity: string, guard: WriteGuard, nowMs: number): void {
  call.keys.push(valueKey(namespace, entity, guard.newer), valueKey(namespace, entity, guard.than));
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
