import { entityKey, takeKeys, takeTtlMs, windowBucketKeys, windowKeyTtlMs } from "./keys.js";
import { slidingWindowEstimate, takePreviousWeight, type BaselineState, type EntityOp } from "./store.js";

/**
 * All of one entity's ops, atomically, in one round trip.
 *
 * ARGV: the ops in order, each as its name followed by its arguments:
 *   window.add    amount (integer ≥ 0; 0 only reads), TTL ms of the current bucket
 *   window.take   amount, limit, weight of the previous bucket (0 for a fixed window, which
 *                 then is not read), TTL ms of the current bucket
 *   distinct.add  1 or 0 (whether a member is given), member, TTL ms of the current bucket
 *   member.check  member
 *   member.add    member, score (event time ms), max members, TTL ms of the set
 * KEYS: the keys of each op, in op order: window.add, window.take and distinct.add the current
 *   bucket then the previous one; member.check and member.add the set. All carry the entity's `{…}` hash
 *   tag, so they share one Cluster slot.
 * Returns: integers, in op order: window.add the current and previous bucket counts (0 for a
 *   missing key); window.take the same, read before any take of the call is counted but
 *   including earlier takes of the call on the same key; distinct.add PFCOUNT over both buckets; member.check 1 or 0; member.add the
 *   set's size after the add. The window estimate is computed in TypeScript with the same
 *   function as the memory store, so the two agree to the last digit and the script stays free
 *   of floating point.
 * Every write renews its key's TTL. Takes are all or nothing: they are counted after the last
 * op, and only if each fitted (current + previous × weight + amount ≤ limit); validate.ts
 * keeps them out of calls with other ops. The comparison is the one place with floating point,
 * on the weight the TypeScript side computed and sent as its shortest round-trip decimal, so
 * both sides compare the same doubles.
 */
export const APPLY_SCRIPT = `
local results = {}
local k, a = 1, 1
local takes, pending, fits = {}, {}, true
local function count(key) return tonumber(redis.call('GET', key) or '0') end
while a <= #ARGV do
  local op = ARGV[a]
  if op == 'window.add' then
    local amount = tonumber(ARGV[a + 1])
    if amount > 0 then
      results[#results + 1] = redis.call('INCRBY', KEYS[k], amount)
      redis.call('PEXPIRE', KEYS[k], ARGV[a + 2])
    else
      results[#results + 1] = count(KEYS[k])
    end
    results[#results + 1] = count(KEYS[k + 1])
    k, a = k + 2, a + 3
  elseif op == 'window.take' then
    local amount, limit, weight = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local current = count(KEYS[k]) + (pending[KEYS[k]] or 0)
    local previous = 0
    if weight > 0 then previous = count(KEYS[k + 1]) end
    if current + previous * weight + amount > limit then fits = false end
    pending[KEYS[k]] = (pending[KEYS[k]] or 0) + amount
    takes[#takes + 1] = {KEYS[k], amount, ARGV[a + 4]}
    results[#results + 1] = current
    results[#results + 1] = previous
    k, a = k + 2, a + 5
  elseif op == 'distinct.add' then
    if ARGV[a + 1] == '1' then
      redis.call('PFADD', KEYS[k], ARGV[a + 2])
      redis.call('PEXPIRE', KEYS[k], ARGV[a + 3])
    end
    results[#results + 1] = redis.call('PFCOUNT', KEYS[k], KEYS[k + 1])
    k, a = k + 2, a + 4
  elseif op == 'member.check' then
    results[#results + 1] = redis.call('ZSCORE', KEYS[k], ARGV[a + 1]) and 1 or 0
    k, a = k + 1, a + 2
  elseif op == 'member.add' then
    redis.call('ZADD', KEYS[k], ARGV[a + 2], ARGV[a + 1])
    redis.call('ZREMRANGEBYRANK', KEYS[k], 0, -(tonumber(ARGV[a + 3]) + 1))
    redis.call('PEXPIRE', KEYS[k], ARGV[a + 4])
    results[#results + 1] = redis.call('ZCARD', KEYS[k])
    k, a = k + 1, a + 5
  else
    return redis.error_reply('palisade: unknown op ' .. tostring(op))
  end
end
if fits then
  for _, take in ipairs(takes) do
    if take[2] > 0 then
      redis.call('INCRBY', take[1], take[2])
      redis.call('PEXPIRE', take[1], take[3])
    end
  end
end
return results
`;

