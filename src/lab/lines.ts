/**
 * One line of a lab traffic file (JSON lines). `palisade simulate` writes them and `palisade
 * replay` reads them. The payloads are Envoy's own messages in proto3 JSON form, so a file can
 * also be assembled from real CheckRequests and access-log entries.
 */
export type LabLine = CheckLine | AccessLogLine | HistoryLine;

interface LineBase {
  /** When the event happened (RFC 3339); lines are written in this order. */
  time: string;
  scenario: string;
  /**
   * `legit`, or `attack:<kind>` (credential_stuffing, account_takeover, scraping,
   * vulnerability_scan, token_replay).
   */
  label: string;
  /**
   * The request id of the request this one follows from (a takeover follows the stuffed login
   * that found the password). Replay drops it when that request was denied: the attacker
   * would never have learnt what made it possible.
   */
  causedBy?: string;
}

export interface CheckLine extends LineBase {
  type: "check";
  /** envoy.service.auth.v3.CheckRequest, proto3 JSON. */
  checkRequest: unknown;
}

export interface AccessLogLine extends LineBase {
  type: "access_log";
  /**
   * envoy.data.accesslog.v3.HTTPAccessLogEntry, proto3 JSON, as Envoy would log it had the
   * request been allowed: the application's answer. Replay substitutes Palisade's denial.
   */
  httpAccessLogEntry: unknown;
}

/**
 * An earlier successful sign-in of a returning account, from before the traffic starts: the
 * request it was made with. Replay hands it to the target's account history (as months of
 * allowed logins would have filled it) and decides nothing; a live server learns history only
 * from traffic, so replay over gRPC skips these lines and says so.
 */
export interface HistoryLine extends LineBase {
  type: "history";
  /** envoy.service.auth.v3.CheckRequest, proto3 JSON. */
  checkRequest: unknown;
}

export const LEGIT = "legit";
/**
 * A shopper whose account never signed in before the traffic starts, when the lab models
 * returning accounts (`legit.returningShare` above 0): legitimate, counted apart as well.
 */
export const LEGIT_NEW_ACCOUNT = "legit:new-account";

export function isLegit(label: string): boolean {
  return label === LEGIT || label === LEGIT_NEW_ACCOUNT;
}
export type AttackKind = "credential_stuffing" | "account_takeover" | "scraping" | "vulnerability_scan" | "token_replay";

export function attackLabel(kind: AttackKind): string {
  return `attack:${kind}`;
}

/** The attack kind of a label, or undefined for legitimate and unlabelled traffic. */
export function attackKindOf(label: string): string | undefined {
  return label.startsWith("attack:") ? label.slice("attack:".length) : undefined;
}
