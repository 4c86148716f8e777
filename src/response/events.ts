import { randomUUID } from "node:crypto";
import type { Action, Reason, Scope } from "../domain/decision.js";
import type { Quarantine } from "./quarantine-record.js";

/** Who did something: the service itself, or an API caller by its token's name. */
export const SYSTEM = "system";
export const tokenActor = (name: string) => `token:${name}`;

/** A decision's facts that an enforcement record keeps. Pseudonyms only. */
export interface Enforcement {
  rule: string;
  scope?: Scope;
  subject?: string;
  reasons: Reason[];
  policyVersion: string;
  decisionId: string;
  endpoint?: string;
}

/** What a runtime override changed, as recorded and announced. */
interface Change {
  actor: string;
  reason?: string;
  /** When the override lapses by itself, ms since the epoch. */
  untilMs?: number;
  /** The policy version decisions use after the change. */
  policyVersion: string;
}

/**
 * Everything the response engine does that someone may need to know about afterwards. The
 * audit trail, webhooks, metrics and logs each react to these; nothing else is shared.
 */
export type ResponseEvent =
  | { type: "quarantine.created"; quarantine: Quarantine; shared: boolean }
  | { type: "quarantine.restored"; quarantine: Quarantine }
  | { type: "quarantine.lifted"; quarantine: Quarantine; actor: string; reason?: string; how: "id" | "scope" | "bulk" }
  | ({ type: "enforcement.block" } & Enforcement)
  | ({ type: "shadow.would_have"; action: Action } & Enforcement)
  | { type: "policy.loaded"; actor: string; version: string; id: string; name: string; source: string; previousVersion?: string }
  | ({ type: "policy.rolled_back"; id: string; fromVersion: string } & Change)
  | ({ type: "policy.override_cleared"; clearedVersion: string } & Change)
  | ({ type: "rule.disabled"; rule: string } & Change)
  | ({ type: "rule.enabled"; rule: string } & Change)
  | ({ type: "threshold.overridden"; path: string; value: number; previous: number } & Change)
  | ({ type: "threshold.cleared"; path: string } & Change)
  | { type: "anomaly.started" | "anomaly.ended"; endpoint: string; reasons: string[] }
  | { type: "challenge.solved"; level: number; solveMs?: number; network: string; endpointClass: string; decisionId: string }
  | { type: "challenge.failed"; reason: string; level?: number; network?: string };

/**
 * How an event came about. `auditId` is set when the event's audit record was written in the
 * same atomic step as the change it reports (an audited write): the trail already has it, and
 * webhooks name the delivery after it, so answer, state, trail and webhook agree.
 */
export interface EventMeta {
  auditId?: string;
}

export type ResponseListener = (event: ResponseEvent, atMs: number, meta: EventMeta) => void;

/**
 * Names one admin write for idempotency: the API's `Idempotency-Key` (scoped to the caller and
 * route) or a generated one, and a fingerprint of the request so a reused key with another body
 * is refused.
 */
export interface WriteId {
  key: string;
  fingerprint?: string;
  /** Made here, not named by a caller: nobody retries it, so it is remembered only while in doubt. */
  generated?: true;
}

/** The id of a write no caller named (an automatic quarantine, an API call without Idempotency-Key). */
export function generatedWriteId(): WriteId {
  return { key: randomUUID(), generated: true };
}

/** Fans events out to listeners; a failing listener never fails the caller (often a Check). */
export class ResponseEvents {
  readonly #listeners = new Set<ResponseListener>();
  readonly #clock: () => number;
  readonly #onListenerError: (error: unknown) => void;
  /** The clock events are stamped with. */
  readonly now: () => number;

  constructor(options: { clock?: () => number; onListenerError?: (error: unknown) => void } = {}) {
    this.#clock = options.clock ?? (() => Date.now());
    this.now = this.#clock;
    this.#onListenerError = options.onListenerError ?? (() => {});
  }

  on(listener: ResponseListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** `atMs` defaults to now; an audited change passes the time its record carries. */
  publish(event: ResponseEvent, meta: EventMeta = {}, atMs = this.#clock()): void {
    for (const listener of this.#listeners) {
      try {
        listener(event, atMs, meta);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}

/** The logging the response engine needs; pino's logger fits. */
export interface ResponseLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}
