import { z } from "zod";
import { parseAddress, subnetOf } from "../../../domain/client-address.js";
import { SCOPES, type Scope } from "../../../domain/decision.js";
import { canonicalUsername } from "../../../domain/username.js";
import type { CompiledPolicy } from "../../../policy/compile.js";
import { parseDuration } from "../../../config/duration.js";
import type { Pseudonymiser } from "../../../privacy/pseudonymiser.js";
import { ResponseError } from "../../../response/errors.js";
import { failureKindOf, type FailureKind } from "../../../domain/errors.js";
import { IdempotencyConflictError, WriteInDoubtError } from "../../../state/shared-map.js";
import { StoreUnavailableError } from "../../../state/store.js";
import { problem, type AdminResponse } from "../problem.js";

/** Thrown by input readers; `guarded` turns it into the problem document it carries. */
export class BadInput extends Error {
  constructor(readonly response: AdminResponse) {
    super("bad input");
  }
}

const bad = (detail: string) => new BadInput(problem(400, detail));

/** The HTTP status for each kind of failure in the error catalogue (src/domain/errors.ts). */
const STATUS: Record<FailureKind, number> = { invalid: 422, not_found: 404, conflict: 409, unavailable: 503, too_large: 413, internal: 500 };

/** Runs a handler; refused input and refused operations become problem documents (nothing was changed). */
export async function guarded(run: () => Promise<AdminResponse>): Promise<AdminResponse> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof BadInput) return error.response;
    if (error instanceof ResponseError) return problem(STATUS[failureKindOf(error)], error.message);
    if (error instanceof WriteInDoubtError) {
      return problem(
        503,
        "the shared store did not answer in time; Redis refuses the write once its deadline has passed, so it was not made unless only the reply was lost (then it is recorded and announced; a retry with the same Idempotency-Key answers which)",
      );
    }
    if (error instanceof StoreUnavailableError) return problem(503, "the shared store is unavailable; nothing was changed");
    if (error instanceof IdempotencyConflictError) return problem(422, error.message);
    throw error;
  }
}

export const reasonField = z.string().max(500).optional();
export const expiresField = z.string().max(32).optional().describe("A duration: 30m, 4h, 7d");

export function durationField(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw bad(`expires: not a duration: "${text.slice(0, 32)}" (use e.g. 30m, 4h, 7d)`);
  return ms;
}

/** An RFC 3339 time or epoch milliseconds. */
export function timeField(name: string, text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw bad(`${name}: not a time (use RFC 3339, e.g. 2026-11-24T09:00:00Z)`);
  return ms;
}

/** Query fields every listing takes. */
export const limitQuery = z.coerce.number().int().min(1).max(1000).default(100).describe("At most this many, newest first");
export const scopeQuery = z.enum(SCOPES).optional();

/** The look-up fields an analyst may type; at most one per request. */
export const LOOKUPS = ["ip", "username", "session", "subnet", "subject"] as const;
export type LookupFields = Partial<Record<(typeof LOOKUPS)[number], string>>;

/** The look-up fields as schema members (query or body); each is pseudonymised, never echoed. */
export const lookupFields = {
  ip: z.string().max(64).optional().describe("An IP address; also matches its subnet"),
  username: z.string().max(1024).optional(),
  session: z.string().max(4096).optional(),
  subnet: z.string().max(64).optional().describe("A CIDR range, e.g. 203.0.113.0/24"),
  subject: z.string().max(1024).optional().describe("A pseudonym as the API shows it"),
};

export interface LookupContext {
  pseudonymiser: Pseudonymiser;
  policy: () => CompiledPolicy;
  clock: () => number;
}

/**
 * The subjects a typed identifier stands for: pseudonymised under every key still valid
 * (current, then previous), exactly as the Check path would have. An IP also matches its
 * subnet. The typed value is never echoed back, not even in an error.
 */
