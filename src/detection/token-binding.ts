import { createHmac, randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { CompiledTokenBinding } from "../policy/signals.js";
import { namedCookieValues } from "../domain/cookies.js";
import { headerKnown, type NormalisedRequest } from "../domain/request.js";
import type { Signal } from "./signal.js";

/** Tokens bound at once; the least recently used are forgotten first (and bind afresh). */
const MAX_TOKENS = 200_000;
/** Networks remembered per token: a person uses a handful, a replaying botnet is caught long before. */
const MAX_NETWORKS = 8;
/** Use times remembered per token, enough for any sensible rate limit. */
const MAX_USES = 32;

interface Binding {
  /** Fingerprint pseudonym of the first use: the device the token was issued to. */
  device: string;
  /** Keyed hash of the companion cookies' values at the first use ("" when it carried none). */
  companion: string;
  /** Networks the token was used from, with the time of the last use from each (oldest first). */
  networks: Map<string, number>;
  lastNetwork: string;
  lastUseMs: number;
  /** When the token last came back to a network it had just left: two networks hold it. */
  interleavedMs?: number;
  /** Times of the latest uses, oldest first (at most MAX_USES). */
  uses: number[];
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
 *   including the first one this replica sees, which then binds nothing: a thief whose first
 *   use comes before the owner's next one would otherwise own the binding;
 * - `session.concurrent_networks`: the token comes back to a network it left less than the
 *   alternation window ago, so two networks use it at once (the victim and a thief who stole
 *   the whole jar and copies its headers); from then on, for one window, every use is flagged;
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
 * life keeps it so). Bindings live in the replica's memory,
 * like the spraying detector's state, bounded by MAX_TOKENS (bench/long-memory.ts measures the
 * bytes per token): a replica that sees a token for the first time binds it to that use. Cookie
 * values are keyed hashes under a key that exists only in this process.
 */
export class TokenBindings {
  readonly #key = randomBytes(32);
  readonly #bindings = new LRUCache<string, Binding>({ max: MAX_TOKENS });

  observe(request: NormalisedRequest, config: CompiledTokenBinding | undefined): Signal[] {
    if (!config || !request.sessionId) return [];
    const device = request.fingerprintId ?? "";
    const companion = this.#companion(request.headers, config.companionCookies);
    const network = request.subnet ?? request.ipId ?? "";
    const now = request.timeMs;
    const known = this.#bindings.get(request.sessionId);
    // The policy says the companion cookies travel with every use: a use without any of them is
    // not the token's client, whether or not the token was seen before, and binds nothing (the
    // owner's next use still binds it). An imported log that never recorded cookies says nothing.
    const missing = config.companionMissing !== undefined && config.companionCookies.length > 0 && companion === "" && headerKnown(request, "cookie");
    if (missing && (!known || now - known.lastUseMs > config.retentionMs)) {
      return [flag("session.companion_missing", true, config.companionMissing!, "none of the cookies the token travels with, on its first use seen")];
    }
    if (!known || now - known.lastUseMs > config.retentionMs) {
      this.#bindings.set(request.sessionId, { device, companion, networks: new Map([[network, now]]), lastNetwork: network, lastUseMs: now, uses: [now] });
      return [];
    }
    if (yieldsTo(known, device, companion, now, config)) {
      this.#bindings.set(request.sessionId, { device, companion, networks: new Map([[network, now]]), lastNetwork: network, lastUseMs: now, uses: [now] });
      return [flag("session.claimed", true, 0, "the token's only earlier use, moments ago, came from another device without its companion cookie; this device carries it and takes the binding")];
    }
    // A client that got its companion cookie only with the token's first answer binds it now.
    if (known.companion === "") known.companion = companion;
    const handoff = config.handoff !== undefined && network !== known.lastNetwork && now - known.lastUseMs <= config.handoff.windowMs;
    const leftAt = known.networks.get(network);
    const returned = leftAt !== undefined && known.lastNetwork !== network && now - leftAt <= config.alternation.windowMs;
    if (returned) known.interleavedMs = now;
    // Once two networks were seen taking turns, every use within the window is one of the two.
    const concurrent = known.interleavedMs !== undefined && now - known.interleavedMs <= config.alternation.windowMs;
    remember(known, network, now);
    const recent = [...known.networks.values()].filter((at) => now - at <= config.churn.windowMs).length;
    const uses = known.uses.filter((at) => now - at <= config.rate.windowMs).length;
    const signals: Signal[] = [
      flag("session.new_device", device !== known.device, config.newDevice, "another device presents the token"),
      flag("session.concurrent_networks", concurrent, config.alternation.weight, "two networks taking turns with the token"),
      count("session.use_rate", uses, config.rate.max, config.rate.weight, `uses of the token within ${config.rate.windowMs / 1000}s`),
      count("session.network_churn", recent, config.churn.maxNetworks, config.churn.weight, `networks using the token within ${config.churn.windowMs / 1000}s`),
    ];
    if (config.handoff) {
      signals.push(flag("session.handoff", handoff, config.handoff.weight, `another network within ${config.handoff.windowMs / 1000}s of the last use`));
    }
    if (config.companionCookies.length > 0) {
      signals.push(flag("session.companion_changed", companion !== known.companion, config.companionChanged, "the token's companion cookies are missing or different"));
    }
    if (config.companionMissing !== undefined && config.companionCookies.length > 0) {
      signals.push(flag("session.companion_missing", missing, config.companionMissing, "none of the cookies the token travels with"));
    }
    return signals;
  }

