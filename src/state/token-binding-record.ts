/**
 * What a store keeps for one bound session or refresh token, and the one step that updates it
 * on each use. Pure: the memory store runs `stepBinding()` itself, the Redis store runs the same
 * step in a Lua script (store-scripts.ts) so that replicas sharing Redis update a binding
 * atomically and agree on who bound it; the detector (src/detection/token-binding.ts) runs it
 * again on the record the store returns to see what the use did. The contract suite checks that
 * both stores take the same steps.
 *
 * Written here rather than taken from a library: it is Palisade's own binding rule.
 */

/** Networks remembered per token: a person uses a handful, a replaying botnet is caught long before. */
export const BINDING_MAX_NETWORKS = 8;
/** Use times remembered per token, enough for any sensible rate limit. */
export const BINDING_MAX_USES = 32;
/** Longest device, companion or network text a binding keeps (pseudonyms are 22, subnets at most 49). */
export const BINDING_MAX_FIELD_LENGTH = 64;
/**
 * Latest use time a binding accepts: Redis' Lua encodes numbers with 14 significant digits, so
 * times beyond this would come back rounded and the two stores would disagree (year 5138).
 */
export const BINDING_MAX_TIME_MS = 99_999_999_999_999;

export interface BindingRecord {
  /** Fingerprint pseudonym of the use that bound the token. */
  device: string;
  /** Keyed hash of the companion cookies at that use ("" when it carried none, until one does). */
  companion: string;
  /** Networks the token was used from with the time of the last use from each, oldest first; the last is the latest use. */
  networks: [string, number][];
  /** Times of the latest uses, oldest first; the last is the latest use. Never empty. */
  uses: number[];
  /** When the token last came back to a network it had just left (0: never). */
  interleavedMs: number;
}

/** One use of a token, as the detector sees it. */
export interface BindingUse {
  device: string;
  companion: string;
  network: string;
  /** Event time, whole milliseconds. */
  nowMs: number;
  /** The policy wants companion cookies and this use carries none: on a token not bound, it binds nothing. */
  missing: boolean;
}

export interface BindingRules {
  /** A binding unused for longer is forgotten (and the key's time to live). */
  retentionMs: number;
  /** The alternation window: how long a network counts as just left, and a claim stays open. */
  alternationMs: number;
}

/**
 * - `unbound`: no binding (or an expired one) and the use lacks the companion cookies: nothing is written;
 * - `bound`: no binding (or an expired one): this use binds the token;
 * - `claimed`: the only earlier use came from another device without the companion cookie and this
 *   one carries it: this use takes the binding (see `yieldsTo`);
 * - `used`: a later use of the binding, remembered in it.
 */
export type BindingStepKind = "unbound" | "bound" | "claimed" | "used";

export interface BindingStep {
  kind: BindingStepKind;
  /** The record after the use; the one before for `unbound`. */
  next: BindingRecord | undefined;
}

/** The use's effect on `before` (not changed: `next` is a new record). */
export function stepBinding(before: BindingRecord | undefined, use: BindingUse, rules: BindingRules): BindingStep {
  const now = use.nowMs;
  const fresh = before === undefined || now - lastUseMs(before) > rules.retentionMs;
  if (fresh && use.missing) return { kind: "unbound", next: before };
  if (fresh) return { kind: "bound", next: newRecord(use) };
  if (yieldsTo(before, use, rules)) return { kind: "claimed", next: newRecord(use) };
  const networks = before.networks.map(([network, at]) => [network, at] as [string, number]);
  const lastNetwork = networks[networks.length - 1]![0];
  const left = networks.findIndex(([network]) => network === use.network);
  let interleavedMs = before.interleavedMs;
  if (left >= 0 && lastNetwork !== use.network && now - networks[left]![1] <= rules.alternationMs) interleavedMs = now;
  if (left >= 0) networks.splice(left, 1);
  networks.push([use.network, now]);
  if (networks.length > BINDING_MAX_NETWORKS) networks.shift();
  const uses = [...before.uses, now];
  if (uses.length > BINDING_MAX_USES) uses.shift();
  // A client that got its companion cookie only with the token's first answer binds it now.
  const companion = before.companion === "" ? use.companion : before.companion;
  return { kind: "used", next: { device: before.device, companion, networks, uses, interleavedMs } };
}

