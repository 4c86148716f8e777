import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals, CountLimit } from "../policy/signals.js";
import { headerKnown, type NormalisedRequest } from "../domain/request.js";
import { entitiesOf, COUNTER_NAMES, type LoginEntities } from "./entities.js";
import { travelSignal } from "./geo.js";
import type { RecentCounts } from "./recent-counts.js";
import { namedOps, type ResultReader, type Signal, type SignalPlan } from "./signal.js";

/**
 * Credential-stuffing and account-takeover signals for one attempt on an authentication
 * endpoint. The attempt is counted per entity (IP, subnet, username, fingerprint) and the
 * counters the outcome path fills (failures, successes, history) are read in the same script
 * call, so each entity costs one round trip whatever the number of signals.
 */
export function planLogin(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals, recent?: RecentCounts): SignalPlan {
  const entities = entitiesOf(request);
  const { ops, add, reader } = namedOps();
  // The usernames behind one fingerprint: a key a whole campaign shares (recent-counts.ts).
  const fingerprintUsers = recent && entities.fingerprint ? `${entities.fingerprint}\u0000${COUNTER_NAMES.usernames}` : undefined;
  let fingerprintCopy: number | undefined;
  const window = signals.failures?.windowMs ?? signals.failureRatio?.windowMs;
  if (window) {
    for (const scope of ["ip", "subnet", "username", "fingerprint"] as const) {
      add(`fail.${scope}`, entities[scope], { op: "window.add", name: COUNTER_NAMES.failures, windowMs: window, amount: 0 });
    }
  }
  if (signals.failureRatio) {
    // Attempts are counted when their outcome arrives, like failures: attempts Palisade denied
    // have no outcome and must not dilute the ratio of the source that made them.
    add("attempts.ip", entities.ip, { op: "window.add", name: COUNTER_NAMES.attempts, windowMs: signals.failureRatio.windowMs, amount: 0 });
  }
  const distinct = signals.distinctUsernames;
  if (distinct && request.usernameId) {
    const threshold = distinct.fingerprint?.threshold;
    if (fingerprintUsers && threshold !== undefined) fingerprintCopy = recent!.usable(fingerprintUsers, distinct.windowMs, request.timeMs, threshold);
    for (const scope of ["ip", "subnet", "fingerprint"] as const) {
      add(`users.${scope}`, entities[scope], {
        op: "distinct.add",
        name: COUNTER_NAMES.usernames,
        windowMs: distinct.windowMs,
        member: request.usernameId,
        ...(scope === "fingerprint" && fingerprintCopy !== undefined ? { count: false } : {}),
      });
    }
  }
  if (signals.distinctIps && request.ipId) {
    add("ips.username", entities.username, { op: "distinct.add", name: COUNTER_NAMES.ips, windowMs: signals.distinctIps.windowMs, member: request.ipId });
  }
  if (signals.enumeration) {
    add("unknown.ip", entities.ip, { op: "window.add", name: COUNTER_NAMES.unknownUsers, windowMs: signals.enumeration.windowMs, amount: 0 });
  }
  const history = signals.accountHistory;
  if (history || signals.newUsername) {
    const retention = history?.retentionMs ?? 180 * 86_400_000;
    add("successes.username", entities.username, { op: "window.add", name: COUNTER_NAMES.successes, windowMs: retention, amount: 0 });
  }
  if (history) {
    // Written out rather than through a local helper: under tsx every such arrow is named on each Check.
    if (request.fingerprintId) add("known.fingerprint", entities.username, { op: "member.check", name: COUNTER_NAMES.historyFingerprints, member: request.fingerprintId });
    if (request.deviceId) add("known.device", entities.username, { op: "member.check", name: COUNTER_NAMES.historyDevices, member: request.deviceId });
    if (history.deviceCookies.length > 0) {
      add("device.successes", entities.username, { op: "window.add", name: COUNTER_NAMES.deviceSuccesses, windowMs: history.retentionMs, amount: 0 });
    }
    if (request.subnet) add("known.subnet", entities.username, { op: "member.check", name: COUNTER_NAMES.historySubnets, member: request.subnet });
    if (request.country) add("known.country", entities.username, { op: "member.check", name: COUNTER_NAMES.historyCountries, member: request.country });
  }
  const travel = signals.geo?.impossibleTravel;
  if (travel && request.location && request.usernameId) {
    add("travel.username", entities.username, { op: "value.swap", name: COUNTER_NAMES.lastLogin });
  }
  const slow = signals.slowStuffing;
  if (slow && request.usernameId) {
    add("slow.users", entities.ip, { op: "distinct.add", name: COUNTER_NAMES.slowUsernames, windowMs: slow.windowMs, member: request.usernameId });
    add("slow.fail", entities.ip, { op: "window.add", name: COUNTER_NAMES.slowFailures, windowMs: slow.windowMs, amount: 0 });
    add("slow.ok", entities.ip, { op: "window.add", name: COUNTER_NAMES.slowSuccesses, windowMs: slow.windowMs, amount: 0 });
    if (slow.fingerprint) {
      // Read only: the outcome path writes them, for logins that carried none of the site's cookies.
      add("slow.fp.users", entities.fingerprint, { op: "distinct.add", name: COUNTER_NAMES.sessionlessFailedUsernames, windowMs: slow.windowMs });
      add("slow.fp.ok", entities.fingerprint, { op: "window.add", name: COUNTER_NAMES.sessionlessSuccesses, windowMs: slow.windowMs, amount: 0 });
    }
  }
  if (signals.sequence && request.ipId) {
    add("pages.ip", entities.ip, { op: "window.add", name: COUNTER_NAMES.pageViews, windowMs: signals.sequence.windowMs, amount: 0 });
  }
  return {
    ops,
    evaluate(results) {
      const read = reader(results);
      const value: ResultReader = fingerprintCopy === undefined ? read : (key) => (key === "users.fingerprint" ? fingerprintCopy : read(key));
      const fresh = fingerprintCopy === undefined && fingerprintUsers && distinct ? read("users.fingerprint") : undefined;
      if (fresh !== undefined) recent!.remember(fingerprintUsers!, distinct!.windowMs, request.timeMs, fresh);
      return [
        ...countSignals(value, signals),
        ...ratioSignal(value, signals),
        ...slowStuffingSignal(value, signals),
        ...sessionlessFingerprintSignal(value, signals),
        ...historySignals(value, signals, request, entities),
        ...sequenceSignal(value, signals, request, endpoint),
        ...(travel ? travelSignal(value("travel.username"), request, travel) : []),
      ];
    },
  };
}



