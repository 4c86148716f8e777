import { createHmac, randomBytes } from "node:crypto";
import type { CompiledTokenBinding } from "../policy/signals.js";
import { namedCookieValues } from "../domain/cookies.js";
import { headerKnown, type NormalisedRequest } from "../domain/request.js";
import { MemoryStore } from "../state/memory-store.js";
import type { Store } from "../state/store.js";
import { lastNetwork, lastUseMs, stepBinding, type BindingRecord, type BindingRules, type BindingUse } from "../state/token-binding-record.js";
import type { Signal } from "./signal.js";

/** Tokens bound at once when the detector keeps bindings itself (one replica). */
const MAX_TOKENS = 200_000;
/** The memory store's estimate of one binding at its bounds (64-character fields, 8 networks, 32 uses), so that the count is the bound. */
const MAX_BINDING_ENTRY_BYTES = 3_000;

/** A memory store for bindings alone: an LRU of MAX_TOKENS tokens. */
export function bindingMemoryStore(): MemoryStore {
  return new MemoryStore({ maxKeys: MAX_TOKENS, maxBytes: MAX_TOKENS * MAX_BINDING_ENTRY_BYTES });
}

/** The binding signals of one use, and whether the store failed to answer (then there are none). */
export interface BindingSignals {
  signals: Signal[];
  degraded: boolean;
}

/**
 * Token binding: a session or refresh token belongs to the device, the companion cookies and
 * the network it was first used from. Replay shows in any of four ways, and each one flags the
 * first request that shows it:
 *
 * - `session.new_device`: another fingerprint presents the token;
 * - `session.companion_changed`: the cookies the policy names as travelling with the token
 *   are missing or different (a thief who copied the headers but not the jar);
 * - `session.companion_missing` (when the policy weighs it): none of those cookies, on any use
 *   including the first one seen, which then binds nothing: a thief whose first
 *   use comes before the owner's next one would otherwise own the binding;
 * - `session.concurrent_networks`: the token comes back to a network it left less than the
 *   alternation window ago, so two networks use it at once (the victim and a thief who stole
 *   the whole jar and copies its headers); from then on, for one window (or as long as the
 *   policy's `alternation.remember`), every use is flagged;
 * - `session.network_churn`: more networks within minutes than a person moves through;
 * - `session.use_rate`: more uses than one client needs (an app refreshes once per access
 *   token; two holders refresh twice as often), which shows a thief with the whole jar even
 *   while the victim is idle, unless the thief keeps to the app's own pace;
 * - `session.handoff` (when the policy sets `handoff`): another network uses the token less
 *   than a window after its last use. The thief's first use lands beside the victim's, long
 *   before the victim's app would refresh again, so the first replayed use is flagged even when
 *   the thief copied the whole jar and keeps to the app's pace.
 *
 * Roaming (home Wi-Fi to mobile data on the same device with the same cookies) changes the
 * network once and stays there, and the app refreshes on the new network only when its access
 * token runs out: none of these fires (a handoff window shorter than the app's access-token
 * life keeps it so). Bindings live in the store, under the token's pseudonym: in Redis every
 * replica reads and updates the same binding in one atomic script call per use, so the first use
 * any replica sees binds the token for all of them; with the memory store (a single replica)
 * the detector keeps them in a memory store of its own. Cookie values are keyed hashes, under
 * the pseudonymisation key when the service passes it.
 */
export class TokenBindings {
  readonly #store: Store;
  readonly #digest: (value: string) => string;

  /**
   * `store`: where bindings live when replicas share it (Redis: one script call per use). With
   * the memory store (one replica), without a store, or with one that has no `observeBinding`,
   * `memory`: a store apart from the counters, so that a flood of other keys cannot evict
   * bindings; the detector's own unless the caller shares one between detectors that share the
   * memory store (replicas in one process, as the lab runs them).
   * `digest`: the keyed hash of the companion cookies; replicas sharing bindings must share its
   * key (the service passes its pseudonymiser). Without it, a key that exists only in this process.
   */
  constructor(store?: Store, digest?: (value: string) => string, memory?: MemoryStore) {
    const shared = store?.observeBinding !== undefined && store.kind !== "memory";
    this.#store = shared ? store : (memory ?? bindingMemoryStore());
    const key = randomBytes(32);
    this.#digest = digest ?? ((value) => createHmac("sha256", key).update(value).digest("base64url").slice(0, 22));
  }

  observe(request: NormalisedRequest, config: CompiledTokenBinding | undefined): BindingSignals | Promise<BindingSignals> {
    // No token to bind: answered at once, no promise.
    if (!config || !request.sessionId) return { signals: [], degraded: false };
    return this.#observe(request, request.sessionId, config);
  }

