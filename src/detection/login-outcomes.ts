import { LRUCache } from "lru-cache";
import { parseAddress } from "../domain/client-address.js";
import type { AccessLogRecord, OutcomeRecorder } from "../domain/access-log.js";
import type { Clock } from "../domain/clock.js";
import type { EveryKey } from "../domain/every-key.js";
import { isDenial } from "../domain/decision.js";
import type { CompiledPolicy } from "../policy/compile.js";
import type { OutcomeSpec } from "../policy/schema.js";
import { clientIdentity, type ClientIdentity } from "../privacy/client-identity.js";
import type { Pseudonymiser } from "../privacy/pseudonymiser.js";
import type { EntityOp, Store } from "../state/store.js";
import { entitiesOf, COUNTER_NAMES } from "./entities.js";
import { packLogin } from "./geo.js";
import { probingOutcomeOps } from "./probes.js";
import type { SiteEnumeration } from "./site-enumeration.js";
import { catalogueOutcomeOps } from "./scraping.js";
import type { LoginClient, SiteActivity } from "./site-activity.js";

/** What the Check of a login attempt knew, kept until its outcome arrives. Pseudonyms only. */
export interface AttemptContext {
  endpoint: string;
  ipId?: string;
  subnet?: string;
  usernameId?: string;
  fingerprintId?: string;
  /** The device cookie's pseudonym (`accountHistory.deviceCookies`). */
  deviceId?: string;
  country?: string;
  /** Where GeoIP placed the address (replica-local: not carried in Envoy's metadata). */
  location?: { latitude: number; longitude: number };
  headerShape?: string;
  timeMs: number;
  /** Palisade let it through: only then did the application answer it. */
  allowed: boolean;
  /**
   * Let through with a step-up: the application asked for a second factor, so a right password
   * proves the password, not the device. Its device, network and place stay out of the account's
   * history (a stuffing list's hit must not make the attacker's device a known one).
   */
  steppedUp?: boolean;
  /**
   * The login carried none of the site's session cookies (`client.no_session` at its Check).
   * Replica-local: not carried in Envoy's metadata, so an outcome decided elsewhere leaves it
   * unknown, and unknown counts as a client that kept a session (see `earlyCampaign`).
   */
  sessionless?: boolean;
  /** The login's session had no past here (`session.bare_login` at its Check). Replica-local, like `sessionless`. */
  bareSession?: boolean;
  /** Answered with a challenge (see `#recordUnansweredChallenge`). Replica-local, like `sessionless`. */
  challenged?: boolean;
}

export type LoginOutcome = "success" | "failure" | "unknown_user";

/**
 * A registration endpoint's answer: "created" only when the application said it created the
 * account (`outcome.createdHeader`, or an identity provider's report); a bare "success" may be a
 * site hiding that the address already has an account.
 */
export type SignUpReport = LoginOutcome | "created";

/**
 * What a sign-up became, as counted: created (taught the account's history), held (created, but
 * a limit of `#signUpTeaches` kept it from teaching), unmarked (accepted without the creation
 * marker: teaches nothing), refused (a failure or unknown-user answer: teaches nothing).
 */
export type SignUpOutcome = "created" | "held" | "unmarked" | "refused";

/** Attempts awaiting their outcome; the access log usually follows the Check within a second. */
const MAX_PENDING = 100_000;
const PENDING_TTL_MS = 5 * 60_000;

export class RecentAttempts {
  readonly #pending = new LRUCache<string, AttemptContext>({ max: MAX_PENDING, ttl: PENDING_TTL_MS });

  remember(requestId: string | undefined, context: AttemptContext): void {
    if (requestId) this.#pending.set(requestId, context);
  }

  /**
   * The attempt's context. Entries are left to expire rather than deleted: lru-cache clears its
   * whole preallocated store whenever its last entry is deleted, which a Check followed by its
   * outcome would trigger on a quiet replica (a tenth of replay time in the profile). Envoy logs
   * a request once, so a context is not read twice in practice.
   */
  take(requestId: string | undefined): AttemptContext | undefined {
    return requestId ? this.#pending.get(requestId) : undefined;
  }
}

/**
 * Which outcome a response means. A header the identity service sets wins over the status,
 * because some login pages answer 200 to a failed login; undefined for anything that is not a
 * login outcome (a 5xx, a redirect the policy does not list).
 */
export function classifyOutcome(spec: OutcomeSpec, status: number | undefined, headers: Map<string, string>): LoginOutcome | undefined {
  if (headerSays(spec.unknownUserHeader, headers)) return "unknown_user";
  if (headerSays(spec.failureHeader, headers)) return "failure";
  if (status === undefined) return undefined;
  if (spec.unknownUserStatus.includes(status)) return "unknown_user";
  if (spec.failureStatus.includes(status)) return "failure";
  if (spec.successStatus.includes(status)) return "success";
  return undefined;
}

