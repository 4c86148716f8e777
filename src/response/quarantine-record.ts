import { z } from "zod";
import { entitiesOf } from "../detection/entities.js";
import { SCOPES, type Reason, type Scope } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledResponse } from "../policy/response-schema.js";
import { jsonDecoder } from "./codec.js";

/**
 * A temporary block of one scope value: an IP, subnet, username, fingerprint or session. The
 * subject is the pseudonym (a subnet stays in clear, DESIGN.md Privacy); times are event times,
 * like every window, so a replay quarantines and releases as live traffic did.
 */
export interface Quarantine {
  id: string;
  scope: Scope;
  subject: string;
  rule: string;
  policyVersion: string;
  /** The signals that made the rule act, with their values: the rationale. */
  reasons: Reason[];
  decisionId?: string;
  endpoint?: string;
  startMs: number;
  expiresMs: number;
  /** 1 for a first offence; higher for repeat offenders (longer quarantines). */
  offence: number;
  actor: string;
}

const reasonSchema = z.object({
  code: z.string(),
  value: z.number(),
  threshold: z.number().optional(),
  weight: z.number(),
  detail: z.string().optional(),
});

const quarantineSchema = z.object({
  id: z.string().min(1),
  scope: z.enum(SCOPES),
  subject: z.string().min(1),
  rule: z.string(),
  policyVersion: z.string(),
  reasons: z.array(reasonSchema),
  decisionId: z.string().optional(),
  endpoint: z.string().optional(),
  startMs: z.number(),
  expiresMs: z.number(),
  offence: z.number().int().positive(),
  actor: z.string(),
});

/** A stored quarantine, or undefined for text this version cannot read (it is then ignored). */
export const decodeQuarantine: (raw: string) => Quarantine | undefined = jsonDecoder(quarantineSchema);

/** At most one quarantine per scope value: a second rule or replica finds the first. */
export function quarantineKey(scope: Scope, subject: string): string {
  return `${scope}:${subject}`;
}

type Identifiers = Pick<NormalisedRequest, "ipId" | "subnet" | "usernameId" | "fingerprintId" | "sessionId">;

const IDENTIFIER: Record<Scope, keyof Identifiers> = {
  ip: "ipId",
  subnet: "subnet",
  username: "usernameId",
  fingerprint: "fingerprintId",
  session: "sessionId",
};

/** The request's value for `scope`: a pseudonym, or the subnet in clear. */
export function subjectOf(request: Identifiers, scope: Scope): string | undefined {
  return request[IDENTIFIER[scope]];
}

/** The Store entity of a scope value, the same one the detectors count under. */
export function entityOf(scope: Scope, subject: string): string {
  return entitiesOf({ [IDENTIFIER[scope]]: subject })[scope]!;
}

/**
 * How long the `offence`-th quarantine lasts: the base duration, multiplied by the escalation
 * factor for each earlier offence still remembered, never beyond the cap.
 */
export function quarantineDurationMs(baseMs: number, offence: number, escalation: CompiledResponse["quarantine"]["escalation"]): number {
  const escalated = baseMs * escalation.factor ** Math.max(0, offence - 1);
  return Math.max(1, Math.round(Math.min(escalated, escalation.maxMs)));
}