  async #observe(request: NormalisedRequest, sessionId: string, config: CompiledTokenBinding): Promise<BindingSignals> {
    const companion = this.#companion(request.headers, config.companionCookies);
    // The policy says the companion cookies travel with every use: a use without any of them is
    // not the token's client, whether or not the token was seen before, and binds nothing (the
    // owner's next use still binds it). An imported log that never recorded cookies says nothing.
    const missing = config.companionMissing !== undefined && config.companionCookies.length > 0 && companion === "" && headerKnown(request, "cookie");
    const use: BindingUse = {
      device: request.fingerprintId ?? "",
      companion,
      network: request.subnet ?? request.ipId ?? "",
      nowMs: Math.floor(request.timeMs),
      missing,
    };
    const rules: BindingRules = { retentionMs: config.retentionMs, alternationMs: config.alternation.windowMs };
    let before;
    try {
      // The session entity (entities.ts), so the binding shares the token's hash tag with its other keys.
      before = await this.#store.observeBinding!(`sess:${sessionId}`, use, rules);
    } catch {
      // Redis did not answer (or the use was one no binding can hold): no binding signals, and the decision says so.
      return { signals: [], degraded: true };
    }
    return { signals: bindingSignals(before, use, rules, config), degraded: false };
  }

  /** Tokens bound now when the detector keeps them itself (for the memory benchmark). */
  size(): number {
    return this.#store instanceof MemoryStore ? this.#store.size : 0;
  }

  #companion(headers: Map<string, string>, names: readonly string[]): string {
    if (names.length === 0) return "";
    const values = namedCookieValues(headers.get("cookie"), names);
    if (!values) return "";
    return this.#digest(values.join("\u0000"));
  }
}

/**
 * The reasons one use fires, from the binding as it was before the use (as the store returned
 * it, after every earlier use by any replica) and the step the store took with it.
 */
export function bindingSignals(before: BindingRecord | undefined, use: BindingUse, rules: BindingRules, config: CompiledTokenBinding): Signal[] {
  const step = stepBinding(before, use, rules);
  if (step.kind === "unbound") {
    return [flag("session.companion_missing", true, config.companionMissing!, "none of the cookies the token travels with, on its first use seen")];
  }
  if (step.kind === "bound") return [];
  if (step.kind === "claimed") {
    return [flag("session.claimed", true, 0, "the token's only earlier use, moments ago, came from another device without its companion cookie; this device carries it and takes the binding")];
  }
  const known = before!;
  const after = step.next!;
  const now = use.nowMs;
  const handoff = config.handoff !== undefined && use.network !== lastNetwork(known) && now - lastUseMs(known) <= config.handoff.windowMs;
  // Once two networks were seen holding the token at once, every use is one of the two holders'
  // for as long as the policy remembers it: the thief's copy must not work again when a
  // quarantine of the token ends (uses during a quarantine are never recorded).
  const heldTwiceMs = Math.max(after.interleavedMs, config.handoff ? lastHandoffMs(known, config.handoff.windowMs) : 0);
  const concurrent = heldTwiceMs !== 0 && now - heldTwiceMs <= config.alternation.rememberMs;
  const recent = after.networks.filter(([, at]) => now - at <= config.churn.windowMs).length;
  const uses = after.uses.filter((at) => now - at <= config.rate.windowMs).length;
  const signals: Signal[] = [
    flag("session.new_device", use.device !== known.device, config.newDevice, "another device presents the token"),
    flag("session.concurrent_networks", concurrent, config.alternation.weight, "two networks taking turns with the token"),
    count("session.use_rate", uses, config.rate.max, config.rate.weight, `uses of the token within ${config.rate.windowMs / 1000}s`),
    count("session.network_churn", recent, config.churn.maxNetworks, config.churn.weight, `networks using the token within ${config.churn.windowMs / 1000}s`),
  ];
  if (config.handoff) {
    signals.push(flag("session.handoff", handoff, config.handoff.weight, `another network within ${config.handoff.windowMs / 1000}s of the last use`));
  }
  if (config.companionCookies.length > 0) {
    signals.push(flag("session.companion_changed", use.companion !== after.companion, config.companionChanged, "the token's companion cookies are missing or different"));
  }
  if (config.companionMissing !== undefined && config.companionCookies.length > 0) {
    signals.push(flag("session.companion_missing", use.missing, config.companionMissing, "none of the cookies the token travels with"));
  }
  return signals;
}

/**
 * When the binding last shows a handoff (0: it shows none): two networks whose last uses lie
 * within `windowMs` of each other. The use that followed the earlier of the two came from
 * another network and no later than the other one's, so the handoff check fired on it; the
 * record keeps this evidence however long the token then lies unused.
 */
function lastHandoffMs(record: BindingRecord, windowMs: number): number {
  // Sorted, in case uses arrived out of order: then the nearest two are neighbours.
  const times = record.networks.map(([, at]) => at).sort((a, b) => a - b);
  let last = 0;
  for (let i = 1; i < times.length; i++) {
    if (times[i]! - times[i - 1]! <= windowMs) last = times[i]!;
  }
  return last;
}

function count(code: string, value: number, threshold: number, weight: number, detail: string): Signal {
  return { code, value, threshold, weight, fired: value > threshold, detail };
}

function flag(code: string, fired: boolean, weight: number, detail: string): Signal {
  return { code, value: fired ? 1 : 0, weight, fired, detail };
}