/** A registration's answer: "created" when it succeeded and carries the application's creation marker. */
export function classifySignUp(spec: OutcomeSpec, status: number | undefined, headers: Map<string, string>): SignUpReport | undefined {
  const outcome = classifyOutcome(spec, status, headers);
  return outcome === "success" && headerSays(spec.createdHeader, headers) ? "created" : outcome;
}

function headerSays(rule: OutcomeSpec["failureHeader"], headers: Map<string, string>): boolean {
  return rule !== undefined && rule.values.includes(headers.get(rule.name) ?? "\u0000");
}

export type IgnoredReason = "not_a_login" | "no_context" | "mitigated" | "not_an_outcome";

export interface LoginOutcomeDependencies {
  store: Store;
  policy: () => CompiledPolicy;
  recent: RecentAttempts;
  site: SiteActivity;
  /** Site-wide misses per path shape and sign-up endpoint; absent, they are not counted. */
  enumeration?: SiteEnumeration;
  pseudonymiser: Pseudonymiser;
  /** The time of an entry that carries none. */
  clock: Clock;
  /** Told about every record that did not become an outcome, so it can be counted. */
  onIgnored?: (reason: IgnoredReason) => void;
  onRecorded?: (outcome: LoginOutcome) => void;
  onSignUp?: (outcome: SignUpOutcome) => void;
}

/** How long an account's sign-ins are remembered when the policy sets no `accountHistory.retention`. */
const DEFAULT_HISTORY_RETENTION_MS = 180 * 86_400_000;
/** Sign-ups from one address within SIGN_UP_WINDOW_MS that still teach their accounts' history. */
const SIGN_UPS_THAT_TEACH = 2;
const SIGN_UP_WINDOW_MS = 3_600_000;

/**
 * Turns access-log records of authentication endpoints into the counters the Check path reads:
 * failures per IP, subnet, username and fingerprint, unknown-user probes per IP, and, on
 * success, the account's history (fingerprints, networks, countries it logged in from). A
 * registration endpoint's answer teaches that history only, and only when it says "created".
 */
export class LoginOutcomeRecorder implements OutcomeRecorder {
  constructor(private readonly deps: LoginOutcomeDependencies) {}

  async record(entry: AccessLogRecord): Promise<void> {
    const policy = this.deps.policy();
    await this.#recordProbing(entry, policy);
    this.#recordPathAnswer(entry, policy);
    const context = this.deps.recent.take(entry.requestId) ?? this.#contextFromAttribution(entry) ?? this.#contextFromEntry(entry, policy);
    const endpoint = context && policy.endpoints.find((e) => e.name === context.endpoint);
    if (context && endpoint?.resourceSegment !== undefined && entry.statusCode !== undefined && !entry.deniedByAuthz) {
      return this.#recordCatalogue(context, policy, entry.statusCode);
    }
    if (!context || !endpoint?.outcome) return this.#ignore(context ? "not_a_login" : "no_context");
    if (!context.allowed || entry.deniedByAuthz) {
      if (context.challenged && context.sessionless) await this.#recordUnansweredChallenge(context, policy);
      return this.#ignore("mitigated");
    }
    if (endpoint.registration) {
      const existing = policy.signals.siteEnumeration?.signUps?.statuses.includes(entry.statusCode ?? 0);
      if (existing && context.usernameId) this.deps.enumeration?.recordExistingAccount(endpoint.name, context.usernameId);
      const report = classifySignUp(endpoint.outcome, entry.statusCode, entry.responseHeaders);
      if (!report) return this.#ignore("not_an_outcome");
      await this.applySignUp(report, context, policy);
      return;
    }
    const outcome = classifyOutcome(endpoint.outcome, entry.statusCode, entry.responseHeaders);
    if (!outcome) return this.#ignore("not_an_outcome");
    await this.apply(outcome, context, policy);
  }

  /** Records a login's outcome, read from Envoy's access log or reported by an identity provider. */
  async apply(outcome: LoginOutcome, context: AttemptContext, policy: CompiledPolicy): Promise<void> {
    const failed = outcome !== "success";
    this.deps.site.recordOutcome(context.endpoint, failed, context.headerShape, context.usernameId, context.timeMs, loginClientOf(context));
    const work = outcomeOps(outcome, context, policy);
    await Promise.all([...work].map(([entity, ops]) => this.deps.store.apply(entity, ops, context.timeMs)));
    this.deps.onRecorded?.(outcome);
  }