/**
 * Folds one observation into a baseline unless its period (or a later one) is already in.
 *
 * KEYS[1]: the baseline hash (fields mean, variance, samples, period).
 * ARGV: period, value, alpha, TTL ms.
 * Returns: {mean, variance, samples, period} as strings; means and variances are written with
 *   %.17g, which round-trips IEEE doubles, so the TypeScript side reads back exactly what was
 *   computed. The arithmetic is that of baseline.ts, in the same order.
 */
export const BASELINE_SCRIPT = `
local state = redis.call('HMGET', KEYS[1], 'mean', 'variance', 'samples', 'period')
local period, value, alpha = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if state[3] and tonumber(state[4]) >= period then return state end
local mean, variance, samples = value, 0, 1
if state[3] then
  local diff = value - tonumber(state[1])
  local increment = alpha * diff
  mean = tonumber(state[1]) + increment
  variance = (1 - alpha) * (tonumber(state[2]) + diff * increment)
  samples = tonumber(state[3]) + 1
end
local fields = {string.format('%.17g', mean), string.format('%.17g', variance), tostring(samples), ARGV[1]}
redis.call('HSET', KEYS[1], 'mean', fields[1], 'variance', fields[2], 'samples', fields[3], 'period', fields[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return fields
`;

/** One op as the apply script reads it, and how many integers it answers. */
export interface EncodedOp {
  keys: string[];
  args: (string | number)[];
  replyWidth: number;
}

export function encodeOp(namespace: string, entity: string, op: EntityOp, nowMs: number): EncodedOp {
  switch (op.op) {
    case "window.add": {
      const keys = windowBucketKeys(namespace, entity, "w", op, nowMs);
      return { keys: [keys.current, keys.previous], args: [op.op, op.amount, windowKeyTtlMs(op.windowMs)], replyWidth: 2 };
    }
    case "window.take": {
      const keys = takeKeys(namespace, entity, op, nowMs);
      const args = [op.op, op.amount, op.limit, String(takePreviousWeight(op, nowMs)), takeTtlMs(op)];
      return { keys: [keys.current, keys.previous], args, replyWidth: 2 };
    }
    case "distinct.add": {
      const keys = windowBucketKeys(namespace, entity, "d", op, nowMs);
      const member = op.member === undefined ? ["0", ""] : ["1", op.member];
      return { keys: [keys.current, keys.previous], args: [op.op, ...member, windowKeyTtlMs(op.windowMs)], replyWidth: 1 };
    }
    case "member.check":
      return { keys: [entityKey(namespace, entity, "m", op.name)], args: [op.op, op.member], replyWidth: 1 };
    case "member.add": {
      const key = entityKey(namespace, entity, "m", op.name);
      return { keys: [key], args: [op.op, op.member, nowMs, op.maxMembers, op.retentionMs], replyWidth: 1 };
    }
    default: {
      const unknown: never = op;
      throw new TypeError(`unknown store op ${JSON.stringify((unknown as { op: unknown }).op)}`);
    }
  }
}

/** The op's result from its slice of the script's reply. */
export function decodeReply(op: EntityOp, reply: readonly number[], nowMs: number): number {
  switch (op.op) {
    case "window.add":
      return slidingWindowEstimate(reply[0]!, reply[1]!, nowMs, op.windowMs);
    case "window.take":
      return reply[0]! + reply[1]! * takePreviousWeight(op, nowMs);
    default:
      return reply[0]!;
  }
}

/** The baseline script's reply, checked: anything else means the script or Redis misbehaved. */
export function parseBaselineReply(reply: unknown): BaselineState | undefined {
  if (!Array.isArray(reply) || reply.length !== 4) return undefined;
  const [mean, variance, samples, lastPeriod] = reply.map((field) => (typeof field === "string" ? Number(field) : Number.NaN));
  const state = { mean: mean!, variance: variance!, samples: samples!, lastPeriod: lastPeriod! };
  return Object.values(state).every(Number.isFinite) ? state : undefined;
}