export function lookupSubjects(fields: LookupFields, context: LookupContext): string[] | undefined {
  const given = LOOKUPS.filter((name) => fields[name] !== undefined && fields[name] !== "");
  if (given.length === 0) return undefined;
  if (given.length > 1) throw bad(`give one of ${LOOKUPS.join(", ")}, not several`);
  const [name] = given as [(typeof LOOKUPS)[number]];
  const value = fields[name]!;
  const now = context.clock();
  const { client } = context.policy();
  switch (name) {
    case "ip": {
      const address = parseAddress(value);
      if (!address) throw bad("ip: not an IP address");
      return [...context.pseudonymiser.candidates("ip", address.ip, now), subnetOf(address, client.subnetPrefixV4, client.subnetPrefixV6)];
    }
    case "subnet": {
      const [ip, prefix] = value.split("/");
      const address = parseAddress(ip);
      const bits = Number(prefix ?? (address?.address.kind() === "ipv6" ? client.subnetPrefixV6 : client.subnetPrefixV4));
      if (!address || !Number.isInteger(bits) || bits < 0 || bits > (address.address.kind() === "ipv6" ? 128 : 32)) throw bad("subnet: not a CIDR range");
      return [subnetOf(address, bits, bits)];
    }
    case "username": {
      const username = canonicalUsername(value);
      if (!username) throw bad("username: empty");
      return context.pseudonymiser.candidates("username", username, now);
    }
    case "session":
      return context.pseudonymiser.candidates("session", value, now);
    case "subject":
      return [value];
  }
}

/** What an analyst names to quarantine by hand: one identifier, or a scope and a pseudonym. */
export const manualTargetFields = {
  ip: z.string().max(64).optional(),
  subnet: z.string().max(64).optional().describe("In the policy's subnet size, e.g. 203.0.113.0/24"),
  username: z.string().max(1024).optional(),
  session: z.string().max(4096).optional(),
  fingerprint: z.string().max(1024).optional().describe("A fingerprint pseudonym as the API shows it"),
  scope: z.enum(SCOPES).optional().describe("With subject"),
  subject: z.string().max(1024).optional().describe("With scope: a pseudonym as the API shows it"),
};
type ManualTarget = Partial<Record<Exclude<keyof typeof manualTargetFields, "scope">, string>> & { scope?: Scope };

/**
 * The scope and subject a hand-made quarantine is stored under: exactly what the Check path
 * derives from a request (current pseudonymisation key, the policy's subnet size), so the
 * client's next request finds it.
 */
export function manualSubject(target: ManualTarget, context: LookupContext): { scope: Scope; subject: string } {
  const named = (["ip", "subnet", "username", "session", "fingerprint", "subject"] as const).filter((name) => target[name]);
  if (named.length !== 1) throw bad("give exactly one of ip, subnet, username, session, fingerprint, or scope with subject");
  const { client } = context.policy();
  const pseudonym = (kind: "ip" | "username" | "session", value: string) => context.pseudonymiser.pseudonymise(kind, value);
  if (target.ip) {
    const address = parseAddress(target.ip);
    if (!address) throw bad("ip: not an IP address");
    return { scope: "ip", subject: pseudonym("ip", address.ip) };
  }
  if (target.subnet) {
    const [ip, prefix] = target.subnet.split("/");
    const address = parseAddress(ip);
    if (!address) throw bad("subnet: not a CIDR range");
    const size = address.address.kind() === "ipv6" ? client.subnetPrefixV6 : client.subnetPrefixV4;
    if (prefix !== undefined && Number(prefix) !== size) throw bad(`subnet: the policy groups clients by /${size}; give a /${size}`);
    return { scope: "subnet", subject: subnetOf(address, size, size) };
  }
  if (target.username) {
    const username = canonicalUsername(target.username);
    if (!username) throw bad("username: empty");
    return { scope: "username", subject: pseudonym("username", username) };
  }
  if (target.session) return { scope: "session", subject: pseudonym("session", target.session) };
  if (target.fingerprint) return { scope: "fingerprint", subject: target.fingerprint };
  if (!target.scope) throw bad("subject: give its scope too");
  return { scope: target.scope, subject: target.subject! };
}
