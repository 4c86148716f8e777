import { z } from "zod";
import { entitiesOf } from "../detection/entities.js";
import { SCOPES, type Reason, type Scope } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import { JoinedNames } from "../domain/two-generation-cache.js";
import type { CompiledResponse } from "../policy/response-schema.js";
import { jsonDecoder } from "./codec.js";

/**
 * A temporary block of one scope value: an IP, subnet, username, fingerprint or session. The
 * subject is the pseudonym (a subnet stays in clear, docs/design.md, privacy); times are event times,
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
  /** Why an analyst imposed it by hand (rule-made quarantines carry their reasons instead). */
  reason?: string;
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
  reason: z.string().optional(),
});

/** A stored quarantine, or undefined for text this version cannot read (it is then ignored). */
export const decodeQuarantine: (raw: string) => Quarantine | undefined = jsonDecoder(quarantineSchema);

/**
 * What a replica's copy keeps of an active quarantine (about 300 bytes of heap against 2.3 KB
 * for the stored text and its decoded record): what the Check path answers with (id, rule,
 * scope, expiry) and what a new offence and a write-back need. The rationale (reasons,
 * decision, endpoint, policy version) stays in the store and the audit trail.
 */
export type QuarantineMark = Pick<Quarantine, "id" | "scope" | "rule" | "actor" | "startMs" | "expiresMs" | "offence">;

/** Rule ids and actors repeat across thousands of quarantines: one string each, up to a bound. */
const INTERNED = new Map<string, string>();
const MAX_INTERNED = 1_024;
function interned(text: string): string {
  const known = INTERNED.get(text);
  if (known !== undefined) return known;
  if (INTERNED.size < MAX_INTERNED) INTERNED.set(text, text);
  return text;
}

/** How many strings are interned: never more than the bound, whatever rule ids and actors come (for its test). */
export function internedCount(): number {
  return INTERNED.size;
}

export function markOf(q: QuarantineMark): QuarantineMark {
  return { id: q.id, scope: q.scope, rule: interned(q.rule), actor: interned(q.actor), startMs: q.startMs, expiresMs: q.expiresMs, offence: q.offence };
}

/** A stored quarantine as a replica's copy keeps it (undefined for text this version cannot read). */
export function decodeQuarantineMark(raw: string): QuarantineMark | undefined {
  const quarantine = decodeQuarantine(raw);
  return quarantine && markOf(quarantine);
}

/**
 * The text written back for a quarantine the store lost (Redis restarted empty) while a
 * replica's compact copy still held it: everything but the rationale, which the audit trail
 * keeps under the quarantine's id.
 */
export function rebuildQuarantine(key: string, mark: QuarantineMark): string {
  const subject = key.slice(key.indexOf(":") + 1);
  const quarantine: Quarantine = { ...mark, subject, policyVersion: "", reasons: [] };
  return JSON.stringify(quarantine);
}

/**
 * How every replica copies the map "quarantines": compact (marks), one identity per quarantine,
 * keys grouped by scope (a Check skips the scopes nobody is quarantined in: Quarantines.find).
 */
export const QUARANTINE_COPY = {
  decode: decodeQuarantineMark,
  identify: (mark: QuarantineMark) => mark.id,
  rebuild: (entry: { key: string; value: QuarantineMark }) => rebuildQuarantine(entry.key, entry.value),
  groupOf: (key: string) => key.slice(0, key.indexOf(":")),
};

/** At most one quarantine per scope value: a second rule or replica finds the first. */
export function quarantineKey(scope: Scope, subject: string): string {
  return KEYS.join(KEY_PREFIX[scope], subject);
}

const KEY_PREFIX = Object.fromEntries(SCOPES.map((scope) => [scope, `${scope}:`])) as Record<Scope, string>;

/**
 * Keys built before, by scope and subject: every Check looks up a key per scope in the copy of
 * quarantines, and a key joined afresh was a new string to copy and hash for it (see JoinedNames).
 */
const KEYS = new JoinedNames(20_000);

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