function countSignals(value: ResultReader, signals: CompiledSignals): Signal[] {
  const found: Signal[] = [];
  const failures = signals.failures;
  for (const scope of ["ip", "subnet", "username", "fingerprint"] as const) {
    compareCount(found, `login.failures.${scope}`, value(`fail.${scope}`), failures?.[scope], `failed logins per ${(failures?.windowMs ?? 0) / 1000}s`);
  }
  const distinct = signals.distinctUsernames;
  for (const scope of ["ip", "subnet", "fingerprint"] as const) {
    compareCount(found, `${scope}.distinct_usernames`, value(`users.${scope}`), distinct?.[scope], "usernames tried");
  }
  compareCount(found, "username.distinct_ips", value("ips.username"), signals.distinctIps?.username, "IPs this username was tried from");
  compareCount(found, "ip.username_enumeration", value("unknown.ip"), signals.enumeration, "logins for unknown usernames");
  return found;
}

/** Adds the signal of a count against its limit, when both are there (a module function: no closure per Check). */
function compareCount(found: Signal[], code: string, measured: number | undefined, limit: CountLimit | undefined, detail: string): void {
  if (measured === undefined || !limit) return;
  const rounded = Math.round(measured * 100) / 100;
  found.push({ code, value: rounded, threshold: limit.threshold, weight: limit.weight, fired: rounded > limit.threshold, detail });
}

function ratioSignal(value: ResultReader, signals: CompiledSignals): Signal[] {
  const config = signals.failureRatio;
  const attempts = value("attempts.ip");
  if (!config || attempts === undefined || attempts < config.minAttempts) return [];
  const ratio = Math.min(1, Math.round(((value("fail.ip") ?? 0) / attempts) * 100) / 100);
  return [{ code: "login.failure_ratio.ip", value: ratio, threshold: config.threshold, weight: config.weight, fired: ratio > config.threshold }];
}

/**
 * Long memory for low-and-slow stuffing: an address that tries a different account every 10 to
 * 30 minutes stays under every per-minute count, but over hours it has tried several accounts,
 * failed, and never once got in. A person mistyping tries one account and then succeeds; a NAT
 * or CGNAT full of people succeeds all the time. Two counters and a distinct count per address.
 */