  /**
   * Records a registration's answer, read from Envoy's access log or reported by an identity
   * provider. Only a created account teaches its history, within the limits of `#signUpTeaches`.
   */
  async applySignUp(report: SignUpReport, context: AttemptContext, policy: CompiledPolicy): Promise<SignUpOutcome> {
    const outcome = await this.#signUpOutcome(report, context, policy);
    if (outcome === "created") await this.learnHistory(context, policy);
    this.deps.onSignUp?.(outcome);
    return outcome;
  }

  async #signUpOutcome(report: SignUpReport, context: AttemptContext, policy: CompiledPolicy): Promise<SignUpOutcome> {
    if (report === "created") return (await this.#signUpTeaches(context, policy)) ? "created" : "held";
    return report === "success" ? "unmarked" : "refused";
  }

  /**
   * Teaches the account history one successful sign-in's part: the account's success count,
   * devices, networks, countries and last place, and nothing else — no per-address count, no
   * site-wide figure, no baseline moves. For an earlier sign-in Palisade did not see decided (the
   * lab's returning accounts: what months of allowed logins would have left), and for a
   * registration the application marked as created: the account was created from that device and
   * network, which a list of existing accounts cannot claim (their sign-ups are never marked).
   */
  async learnHistory(context: AttemptContext, policy: CompiledPolicy): Promise<void> {
    const work = new Map<string, EntityOp[]>();
    historyOps(context, policy, work);
    await Promise.all([...work].map(([entity, ops]) => this.deps.store.apply(entity, ops, context.timeMs)));
  }

