/** The actions Palisade can take, lightest first (docs/design.md, the decision). */
export const ACTIONS = ["allow", "step_up", "challenge", "throttle", "quarantine", "block"] as const;
export type Action = (typeof ACTIONS)[number];

/** Scopes an action can apply to. */
export const SCOPES = ["ip", "subnet", "username", "fingerprint", "session"] as const;
export type Scope = (typeof SCOPES)[number];

/** Heavier actions win when several rules match. */
export function actionWeight(action: Action): number {
  return ACTIONS.indexOf(action);
}

export function isDenial(action: Action): boolean {
  return action !== "allow" && action !== "step_up";
}

/** One measured signal that contributed to a decision. */
export interface Reason {
  /** Stable reason code, e.g. `velocity.ip`. */
  code: string;
  /** What was measured. */
  value: number;
  /** The threshold it was compared with, when it has one. */
  threshold?: number;
  /** Risk points this reason added. */
  weight: number;
  /** Extra context: window length, list name, which baseline was used. */
  detail?: string;
}

/** The answer to one request, independent of any transport. */
export interface Decision {
  decisionId: string;
  action: Action;
  /** Integer 0-100. */
  risk: number;
  reasons: Reason[];
  /** Id of the rule that chose the action, if any. */
  rule?: string;
  /** Scope the chosen rule acts on. */
  scope?: Scope;
  policyVersion: string;
  /** Endpoint name from the policy, when the route matched one. */
  endpoint?: string;
  /** Pseudonymous subject (username pseudonym, else IP pseudonym). */
  subject?: string;
  /**
   * Pseudonyms and coarse attributes of the request, copied into the dynamic metadata so that
   * the access-log entry Envoy sends back can be attributed by any replica. Never raw values.
   */
  attribution?: {
    ipId?: string;
    subnet?: string;
    usernameId?: string;
    fingerprintId?: string;
    /** The device cookie's pseudonym (`accountHistory.deviceCookies`). */
    deviceId?: string;
    headerShape?: string;
    country?: string;
    /** Where GeoIP placed the address, "latitude,longitude" to 0.1° (a network's rough place, for impossible travel). */
    place?: string;
  };
  /** Seconds a client should wait, for throttle and quarantine. */
  retryAfterSeconds?: number;
  /** Rate-limit figures for the IETF RateLimit headers when a throttle came from a limit. */
  rateLimit?: { limit: number; remaining: number; resetSeconds: number; windowSeconds: number };
  /** True when state was unavailable and the decision was taken from local state or fail mode. */
  degraded: boolean;
  /** Rules that matched in shadow mode: they would have acted but did not. */
  shadowed: { rule: string; action: Action }[];
  /** Event time the decision was taken at, ms since the epoch. */
  eventTimeMs: number;
}