function slowStuffingSignal(value: ResultReader, signals: CompiledSignals): Signal[] {
  const config = signals.slowStuffing;
  const usernames = value("slow.users");
  if (!config || usernames === undefined) return [];
  const failures = value("slow.fail") ?? 0;
  const successes = value("slow.ok") ?? 0;
  const fired = usernames >= config.minUsernames && failures >= config.minFailures && successes === 0;
  const detail = `${Math.round(failures)} failed and no successful login from this address within ${config.windowMs / 60_000} min`;
  return [{ code: "ip.slow_stuffing", value: usernames, threshold: config.minUsernames, weight: config.weight, fired, detail }];
}

/**
 * Long memory per header set, for the first account an address tries: a list walked one account
 * per address from clients that keep none of the site's cookies shows in the header set they
 * share. Over hours, that many different accounts failed (or were challenged) from sessionless
 * clients sending it, and not one of those clients got in. Browsers carry the site's cookie and
 * the app its device cookie, so shoppers never write these counters; the signal alone says
 * nothing about the login at hand, which rules combine with its own `client.no_session`.
 */
function sessionlessFingerprintSignal(value: ResultReader, signals: CompiledSignals): Signal[] {
  const config = signals.slowStuffing?.fingerprint;
  const usernames = value("slow.fp.users");
  if (!config || usernames === undefined) return [];
  const fired = usernames >= config.minUsernames && (value("slow.fp.ok") ?? 0) === 0;
  const detail = `accounts that failed from clients of this header set without the site's cookies, none signed in, within ${signals.slowStuffing!.windowMs / 60_000} min`;
  return [{ code: "fingerprint.slow_stuffing", value: usernames, threshold: config.minUsernames, weight: config.weight, fired, detail }];
}

/**
 * Risk-based authentication: history only speaks for accounts that have logged in before; a
 * username with no success at all is the typical target of a stuffing list.
 */
function historySignals(value: ResultReader, signals: CompiledSignals, request: NormalisedRequest, entities: LoginEntities): Signal[] {
  const successes = value("successes.username");
  if (successes === undefined || !entities.username) return [];
  if (successes === 0) {
    return signals.newUsername
      ? [{ code: "username.never_succeeded", value: 1, weight: signals.newUsername.weight, fired: true }]
      : [];
  }
  const history = signals.accountHistory;
  if (!history) return [];
  const novel = (code: string, key: string, weight: number): Signal[] =>
    value(key) === 0 ? [{ code, value: 1, weight, fired: true, detail: "not seen in this account's history" }] : [];
  // The site's own name for the device, seen on an earlier sign-in of this account that was let
  // in outright: a cookie value a list of passwords cannot supply. Weightless: rules exempt it.
  return [
    ...deviceSignals(value, history, request),
    ...novel("account.new_fingerprint", "known.fingerprint", history.newFingerprint),
    ...novel("account.new_subnet", "known.subnet", history.newSubnet),
    ...(request.country ? novel("account.new_country", "known.country", history.newCountry) : []),
  ];
}

/**
 * The site's own name for the device (`accountHistory.deviceCookies`), kept from sign-ins that
 * were let in outright: `account.known_device` (weightless, rules exempt it) when the login
 * carries one of the account's, `account.new_device` when it carries another or none although
 * the account signs in with one. A header set is shared by countless browsers; a cookie value
 * is not, and a list of passwords cannot supply it. Said only where cookies were recorded.
 */
function deviceSignals(value: ResultReader, history: NonNullable<CompiledSignals["accountHistory"]>, request: NormalisedRequest): Signal[] {
  if (history.deviceCookies.length === 0 || !headerKnown(request, "cookie")) return [];
  if (request.deviceId && value("known.device") === 1) {
    return [{ code: "account.known_device", value: 1, weight: 0, fired: true, detail: "carries a device cookie this account signed in with before" }];
  }
  if ((value("device.successes") ?? 0) < 1) return [];
  const detail = request.deviceId ? "a device cookie this account never signed in with" : "no device cookie, for an account that signs in with one";
  return [{ code: "account.new_device", value: 1, weight: history.newDevice, fired: true, detail }];
}

/** Browsers fetch the login page (and its assets) before they post the form. */
function sequenceSignal(value: ResultReader, signals: CompiledSignals, request: NormalisedRequest, endpoint: CompiledEndpoint): Signal[] {
  const pages = value("pages.ip");
  if (!signals.sequence || pages === undefined || !claimsBrowser(request) || endpoint.pageView) return [];
  // Measured either way: the cohorts read whether this client's address loaded a page.
  return [{ code: "sequence.no_page_view", value: pages, threshold: 1, weight: signals.sequence.weight, fired: pages < 1 }];
}

export function claimsBrowser(request: NormalisedRequest): boolean {
  return (request.headers.get("user-agent") ?? "").includes("Mozilla/5.0");
}
