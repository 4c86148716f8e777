import { z } from "zod";
import { parseAddress, subnetOf } from "../../../domain/client-address.js";
import { SCOPES, type Scope } from "../../../domain/decision.js";
import { canonicalUsername } from "../../../pipeline/normalise.js";
import type { CompiledPolicy } from "../../../policy/compile.js";
import { parseDuration } from "../../../config/duration.js";
import type { Pseudonymiser } from "../../../privacy/pseudonymiser.js";
import { ResponseError, type ResponseErrorCode } from "../../../response/errors.js";
import { StoreUnavailableError } from "../../../state/store.js";
import { problem } from "../problem.js";
import type { AdminRequest, AdminResponse } from "../router.js";

/** Thrown by input readers; `guarded` turns it into the problem document it carries. */
export class BadInput extends Error {
  constructor(readonly response: AdminResponse) {
    super("bad input");
  }
}

const bad = (detail: string) => new BadInput(problem(400, detail));

/** The one table from response-engine error codes to HTTP statuses. */
const STATUS: Record<ResponseErrorCode, number> = { not_found: 404, invalid: 422, conflict: 409, unavailable: 503 };

/** Runs a handler; refused input and refused operations become problem documents (nothing was changed). */
export async function guarded(run: () => Promise<AdminResponse>): Promise<AdminResponse> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof BadInput) return error.response;
    if (error instanceof ResponseError) return problem(STATUS[error.code], error.message);
    if (error instanceof StoreUnavailableError) return problem(503, "the shared store is unavailable; nothing was changed");
    throw error;
  }
}

/** The JSON body checked against `schema`; an empty body counts as `{}`. */
export function readJson<T extends z.ZodType>(request: AdminRequest, schema: T): z.output<T> {
  const text = request.body.toString("utf8").trim();
  let body: unknown = {};
  if (text !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw bad("the body must be a JSON object");
    }
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  return parsed.data;
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

export function limitField(query: URLSearchParams, fallback = 100, max = 1000): number {
  const text = query.get("limit");
  if (text === null) return fallback;
  const limit = Number(text);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) throw bad(`limit: an integer from 1 to ${max}`);
  return limit;
}

export function scopeField(text: string | undefined | null): Scope | undefined {
  if (text === undefined || text === null || text === "") return undefined;
  if (!(SCOPES as readonly string[]).includes(text)) throw bad(`scope: one of ${SCOPES.join(", ")}`);
  return text as Scope;
}

/** The look-up fields an analyst may type; at most one per request. */
export const LOOKUPS = ["ip", "username", "session", "subnet", "subject"] as const;
export type LookupFields = Partial<Record<(typeof LOOKUPS)[number], string>>;

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

export function lookupFromQuery(query: URLSearchParams): LookupFields {
  return Object.fromEntries(LOOKUPS.flatMap((name) => (query.has(name) ? [[name, query.get(name) ?? ""]] : [])));
}