export function lastUseMs(record: BindingRecord): number {
  return record.uses[record.uses.length - 1]!;
}

export function lastNetwork(record: BindingRecord): string {
  return record.networks[record.networks.length - 1]![0];
}

function newRecord(use: BindingUse): BindingRecord {
  return { device: use.device, companion: use.companion, networks: [[use.network, use.nowMs]], uses: [use.nowMs], interleavedMs: 0 };
}

/**
 * Whoever uses a token first binds it, and Palisade knows nothing of a token before its first use:
 * when a thief holding only the token and the owner's app use it in the same moment, the first of
 * them is an accident of arrival. The companion cookie settles it: the app's device cookie travels
 * with every refresh, and a thief who has only the token has none. So a binding made by a single
 * use without the companion cookie yields to another device that carries it, within the
 * alternation window (an access token's life) of that use.
 */
function yieldsTo(binding: BindingRecord, use: BindingUse, rules: BindingRules): boolean {
  return (
    binding.companion === "" &&
    use.companion !== "" &&
    use.device !== binding.device &&
    binding.uses.length === 1 &&
    use.nowMs - binding.uses[0]! <= rules.alternationMs
  );
}

/**
 * The stored form, the same in both stores: short JSON fields. At the bounds above (fields of
 * 64 characters, 8 networks, 32 uses, times of 14 digits) it is at most 1,326 bytes (the unit
 * test builds that record); a token used 32 times from two subnets, with 22-character
 * pseudonyms, 604; after its first use, 125.
 */
export function encodeBindingRecord(record: BindingRecord): string {
  return JSON.stringify({ d: record.device, c: record.companion, n: record.networks, u: record.uses, i: record.interleavedMs });
}

/** The record stored as `text`, or undefined when it is not one (absent, foreign or damaged). */
export function decodeBindingRecord(text: unknown): BindingRecord | undefined {
  if (typeof text !== "string" || text === "") return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const { d, c, n, u, i } = raw as Record<string, unknown>;
  if (typeof d !== "string" || typeof c !== "string" || !isTime(i)) return undefined;
  if (!Array.isArray(u) || u.length === 0 || !u.every(isTime)) return undefined;
  if (!Array.isArray(n) || n.length === 0) return undefined;
  const networks: [string, number][] = [];
  for (const pair of n) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || !isTime(pair[1])) return undefined;
    networks.push([pair[0], pair[1]]);
  }
  return { device: d, companion: c, networks, uses: u as number[], interleavedMs: i as number };
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Refuses a use or rules no binding can hold, alike in both stores, before anything is written. */
export function assertValidBindingUse(use: BindingUse, rules: BindingRules): void {
  for (const field of ["device", "companion", "network"] as const) {
    const value = use[field];
    if (typeof value !== "string" || value.length > BINDING_MAX_FIELD_LENGTH) {
      throw new TypeError(`binding ${field} must be a string of at most ${BINDING_MAX_FIELD_LENGTH} characters, got ${JSON.stringify(value)?.slice(0, 80)}`);
    }
  }
  if (!Number.isSafeInteger(use.nowMs) || use.nowMs < 0 || use.nowMs > BINDING_MAX_TIME_MS) {
    throw new TypeError(`binding nowMs must be whole milliseconds from 0 to ${BINDING_MAX_TIME_MS}, got ${String(use.nowMs)}`);
  }
  if (typeof use.missing !== "boolean") throw new TypeError("binding missing must be a boolean");
  for (const field of ["retentionMs", "alternationMs"] as const) {
    if (!Number.isSafeInteger(rules[field]) || rules[field] <= 0) {
      throw new TypeError(`binding ${field} must be a positive integer, got ${String(rules[field])}`);
    }
  }
}
