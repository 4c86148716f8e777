import { exchangeKey } from "../keys.js";
import { StoreUnavailableError, type Publication } from "../store.js";
import type { ScriptCall } from "./store-scripts.js";

/**
 * `Store.exchange()`: one hash per name, a field per replica holding `<event time>:<evidence>`.
 * Writes (or, for empty evidence, removes) the caller's field, drops fields published more than
 * `ttlMs` before `nowMs`, and returns the other fields as name, text pairs; the hash lives `ttlMs`
 * after its last write.
 *
 * KEYS[1]: the hash. ARGV: nowMs, replica, evidence, ttlMs.
 */
export const EXCHANGE_SCRIPT = `
local now = tonumber(ARGV[1])
local replica = ARGV[2]
local ttl = tonumber(ARGV[4])
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], replica)
else redis.call('HSET', KEYS[1], replica, ARGV[1] .. ':' .. ARGV[3]) end
local fields = redis.call('HGETALL', KEYS[1])
local others = {}
for i = 1, #fields, 2 do
  local at = string.find(fields[i + 1], ':', 1, true)
  if now - tonumber(string.sub(fields[i + 1], 1, at - 1)) > ttl then redis.call('HDEL', KEYS[1], fields[i])
  elseif fields[i] ~= replica then
    others[#others + 1] = fields[i]
    others[#others + 1] = string.sub(fields[i + 1], at + 1)
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ttl) end
return others
`;

export function encodeExchange(namespace: string, entity: string, publication: Publication, nowMs: number): ScriptCall {
  return { keys: [exchangeKey(namespace, entity, publication.name)], args: [nowMs, publication.replica, publication.evidence, publication.ttlMs] };
}

/** The other replicas' evidence, ordered by replica name as the memory store orders it. */
export function decodeExchangeReply(reply: unknown): string[] {
  if (!Array.isArray(reply) || reply.length % 2 !== 0 || reply.some((item) => typeof item !== "string")) {
    throw new StoreUnavailableError(`redis exchange script returned an unexpected reply: ${JSON.stringify(reply)}`);
  }
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < reply.length; i += 2) pairs.push([reply[i] as string, reply[i + 1] as string]);
  return pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, text]) => text);
}
