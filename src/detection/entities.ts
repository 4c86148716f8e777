import { namedCookieValues } from "../domain/cookies.js";
import type { NormalisedRequest } from "../domain/request.js";
import { JoinedNames } from "../domain/two-generation-cache.js";
import type { CompiledSignals } from "../policy/signals.js";
import { shortDigest } from "./digests.js";

/**
 * Counter and set names shared by the Check path (which reads them) and the outcome path
 * (which fills them). Login counters are per entity across all authentication endpoints: an
 * attacker switching from the login form to the token endpoint stays one attacker.
 */
export const COUNTER_NAMES = {
  attempts: "login.att",
  failures: "login.fail",
  successes: "login.ok",
  unknownUsers: "login.unknown",
  usernames: "login.users",
  ips: "login.ips",
  historyFingerprints: "hist.fp",
  historyDevices: "hist.dev",
  deviceSuccesses: "login.ok.dev",
  historySubnets: "hist.net",
  historyCountries: "hist.cc",
  lastLogin: "hist.last",
  pageViews: "pages",
  sessionIps: "sess.ips",
  resources: "res",
  apiRequests: "api",
  queries: "queries",
  catalogueResponses: "resp",
  notFound: "nf",
  slowFailures: "login.fail.slow",
  slowSuccesses: "login.ok.slow",
  slowUsernames: "login.users.slow",
  sessionlessFailedUsernames: "nosess.fail.users",
  sessionlessSuccesses: "nosess.ok",
  clients: "clients",
  signedIn: "login.users.ok",
  signUps: "signup",
} as const;

/**
 * One window for page views, whichever signal reads them (sequence before login, API requests
 * without assets): the window length is part of the key, so two lengths would be two counters.
 */
export function pageViewWindowMs(signals: CompiledSignals): number | undefined {
  return signals.sequence?.windowMs ?? (signals.scraping?.noAssets ? signals.scraping.windowMs : undefined);
}

/** Store entity of each scope; the prefixes keep scopes apart when pseudonyms collide. */
export interface LoginEntities {
  ip?: string;
  subnet?: string;
  username?: string;
  fingerprint?: string;
  session?: string;
}

type EntityIds = Pick<NormalisedRequest, "ipId" | "subnet" | "usernameId" | "fingerprintId" | "sessionId">;

/**
 * The entities of a request (or an outcome's attribution). Shared, not to be changed: every
 * detector planning a Check asks for its request's entities in turn, synchronously, so the last
 * answer is kept for the same object (ids are not changed after normalisation) and the other
 * detectors reuse it instead of joining the names again.
 */
export function entitiesOf(ids: EntityIds): Readonly<LoginEntities> {
  if (ids === lastIds) return lastEntities;
  lastEntities = {
    ip: ids.ipId && prefixed("ip:", ids.ipId),
    subnet: ids.subnet && prefixed("net:", ids.subnet),
    username: ids.usernameId && prefixed("user:", ids.usernameId),
    fingerprint: ids.fingerprintId && prefixed("fp:", ids.fingerprintId),
    session: ids.sessionId && prefixed("sess:", ids.sessionId),
  };
  lastIds = ids;
  return lastEntities;
}

let lastIds: EntityIds | undefined;
let lastEntities: Readonly<LoginEntities> = {};

/**
 * The session a browser keeps: a digest of the values of the site's session cookies
 * (`cohorts.sessionCookies`), the same on every replica; its store entity is `ck:<digest>`, where
 * its reads (session-reads.ts) and the accounts it tried (session-accounts.ts) are kept. Cookie
 * values are secrets: only the digest reaches the store, as for the shared-address clients.
 * Undefined without any of them.
 */
export function browserSessionKey(request: Pick<NormalisedRequest, "headers">, cookies: readonly string[]): string | undefined {
  const values = namedCookieValues(request.headers.get("cookie"), cookies);
  if (!values) return undefined;
  return shortDigest("sha256", `session-reads\u0000${values.join("\u0000")}`, 22);
}

/**
 * Entity names built before: every detector asks for them and each name then keys a Map in the
 * pipeline and one in the memory store (see JoinedNames); the ids are pseudonyms, themselves
 * remembered.
 */
const ENTITIES = new JoinedNames(50_000);
const prefixed = (prefix: string, id: string): string => ENTITIES.join(prefix, id);

/**
 * A counter, set or signal name made of a fixed prefix and a policy name (`ep:<endpoint>`,
 * `lim:<rule>`), the same string each time: detectors name their ops per Check, and the memory
 * store and the pipeline key Maps by those names (see JoinedNames).
 */
export function named(prefix: string, name: string): string {
  return NAMES.join(prefix, name);
}

const NAMES = new JoinedNames(10_000);