  /**
   * Whether a sign-up marked as created may teach the account its device and network: limits
   * that hold should the marker be set where it should not. Not when the account already has a
   * sign-in on record, nor when the address has created more than SIGN_UPS_THAT_TEACH accounts
   * within the hour: a person registers one, a script many. Every created sign-up from the
   * address counts, teaching or not.
   */
  async #signUpTeaches(context: AttemptContext, policy: CompiledPolicy): Promise<boolean> {
    const { username, ip } = entitiesOf(context);
    if (!username || !ip) return false;
    const retentionMs = policy.signals.accountHistory?.retentionMs ?? DEFAULT_HISTORY_RETENTION_MS;
    const [[successes], [signUps]] = await Promise.all([
      this.deps.store.apply(username, [{ op: "window.add", name: COUNTER_NAMES.successes, windowMs: retentionMs, amount: 0 }], context.timeMs),
      this.deps.store.apply(ip, [{ op: "window.add", name: COUNTER_NAMES.signUps, windowMs: SIGN_UP_WINDOW_MS, amount: 1 }], context.timeMs),
    ]);
    return successes === 0 && signUps! <= SIGN_UPS_THAT_TEACH;
  }

  /**
   * A challenged login from a client that kept none of the site's cookies never reached the
   * password check, so it left no failure behind; for the long memory of low-and-slow stuffing
   * (`slowStuffing`) it counts as its address's failed login all the same. A script walking a
   * list one account per address keeps no cookies and does not come back signed in, so its
   * address shows on its next account as if the first had failed. A browser keeps the site's
   * cookie, solves the challenge and signs in: its challenge is not counted, because a person
   * challenged during a campaign and then counted as failing got friction from the next login
   * behind the same address (the sweep's worst distributed-stuffing point, when every challenge
   * counted). Nothing else counts it: per-minute failures and ratios, the site-wide figures and
   * the account's own failures stay those of passwords actually checked.
   */
  async #recordUnansweredChallenge(context: AttemptContext, policy: CompiledPolicy): Promise<void> {
    const slow = policy.signals.slowStuffing;
    const { ip, fingerprint } = entitiesOf(context);
    if (!slow || !context.usernameId) return;
    const work: Promise<unknown>[] = [];
    if (ip) work.push(this.deps.store.apply(ip, [{ op: "window.add", name: COUNTER_NAMES.slowFailures, windowMs: slow.windowMs, amount: 1 }], context.timeMs));
    if (fingerprint && slow.fingerprint) work.push(this.deps.store.apply(fingerprint, [sessionlessFailure(slow.windowMs, context.usernameId)], context.timeMs));
    await Promise.all(work);
  }

  /** Catalogue responses feed the 404 ratio of the client that asked (probing for ids). */
  async #recordCatalogue(context: AttemptContext, policy: CompiledPolicy, statusCode: number): Promise<void> {
    this.deps.site.recordOutcome(context.endpoint, statusCode === 404, context.headerShape);
    const ops = catalogueOutcomeOps(policy.signals, statusCode);
    const entity = entitiesOf(context).ip;
    if (ops.length > 0 && entity) await this.deps.store.apply(entity, ops, context.timeMs);
  }

  /**
   * Any response, on any path, that the probing signals count (a 404, 403 or 400 the site
   * answered, not one Palisade caused): attributed to the IP the deciding replica saw, or to
   * the address Envoy logged.
   */
  async #recordProbing(entry: AccessLogRecord, policy: CompiledPolicy): Promise<void> {
    if (entry.statusCode === undefined || entry.deniedByAuthz) return;
    const ops = probingOutcomeOps(policy.signals.probing, entry.statusCode, entry.path);
    if (ops.length === 0) return;
    const address = entry.attribution?.ipId ? undefined : parseAddress(entry.clientAddress);
    const ipId = entry.attribution?.ipId ?? (address && this.deps.pseudonymiser.pseudonymise("ip", address.ip));
    if (ipId) await this.deps.store.apply(`ip:${ipId}`, ops, entry.timeMs ?? this.deps.clock.now());
  }

  /** A path no endpoint names, answered by the site (not by Palisade): its shape's misses, site-wide. */
  #recordPathAnswer(entry: AccessLogRecord, policy: CompiledPolicy): void {
    const statuses = policy.signals.siteEnumeration?.paths?.statuses;
    if (!statuses?.includes(entry.statusCode ?? 0) || !this.deps.enumeration || entry.deniedByAuthz || !entry.method || !entry.path) return;
    const path = entry.path.split("?")[0]!;
    if (!policy.endpointFor(entry.method.toUpperCase(), path)) this.deps.enumeration.recordMissingPath(path);
  }

  #ignore(reason: IgnoredReason): void {
    this.deps.onIgnored?.(reason);
  }

  /**
   * Another replica decided the request: Envoy handed back the pseudonyms that replica saw,
   * so the outcome lands on the same counters.
   */
  #contextFromAttribution(entry: AccessLogRecord): EveryKey<AttemptContext> | undefined {
    const attribution = entry.attribution;
    if (!attribution) return undefined;
    const { action } = attribution;
    return {
      endpoint: attribution.endpoint,
      ipId: attribution.ipId,
      subnet: attribution.subnet,
      usernameId: attribution.usernameId,
      fingerprintId: attribution.fingerprintId,
      deviceId: attribution.deviceId,
      country: attribution.country,
      location: placeOf(attribution.place),
      headerShape: attribution.headerShape,
      timeMs: entry.timeMs ?? this.deps.clock.now(),
      allowed: !isDenial(action),
      steppedUp: action === "step_up",
      // Replica-local, not in Envoy's metadata: unknown here (see AttemptContext).
      sessionless: undefined,
      bareSession: undefined,
      challenged: undefined,
    };
  }

  /** No Check context (it expired, or the entry carries none): attribute it to the client address. */
  #contextFromEntry(entry: AccessLogRecord, policy: CompiledPolicy): EveryKey<AttemptContext> | undefined {
    const endpoint = entry.method && entry.path ? policy.endpointFor(entry.method.toUpperCase(), entry.path.split("?")[0]!) : undefined;
    const address = parseAddress(entry.clientAddress);
    if (!endpoint || !address) return undefined;
    const identity = clientIdentity({ address }, policy.client, this.deps.pseudonymiser);
    return identifiedAttempt(endpoint.name, identity, entry.timeMs ?? this.deps.clock.now(), entry.deniedByAuthz !== true);
  }
}

/**
 * An attempt known by its client's identity alone (an access-log entry without its Check's
 * context, an outcome reported to the endpoint): what a Check sees of the client is unknown.
 */
export function identifiedAttempt(endpoint: string, identity: ClientIdentity, timeMs: number, allowed: boolean): EveryKey<AttemptContext> {
  return {
    endpoint,
    ipId: identity.ipId,
    subnet: identity.subnet,
    usernameId: identity.usernameId,
    timeMs,
    allowed,
    fingerprintId: undefined,
    deviceId: undefined,
    country: undefined,
    location: undefined,
    headerShape: undefined,
    steppedUp: undefined,
    sessionless: undefined,
    bareSession: undefined,
    challenged: undefined,
  };
}

/** "latitude,longitude" from the attribution; undefined for anything else (it came back through Envoy). */
function placeOf(place: string | undefined): AttemptContext["location"] {
  const match = place ? /^(-?\d{1,3}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)$/.exec(place) : null;
  if (!match) return undefined;
  const [latitude, longitude] = [Number(match[1]), Number(match[2])];
  return Math.abs(latitude) <= 90 && Math.abs(longitude) <= 180 ? { latitude, longitude } : undefined;
}

