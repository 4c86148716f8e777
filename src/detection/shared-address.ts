import { namedCookieValues } from "../domain/cookies.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { shortDigest } from "./digests.js";
import { COUNTER_NAMES, entitiesOf, named } from "./entities.js";
import { namedOps, NO_PLAN, type Signal, type SignalPlan } from "./signal.js";

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
/** Measured for the pass below, never a reason of its own (weight 0, never fired). */
const CLIENT_VELOCITY = "velocity.client";

/**
 * Shared addresses: how many different clients (fingerprint and the cookies the policy names)
 * one address carried within the window, as a distinct count on the address. Requests without
 * any of those cookies are not counted as clients: a scraper that keeps no cookie adds nothing
 * to the crowd it hides in. `ip.shared_by` says how many there were.
 *
 * On a login endpoint, with `logins` set, it also reads how many different accounts signed in
 * successfully from the address (`ip.signed_in`, filled by the outcome path) and counts the
 * attempts of this client on this address, for `perClient` to judge a proven crowd's logins per
 * client.
 */
export function planSharedAddress(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals): SignalPlan {
  const config = signals.sharedAddress;
  const entity = entitiesOf(request).ip;
  if (!config || !entity) return NO_PLAN;
  const member = clientKey(request, config.cookies);
  const { ops, add, reader } = namedOps();
  add("clients", entity, member ? { op: "distinct.add", name: COUNTER_NAMES.clients, windowMs: config.windowMs, member } : { op: "distinct.add", name: COUNTER_NAMES.clients, windowMs: config.windowMs });
  const logins = endpoint.authentication ? config.logins : undefined;
  const limit = endpoint.velocity.ip;
  if (logins) {
    add("signedIn", entity, { op: "distinct.add", name: COUNTER_NAMES.signedIn, windowMs: config.windowMs });
    // The client's own attempts on this endpoint, under the key of the address's velocity.
    if (member && limit) add("client", `client:${request.ipId}/${member}`, { op: "window.add", name: named("ep:", endpoint.name), windowMs: limit.windowMs, amount: 1 });
  }
  return {
    ops,
    evaluate(results) {
      const value = reader(results);
      const clients = value("clients") ?? 0;
      const found: Signal[] = [
        { code: "ip.shared_by", value: clients, threshold: config.minClients, weight: 0, fired: clients >= config.minClients, detail: "clients keeping cookies behind this address" },
      ];
      const signedIn = value("signedIn");
      if (logins && signedIn !== undefined) {
        found.push({ code: "ip.signed_in", value: signedIn, threshold: logins.minSignedIn, weight: 0, fired: signedIn >= logins.minSignedIn, detail: "accounts signed in successfully from this address" });
      }
      const own = value("client");
      if (own !== undefined && limit) {
        found.push({ code: CLIENT_VELOCITY, value: Math.round(own * 100) / 100, threshold: limit.threshold, weight: 0, fired: false, windowMs: limit.windowMs });
      }
      return found;
    },
  };
}

/**
 * Behind a shared address, the per-address catalogue counts of `signals` become per-client
 * averages (count / clients), compared with the same thresholds; the detail says so. Logins
 * keep their per-address counts as reasons, without their weight (LOGIN_PER_ADDRESS): the
 * rules answer a NAT (the stuffing rule needs a failing address, step-up for a subnet).
 * A client that invents a new cookie on every request looks like a crowd here: it is left to
 * the signals that do not count per address (fingerprints, assets, rhythm, cohorts, the
 * address's failure ratio). Returns `signals` itself when there is nothing to take out or change.
 *
 * A login's `velocity.ip` is the one login count that acts alone (the burst rule throttles on
 * it), so behind an office NAT it throttled people signing in at the start of the day. It is
 * judged per client only where the address has proved to be a crowd of people with what a
 * client cannot invent: several different accounts signed in successfully from it
 * (`ip.signed_in`), and a failure ratio a crowd keeps low (`login.failure_ratio.ip` measured and
 * at most `maxFailureRatio`). The request must carry a client cookie of its own. See
 * `loginPass` for what an attacker can and cannot fake here.
 */
export function perClient(signals: Signal[], endpoint: CompiledEndpoint, config?: CompiledSignals["sharedAddress"]): Signal[] {
  // One pass for both instead of a find and a some: this runs on every Check.
  let shared: Signal | undefined;
  let ownVelocity = false;
  for (let i = 0; i < signals.length; i++) {
    const code = signals[i]!.code;
    if (code === "ip.shared_by") shared ??= signals[i];
    else if (code === CLIENT_VELOCITY) ownVelocity = true;
  }
  // Most Checks measure no client velocity (logins only): the caller's array then goes on as it is.
  const measured = ownVelocity ? signals.filter((s) => s.code !== CLIENT_VELOCITY) : signals;
  if (!shared?.fired) return measured;
  const clients = shared.value;
  if (endpoint.authentication) {
    const own = loginPass(signals, config);
    return measured.map((signal) => {
      if (LOGIN_PER_ADDRESS.has(signal.code) && signal.fired) {
        return { ...signal, weight: 0, detail: `${signal.detail ?? signal.code}, everyone behind a shared address of ${clients} clients: a reason, no risk` };
      }
      if (signal.code === "velocity.ip" && own && signal.threshold !== undefined) {
        return { ...signal, value: own.value, fired: own.value > signal.threshold, detail: `${signal.detail ?? signal.code}, this client's attempts behind a shared address of ${clients} clients (the address made ${signal.value})` };
      }
      return signal;
    });
  }
  return measured.map((signal) => {
    if (!PER_ADDRESS.has(signal.code) || signal.threshold === undefined) return signal;
    const value = Math.round((signal.value / clients) * 100) / 100;
    return { ...signal, value, fired: value > signal.threshold, detail: `${signal.detail ?? signal.code}, per client of ${clients} behind a shared address` };
  });
}

/**
 * The client's own login count, when its shared address has proved to be a crowd. What an
 * attacker can fake: cookies and fingerprints cost nothing, so a client count alone proves no
 * crowd (a stuffer inventing a cookie per attempt would be a new "client" every time). What he
 * cannot: accounts signing in successfully, which takes their passwords, and a low failure
 * ratio, which a combo list (a few hits in a hundred) never has. A stuffer inside a real NAT
 * keeps the pass only until his failures lift the address's ratio past the bound, and is then
 * counted per address again; one who keeps his cookie is counted as the client he is.
 */
function loginPass(signals: Signal[], config: CompiledSignals["sharedAddress"]): Signal | undefined {
  const logins = config?.logins;
  if (!logins) return undefined;
  const own = signals.find((s) => s.code === CLIENT_VELOCITY);
  const signedIn = signals.find((s) => s.code === "ip.signed_in");
  const ratio = signals.find((s) => s.code === "login.failure_ratio.ip");
  if (!own || !signedIn?.fired || !ratio || ratio.value > logins.maxFailureRatio) return undefined;
  return own;
}

export function clientKey(request: NormalisedRequest, cookies: readonly string[]): string | undefined {
  const values = namedCookieValues(request.headers.get("cookie"), cookies);
  if (!values) return undefined;
  // Cookie values are secrets: only a digest of them (with the fingerprint) reaches the store.
  return shortDigest("sha256", `${request.fingerprintId ?? ""}\u0000${values.join("\u0000")}`, 22);
}
