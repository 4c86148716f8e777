import { createHmac, randomUUID } from "node:crypto";
import type { AuditEntry } from "../state/audit-log.js";
import type { AuditRecord } from "./audit.js";
import type { EventMeta, ResponseEvent } from "./events.js";

/** Sends one POST and resolves with the HTTP status; rejects on network errors and timeouts. */
export type WebhookSender = (url: string, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<number>;

export type DeliveryResult = "delivered" | "retried" | "failed" | "dropped";

export interface WebhookOptions {
  urls: readonly string[];
  /** HMAC-SHA-256 key for the signature header. */
  secret: Buffer;
  send?: WebhookSender;
  /** Events waiting per receiver; beyond it the oldest is dropped. */
  queueSize?: number;
  /** Attempts per event, the first included. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  onDelivery?: (result: DeliveryResult, type: string) => void;
  random?: () => number;
}

export interface WebhookPayload {
  id: string;
  type: string;
  time: string;
  /** The audit record written with the change this reports (audited writes: admin changes, quarantines). */
  auditId?: string;
  data: Record<string, unknown>;
}

export const SIGNATURE_HEADER = "x-palisade-signature";

/** `t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<body>">`: the time is signed too, so a captured delivery cannot be replayed later unnoticed. */
export function signature(secret: Buffer, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex")}`;
}

/** The webhook a response event becomes; blocks, shadow matches and challenges are too many to send. */
export function webhookPayload(event: ResponseEvent, atMs: number, meta: EventMeta = {}): WebhookPayload | undefined {
  const envelope = (type: string, data: Record<string, unknown>): WebhookPayload => ({
    id: randomUUID(),
    type,
    time: new Date(atMs).toISOString(),
    ...(meta.auditId === undefined ? {} : { auditId: meta.auditId }),
    data,
  });
  switch (event.type) {
    case "quarantine.created":
    case "quarantine.lifted": {
      const { quarantine, ...rest } = event;
      const { startMs, expiresMs, ...q } = quarantine;
      const times = { start: new Date(startMs).toISOString(), expires: new Date(expiresMs).toISOString() };
      const lift = event.type === "quarantine.lifted" ? { actor: event.actor, reason: event.reason, how: event.how } : { shared: "shared" in rest && rest.shared };
      return envelope(event.type, { ...q, ...times, ...lift });
    }
    case "anomaly.started":
    case "anomaly.ended":
      return envelope(event.type, { endpoint: event.endpoint, reasons: event.reasons });
    case "enforcement.block":
    case "shadow.would_have":
    case "challenge.solved":
    case "challenge.failed":
      return undefined;
    default: {
      const { type, ...rest } = event;
      return envelope("policy.changed", { change: type, ...rest });
    }
  }
}

/** Trail actions that become webhooks; the others (blocks, shadow matches, challenges, restores) are too many or internal. */
const PUBLISHED = new Set(["quarantine.created", "quarantine.lifted", "policy.loaded", "policy.rolled_back", "policy.override_cleared", "rule.disabled", "rule.enabled", "threshold.overridden", "threshold.cleared"]);

/**
 * The webhook an audit record becomes: what is published for state changes, so that every
 * webhook has its record, and a change whose replica died before it could announce it is still
 * announced (by whichever replica reads the record). The delivery id is the record's id, the
 * same on a repeated delivery, so receivers de-duplicate on it.
 */
export function webhookPayloadOfRecord(entry: AuditEntry): WebhookPayload | undefined {
  const record = entry.record as Partial<AuditRecord>;
  if (typeof record.action !== "string" || !PUBLISHED.has(record.action)) return undefined;
  const time = typeof record.time === "string" ? record.time : new Date().toISOString();
  const envelope = (type: string, data: Record<string, unknown>): WebhookPayload => ({ id: entry.id, type, time, auditId: entry.id, data });
  const { action, actor, scope, subject, rule, policyVersion, rationale, detail = {} } = record;
  if (action.startsWith("quarantine.")) {
    const { quarantineId, ...rest } = detail;
    // A lift's record keeps no rationale (the creation's has it): its webhook has no reasons.
    return envelope(action, { id: quarantineId, scope, subject, rule, policyVersion, ...(rationale ? { reasons: rationale } : {}), actor, ...rest });
  }
  return envelope("policy.changed", { change: action, actor, policyVersion, ...(rule === undefined ? {} : { rule }), ...detail });
}

interface Pending {
  payload: WebhookPayload;
  body: string;
  attempts: number;
}

const fetchSender: WebhookSender = async (url, body, headers, timeoutMs) => {
  const response = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
  await response.body?.cancel();
  return response.status;
};

/** Receivers answer these when a later attempt may succeed; other 4xx will not change. */
const RETRYABLE = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * Delivers events to each receiver in order, one at a time, from a bounded queue. `handle` only
 * enqueues, so a slow or dead receiver never slows the decision that caused an event; a failed
 * delivery is retried with capped exponential backoff (jittered), then given up and counted.
 */
export class Webhooks {
  readonly #options: Required<Omit<WebhookOptions, "onDelivery">> & Pick<WebhookOptions, "onDelivery">;
  readonly #queues: Map<string, Pending[]>;
  readonly #running = new Set<string>();
  /** Backoff pauses in progress; close() ends them at once. */
  readonly #pauses = new Map<NodeJS.Timeout, () => void>();
  #closed = false;

  constructor(options: WebhookOptions) {
    this.#options = {
      send: fetchSender,
      queueSize: 1000,
      maxAttempts: 8,
      baseDelayMs: 500,
      maxDelayMs: 60_000,
      timeoutMs: 5_000,
      random: Math.random,
      ...options,
    };
    this.#queues = new Map(options.urls.map((url) => [url, []]));
  }

  handle(event: ResponseEvent, atMs: number, meta: EventMeta = {}): void {
    this.#enqueue(webhookPayload(event, atMs, meta));
  }

  /** An audit record read from the trail (see webhookPayloadOfRecord). */
  handleRecord(entry: AuditEntry): void {
    this.#enqueue(webhookPayloadOfRecord(entry));
  }

  #enqueue(payload: WebhookPayload | undefined): void {
    if (!payload || this.#closed) return;
    const body = JSON.stringify(payload);
    for (const [url, queue] of this.#queues) {
      if (queue.length >= this.#options.queueSize) this.#options.onDelivery?.("dropped", queue.shift()!.payload.type);
      queue.push({ payload, body, attempts: 0 });
      if (!this.#running.has(url)) void this.#drain(url, queue);
    }
  }

  /** Events still waiting, over all receivers. */
  get pending(): number {
    return [...this.#queues.values()].reduce((sum, queue) => sum + queue.length, 0);
  }

  /** Stops retrying; what is still queued is dropped (and counted). */
  close(): void {
    this.#closed = true;
    for (const [timer, resume] of this.#pauses) {
      clearTimeout(timer);
      resume();
    }
    for (const queue of this.#queues.values()) for (const pending of queue.splice(0)) this.#options.onDelivery?.("dropped", pending.payload.type);
  }

  async #drain(url: string, queue: Pending[]): Promise<void> {
    this.#running.add(url);
    try {
      while (!this.#closed && queue.length > 0) {
        const head = queue[0]!;
        const delivered = await this.#attempt(url, head);
        if (queue[0] !== head) continue; // dropped from a full queue while in flight
        if (delivered === "retry" && head.attempts < this.#options.maxAttempts) {
          this.#options.onDelivery?.("retried", head.payload.type);
          await this.#sleep(this.#backoff(head.attempts));
          continue;
        }
        queue.shift();
        this.#options.onDelivery?.(delivered === true ? "delivered" : "failed", head.payload.type);
      }
    } finally {
      this.#running.delete(url);
    }
  }

  async #attempt(url: string, pending: Pending): Promise<true | "retry" | "give-up"> {
    pending.attempts += 1;
    const headers = {
      "content-type": "application/json",
      "user-agent": "palisade-webhooks",
      "x-palisade-event": pending.payload.type,
      "x-palisade-delivery": pending.payload.id,
      [SIGNATURE_HEADER]: signature(this.#options.secret, pending.body, Math.floor(Date.now() / 1000)),
    };
    try {
      const status = await this.#options.send(url, pending.body, headers, this.#options.timeoutMs);
      if (status >= 200 && status < 300) return true;
      return RETRYABLE(status) ? "retry" : "give-up";
    } catch {
      return "retry";
    }
  }

  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (this.#options.random() * ceiling) / 2);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pauses.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      this.#pauses.set(timer, resolve);
    });
  }
}