function outcomeOps(outcome: LoginOutcome, context: AttemptContext, policy: CompiledPolicy): Map<string, EntityOp[]> {
  const signals = policy.signals;
  const entities = entitiesOf(context);
  const work = new Map<string, EntityOp[]>();
  const add = (entity: string | undefined, op: EntityOp) => entity && work.set(entity, [...(work.get(entity) ?? []), op]);
  if (signals.failureRatio) {
    add(entities.ip, { op: "window.add", name: COUNTER_NAMES.attempts, windowMs: signals.failureRatio.windowMs, amount: 1 });
  }
  const failureWindow = signals.failures?.windowMs ?? signals.failureRatio?.windowMs;
  if (outcome !== "success" && failureWindow) {
    for (const entity of [entities.ip, entities.subnet, entities.username, entities.fingerprint]) {
      add(entity, { op: "window.add", name: COUNTER_NAMES.failures, windowMs: failureWindow, amount: 1 });
    }
  }
  const slow = signals.slowStuffing;
  if (slow) {
    const name = outcome === "success" ? COUNTER_NAMES.slowSuccesses : COUNTER_NAMES.slowFailures;
    add(entities.ip, { op: "window.add", name, windowMs: slow.windowMs, amount: 1 });
    if (slow.fingerprint && context.sessionless) {
      if (outcome === "success") add(entities.fingerprint, { op: "window.add", name: COUNTER_NAMES.sessionlessSuccesses, windowMs: slow.windowMs, amount: 1 });
      else if (context.usernameId) add(entities.fingerprint, sessionlessFailure(slow.windowMs, context.usernameId));
    }
  }
  if (outcome === "unknown_user" && signals.enumeration) {
    add(entities.ip, { op: "window.add", name: COUNTER_NAMES.unknownUsers, windowMs: signals.enumeration.windowMs, amount: 1 });
  }
  const crowd = signals.sharedAddress;
  if (outcome === "success" && crowd?.logins && context.usernameId) {
    // Accounts signed in from the address: what proves a shared address a crowd of people.
    add(entities.ip, { op: "distinct.add", name: COUNTER_NAMES.signedIn, windowMs: crowd.windowMs, member: context.usernameId });
  }
  if (outcome === "success") historyOps(context, policy, work);
  return work;
}

/** What the login's client kept of the site's session, as its Check saw it. */
function loginClientOf(context: Pick<AttemptContext, "sessionless" | "bareSession">): LoginClient | undefined {
  return context.sessionless ? "sessionless" : context.bareSession ? "bare" : undefined;
}

/** An account that failed from a sessionless client, in its header set's long memory (`slowStuffing.fingerprint`). */
function sessionlessFailure(windowMs: number, usernameId: string): EntityOp {
  return { op: "distinct.add", name: COUNTER_NAMES.sessionlessFailedUsernames, windowMs, member: usernameId, count: false };
}

/** A successful sign-in's part: the account's success count, history and last place (see `steppedUp`). */
function historyOps(context: AttemptContext, policy: CompiledPolicy, work: Map<string, EntityOp[]>): void {
  const signals = policy.signals;
  const entities = entitiesOf(context);
  const add = (entity: string | undefined, op: EntityOp) => entity && work.set(entity, [...(work.get(entity) ?? []), op]);
  const history = signals.accountHistory;
  if (history || signals.newUsername) {
    const retentionMs = history?.retentionMs ?? DEFAULT_HISTORY_RETENTION_MS;
    add(entities.username, { op: "window.add", name: COUNTER_NAMES.successes, windowMs: retentionMs, amount: 1 });
    const remember = (name: string, member: string | undefined) =>
      member && history && !context.steppedUp && add(entities.username, { op: "member.add", name, member, maxMembers: history.maxPerAccount, retentionMs });
    remember(COUNTER_NAMES.historyFingerprints, context.fingerprintId);
    remember(COUNTER_NAMES.historyDevices, context.deviceId);
    if (history && context.deviceId && !context.steppedUp) {
      add(entities.username, { op: "window.add", name: COUNTER_NAMES.deviceSuccesses, windowMs: retentionMs, amount: 1 });
    }
    remember(COUNTER_NAMES.historySubnets, context.subnet);
    remember(COUNTER_NAMES.historyCountries, context.country);
  }
  const travel = signals.geo?.impossibleTravel;
  if (travel && context.location && !context.steppedUp) {
    add(entities.username, { op: "value.swap", name: COUNTER_NAMES.lastLogin, value: packLogin(context.location, context.timeMs), retentionMs: travel.retentionMs });
  }
}