  /** Tokens bound now (for the memory benchmark). */
  size(): number {
    return this.#bindings.size;
  }

  #companion(headers: Map<string, string>, names: readonly string[]): string {
    if (names.length === 0) return "";
    const values = namedCookieValues(headers.get("cookie"), names);
    if (!values) return "";
    return createHmac("sha256", this.#key).update(values.join("\u0000")).digest("base64url").slice(0, 16);
  }
}

/**
 * Whoever uses a token first binds it, and Palisade knows nothing of a token before its first use
 * since it started: when a thief holding only the token and the owner's app use it in the same
 * moment, the first of them is an accident of arrival. The companion cookie settles it: the app's
 * device cookie travels with every refresh, and a thief who has only the token has none. So a
 * binding made by a single use without the companion cookie yields to another device that
 * carries it, within the alternation window (an access token's life) of that use; the earlier
 * holder is then the other device, flagged from its next use. A thief who stole the cookie jar
 * gains nothing here (his use carried the cookie, so it binds for good, and the network reasons
 * decide); one who invents a companion cookie can take only a token whose one earlier use lacked
 * it, which the owner's app, sending its cookie with every refresh, never leaves.
 */
function yieldsTo(binding: Binding, device: string, companion: string, now: number, config: CompiledTokenBinding): boolean {
  return (
    config.companionCookies.length > 0 &&
    binding.companion === "" &&
    companion !== "" &&
    device !== binding.device &&
    binding.uses.length === 1 &&
    now - binding.uses[0]! <= config.alternation.windowMs
  );
}

function remember(binding: Binding, network: string, now: number): void {
  binding.networks.delete(network);
  binding.networks.set(network, now);
  if (binding.networks.size > MAX_NETWORKS) binding.networks.delete(binding.networks.keys().next().value!);
  binding.lastNetwork = network;
  binding.lastUseMs = now;
  binding.uses.push(now);
  if (binding.uses.length > MAX_USES) binding.uses.shift();
}

function count(code: string, value: number, threshold: number, weight: number, detail: string): Signal {
  return { code, value, threshold, weight, fired: value > threshold, detail };
}

function flag(code: string, fired: boolean, weight: number, detail: string): Signal {
  return { code, value: fired ? 1 : 0, weight, fired, detail };
}
