import { createHash } from "node:crypto";
import { cookieValue } from "../domain/cookies.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { COUNTER_NAMES, entitiesOf } from "./entities.js";
import type { Signal, SignalPlan } from "./signal.js";

/**
 * Per-address catalogue signals that count everyone behind the address: behind a carrier's
 * CGNAT or an office NAT they add up hundreds of people.
 */
const PER_ADDRESS = new Set(["velocity.ip", "ip.distinct_resources", "ip.distinct_queries"]);
/**
 * Per-address login counts: behind a shared address they add up everyone's failed logins and
 * accounts. They stay reasons (the stuffing rules pair them with the address's failure ratio,
 * which a crowd of people signing in keeps low) but add no risk there, so a carrier's CGNAT
 * never reaches a risk that holds the whole address.
 */
const LOGIN_PER_ADDRESS = new Set(["login.failures.ip", "ip.distinct_usernames"]);

/**
 * Shared addresses: how many different clients (fingerprint and the cookies the policy names)
 * one address carried within the window, as a distinct count on the address. Requests without
 * any of those cookies are not counted as clients: a scraper that keeps no cookie adds nothing
 * to the crowd it hides in. `ip.shared_by` says how many there were.
 */
export function planSharedAddress(request: NormalisedRequest, signals: CompiledSignals): SignalPlan {
  const config = signals.sharedAddress;
  const entity = entitiesOf(request).ip;
  if (!config || !entity) return { ops: [], evaluate: () => [] };
  const member = clientKey(request, config.cookies);
  return {
    ops: [{ entity, op: { op: "distinct.add", name: COUNTER_NAMES.clients, windowMs: config.windowMs, ...(member ? { member } : {}) } }],
    evaluate: ([clients = 0]) => [
      { code: "ip.shared_by", value: clients, threshold: config.minClients, weight: 0, fired: clients >= config.minClients, detail: "clients keeping cookies behind this address" },
    ],
  };
}

/**
 * Behind a shared address, the per-address catalogue counts of `signals` become per-client
 * averages (count / clients), compared with the same thresholds; the detail says so. Logins
 * keep their per-address counts as reasons, without their weight (LOGIN_PER_ADDRESS): the
 * rules answer a NAT (the stuffing rule needs a failing address, step-up for a subnet).
 * A client that invents a new cookie on every request looks like a crowd here: it is left to
 * the signals that do not count per address (fingerprints, assets, rhythm, cohorts, the
 * address's failure ratio).
 */
export function perClient(signals: Signal[], endpoint: CompiledEndpoint): Signal[] {
  const shared = signals.find((s) => s.code === "ip.shared_by");
  if (!shared?.fired) return signals;
  const clients = shared.value;
  if (endpoint.authentication) {
    return signals.map((signal) =>
      LOGIN_PER_ADDRESS.has(signal.code) && signal.fired
        ? { ...signal, weight: 0, detail: `${signal.detail ?? signal.code}, everyone behind a shared address of ${clients} clients: a reason, no risk` }
        : signal,
    );
  }
  return signals.map((signal) => {
    if (!PER_ADDRESS.has(signal.code) || signal.threshold === undefined) return signal;
    const value = Math.round((signal.value / clients) * 100) / 100;
    return { ...signal, value, fired: value > signal.threshold, detail: `${signal.detail ?? signal.code}, per client of ${clients} behind a shared address` };
  });
}

function clientKey(request: NormalisedRequest, cookies: readonly string[]): string | undefined {
  const values = cookies.map((name) => cookieValue(request.headers.get("cookie"), name) ?? "");
  if (values.every((value) => value === "")) return undefined;
  // Cookie values are secrets: only a digest of them (with the fingerprint) reaches the store.
  return createHash("sha256").update(`${request.fingerprintId ?? ""}\u0000${values.join("\u0000")}`).digest("base64url").slice(0, 22);
}
