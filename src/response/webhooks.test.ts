import { createHmac, timingSafeEqual } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ResponseEvent } from "./events.js";
import type { Quarantine } from "./quarantine-record.js";
import { sampleQuarantine } from "../../test/support/response.js";
import { auditRecordOf } from "./audit.js";
import { signature, SIGNATURE_HEADER, webhookPayload, webhookPayloadOfRecord, Webhooks, type DeliveryResult, type WebhookSender } from "./webhooks.js";

const SECRET = Buffer.from("webhook-secret-0123456789abcdef0123456789");

const quarantine: Quarantine = sampleQuarantine;
const created: ResponseEvent = { type: "quarantine.created", quarantine, shared: true };
const lifted: ResponseEvent = { type: "quarantine.lifted", quarantine, actor: "token:alice", how: "id" };

/** How a receiver checks a delivery: recompute the MAC over "<t>.<body>" and compare in constant time. */
function verify(body: string, header: string): boolean {
  const { t, v1 } = Object.fromEntries(header.split(",").map((part) => part.split("=") as [string, string]));
  const expected = createHmac("sha256", SECRET).update(`${t}.${body}`).digest();
  return v1 !== undefined && timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

/** More sends than any test makes (see receiver). */
const RUNAWAY = 50;

function receiver(statuses: (number | Error)[]) {
  const calls: { body: string; headers: Record<string, string>; url: string; timeoutMs: number; atMs: number }[] = [];
  const send: WebhookSender = async (url, body, headers, timeoutMs) => {
    calls.push({ body, headers, url, timeoutMs, atMs: Date.now() });
    // No test sends this many: a delivery loop gone wrong waits here for ever instead of
    // spinning through promise callbacks, so the test fails on its figures instead of hanging.
    if (calls.length > RUNAWAY) return new Promise<number>(() => {});
    const next = statuses.shift() ?? 200;
    if (next instanceof Error) throw next;
    return next;
  };
  return { calls, send };
}

type HookOptions = { queueSize?: number; maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number; timeoutMs?: number; random?: () => number; urls?: string[] };

function hooks(send: WebhookSender, options: HookOptions = {}) {
  const results: DeliveryResult[] = [];
  const types: string[] = [];
  const webhooks = new Webhooks({
    urls: ["http://127.0.0.1:1/hook"],
    secret: SECRET,
    send,
    baseDelayMs: 1,
    maxDelayMs: 5,
    random: () => 0.5,
    onDelivery: (r, type) => {
      results.push(r);
      types.push(type);
    },
    ...options,
  });
  return { webhooks, results, types };
}

// Backoff pauses run on vitest's fake timers: the tests step the clock, never wait on it.
beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 10, 24, 9, 0, 0, 700) });
});
afterEach(() => {
  vi.useRealTimers();
});
/** Lets every pending delivery, pause and retry run to its end on the fake clock. */
const settle = () => vi.runAllTimersAsync();

describe("webhooks", () => {
  it("sends signed JSON events a receiver can verify", async () => {
    const { calls, send } = receiver([]);
    const { webhooks, results } = hooks(send);
    webhooks.handle(created, Date.UTC(2026, 10, 24, 9));
    await settle();
    expect(results).toEqual(["delivered"]);
    const [{ body, headers, url, timeoutMs }] = calls as [(typeof calls)[number]];
    expect(verify(body, headers[SIGNATURE_HEADER]!)).toBe(true);
    expect(verify(body.replace("trap", "tra"), headers[SIGNATURE_HEADER]!)).toBe(false);
    // Signed at the time of sending, in whole unix seconds.
    expect(headers[SIGNATURE_HEADER]).toMatch(new RegExp(`^t=${Math.floor(Date.UTC(2026, 10, 24, 9) / 1000)},v1=[0-9a-f]{64}$`));
    expect(headers).toMatchObject({ "content-type": "application/json", "user-agent": "palisade-webhooks", "x-palisade-event": "quarantine.created", "x-palisade-delivery": JSON.parse(body).id });
    expect(url).toBe("http://127.0.0.1:1/hook");
    expect(timeoutMs).toBe(5_000);
    expect(JSON.parse(body)).toMatchObject({
      type: "quarantine.created",
      time: "2026-11-24T09:00:00.000Z",
      data: { id: "q-1", scope: "ip", subject: "pseudonym", rule: "trap", start: "2026-11-24T09:00:00.000Z", expires: "2026-11-24T09:15:00.000Z", shared: true },
    });
    expect(JSON.parse(body)).not.toHaveProperty("auditId");
    expect(JSON.parse(body).data).not.toHaveProperty("startMs");
  });

  it("signs with the secret over the time and the body", () => {
    const header = signature(SECRET, "{}", 1_764_000_000);
    expect(header).toBe(`t=1764000000,v1=${createHmac("sha256", SECRET).update("1764000000.{}").digest("hex")}`);
    expect(signature(Buffer.from("other"), "{}", 1_764_000_000)).not.toBe(header);
  });

  it("retries failures and timeouts with backoff, in order, and gives up on a refusal", async () => {
    const { calls, send } = receiver([503, new Error("timeout"), 200, 400]);
    const { webhooks, results, types } = hooks(send);
    webhooks.handle(created, 0);
    webhooks.handle(lifted, 0);
    await settle();
    expect(results).toEqual(["retried", "retried", "delivered", "failed"]);
    expect(types).toEqual(["quarantine.created", "quarantine.created", "quarantine.created", "quarantine.lifted"]);
    expect(calls.map((c) => JSON.parse(c.body).type)).toEqual(["quarantine.created", "quarantine.created", "quarantine.created", "quarantine.lifted"]);
    // A retry is the same delivery: same id, same body.
    expect(new Set(calls.slice(0, 3).map((c) => c.headers["x-palisade-delivery"])).size).toBe(1);
  });

  it("waits capped, doubling, jittered pauses between attempts", async () => {
    const jitter = [0, 1, 0.5, 0];
    const { calls, send } = receiver([500, 500, 500, 500, 200]);
    const { webhooks, results } = hooks(send, { baseDelayMs: 100, maxDelayMs: 300, random: () => jitter.shift()! });
    webhooks.handle(created, 0);
    await settle();
    expect(results).toEqual(["retried", "retried", "retried", "retried", "delivered"]);
    const pauses = calls.slice(1).map((call, i) => call.atMs - calls[i]!.atMs);
    // Ceilings 100, 200, 400 capped to 300, 300; each pause lies between half the ceiling and all of it.
    expect(pauses).toEqual([50, 200, 225, 150]);
  });

  it("sends nothing more before a pause is over", async () => {
    const { calls, send } = receiver([500]);
    const { webhooks } = hooks(send, { baseDelayMs: 100, maxDelayMs: 1_000, random: () => 0 });
    webhooks.handle(created, 0);
    await vi.advanceTimersByTimeAsync(49);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
  });

  it("retries 408, 429 and 5xx; gives up on other statuses; counts any 2xx as delivered", async () => {
    const outcome = async (status: number) => {
      const { send } = receiver([status, 200]);
      const { webhooks, results } = hooks(send);
      webhooks.handle(created, 0);
      await settle();
      return results.join(",");
    };
    const expected: [number, string][] = [
      [408, "retried,delivered"],
      [429, "retried,delivered"],
      [500, "retried,delivered"],
      [599, "retried,delivered"],
      [499, "failed"],
      [404, "failed"],
      [409, "failed"],
      [430, "failed"],
      [302, "failed"],
      [300, "failed"],
      [199, "failed"],
      [299, "delivered"],
      [204, "delivered"],
    ];
    for (const [status, result] of expected) expect(await outcome(status), `status ${status}`).toBe(result);
  });

  it("stops after maxAttempts", async () => {
    const { calls, send } = receiver([500, 500, 500]);
    const { webhooks, results } = hooks(send, { maxAttempts: 2 });
    webhooks.handle(created, 0);
    await settle();
    expect(results).toEqual(["retried", "failed"]);
    expect(calls).toHaveLength(2);
  });

  it("tries eight times unless told otherwise", async () => {
    const { calls, send } = receiver(Array.from({ length: 10 }, () => 500));
    const { webhooks, results } = hooks(send);
    webhooks.handle(created, 0);
    await settle();
    expect(calls).toHaveLength(8);
    expect(results.at(-1)).toBe("failed");
    expect(results.filter((r) => r === "retried")).toHaveLength(7);
  });

  it("delivers to every receiver, each in its own order", async () => {
    const { calls, send } = receiver([500]);
    const { webhooks, results } = hooks(send, { urls: ["http://a.example/hook", "http://b.example/hook"] });
    webhooks.handle(created, 0);
    webhooks.handle(lifted, 0);
    await settle();
    const seen = (url: string) => calls.filter((c) => c.url === url).map((c) => JSON.parse(c.body).type);
    // a's first attempt failed and was retried before a's second event; b went on meanwhile.
    expect(seen("http://a.example/hook")).toEqual(["quarantine.created", "quarantine.created", "quarantine.lifted"]);
    expect(seen("http://b.example/hook")).toEqual(["quarantine.created", "quarantine.lifted"]);
    expect(results.filter((r) => r === "delivered")).toHaveLength(4);
    expect(webhooks.pending).toBe(0);
  });

  it("never blocks the caller and drops the oldest when a dead receiver's queue is full", async () => {
    const hanging: WebhookSender = () => new Promise(() => {});
    const { webhooks, results, types } = hooks(hanging, { queueSize: 2 });
    // handle() returns nothing to wait on, and the drops are counted before it returns.
    for (let i = 0; i < 5; i++) expect(webhooks.handle(created, i)).toBeUndefined();
    webhooks.handle(lifted, 5);
    expect(results).toEqual(["dropped", "dropped", "dropped", "dropped"]);
    expect(types).toEqual(["quarantine.created", "quarantine.created", "quarantine.created", "quarantine.created"]);
    expect(webhooks.pending).toBe(2);
    webhooks.close();
    expect(webhooks.pending).toBe(0);
    expect(results).toEqual(["dropped", "dropped", "dropped", "dropped", "dropped", "dropped"]);
    expect(types.slice(4)).toEqual(["quarantine.created", "quarantine.lifted"]);
    webhooks.handle(created, 6);
    expect(webhooks.pending).toBe(0);
  });

  it("holds a queue of a thousand events unless told otherwise", () => {
    const hanging: WebhookSender = () => new Promise(() => {});
    const { webhooks, results } = hooks(hanging);
    for (let i = 0; i < 1_001; i++) webhooks.handle(created, i);
    expect(webhooks.pending).toBe(1_000);
    expect(results).toEqual(["dropped"]);
    webhooks.close();
  });

  it("does not send the next event in place of one dropped while it was in flight", async () => {
    let answer: (status: number) => void = () => {};
    const calls: string[] = [];
    const send: WebhookSender = (_url, body) => {
      calls.push(JSON.parse(body).type);
      if (calls.length > RUNAWAY) return new Promise<number>(() => {});
      return calls.length === 1 ? new Promise((resolve) => (answer = resolve)) : Promise.resolve(200);
    };
    const { webhooks, results } = hooks(send, { queueSize: 1 });
    webhooks.handle(created, 0);
    webhooks.handle(lifted, 1); // the queue is full: the created event in flight is dropped
    answer(503);
    await settle();
    expect(results).toEqual(["dropped", "delivered"]);
    expect(calls).toEqual(["quarantine.created", "quarantine.lifted"]);
  });

  it("ends a pause at once on close, and retries no more", async () => {
    const { calls, send } = receiver([500, 500]);
    const { webhooks, results } = hooks(send, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    webhooks.handle(created, 0);
    await vi.advanceTimersByTimeAsync(0);
    expect(results).toEqual(["retried"]);
    expect(vi.getTimerCount()).toBe(1);
    webhooks.close();
    expect(vi.getTimerCount()).toBe(0);
    await settle();
    expect(calls).toHaveLength(1);
    expect(results).toEqual(["retried", "dropped"]);
  });

  it("sends no webhook for blocks and shadow matches", async () => {
    const { calls, send } = receiver([]);
    const { webhooks } = hooks(send);
    webhooks.handle({ type: "enforcement.block", rule: "deny", reasons: [], policyVersion: "v1", decisionId: "d" }, 0);
    webhooks.handle({ type: "shadow.would_have", action: "block", rule: "deny", reasons: [], policyVersion: "v1", decisionId: "d" }, 0);
    webhooks.handle({ type: "challenge.solved", level: 1, network: "n", endpointClass: "login", decisionId: "d" }, 0);
    webhooks.handle({ type: "challenge.failed", reason: "bad" }, 0);
    webhooks.handle({ type: "rule.disabled", rule: "deny", actor: "token:a", policyVersion: "v1+rt.1" }, 0);
    await settle();
    expect(calls).toHaveLength(1);
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ type: "policy.changed", data: { change: "rule.disabled", rule: "deny" } });
    expect(JSON.parse(calls[0]!.body).data).not.toHaveProperty("type");
  });
});

describe("webhook payloads of events", () => {
  it("names an audited change's delivery after its record, and says who lifted a quarantine and why", () => {
    const lift = webhookPayload({ ...lifted, reason: "customer called" }, Date.UTC(2026, 10, 24, 9, 5), { auditId: "1-0" })!;
    expect(lift).toMatchObject({ type: "quarantine.lifted", auditId: "1-0", time: "2026-11-24T09:05:00.000Z" });
    expect(lift.data).toMatchObject({ id: "q-1", actor: "token:alice", reason: "customer called", how: "id" });
    expect(lift.data).not.toHaveProperty("shared");
    expect(webhookPayload({ ...created, shared: false }, 0)!.data).toMatchObject({ shared: false });
  });

  it("reports anomalies with their endpoint and reasons", () => {
    for (const type of ["anomaly.started", "anomaly.ended"] as const) {
      const payload = webhookPayload({ type, endpoint: "login", reasons: ["velocity.site"] }, 0)!;
      expect(payload).toMatchObject({ type, data: { endpoint: "login", reasons: ["velocity.site"] } });
      expect(payload.id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("sends a record read from the trail, under the record's id", async () => {
    const { calls, send } = receiver([]);
    const { webhooks } = hooks(send);
    webhooks.handleRecord({ id: "1764000000000-3", record: JSON.parse(JSON.stringify(auditRecordOf(created, Date.UTC(2026, 10, 24, 9))!)) as Record<string, unknown> });
    webhooks.handleRecord({ id: "1764000000000-4", record: { action: "enforcement.block" } });
    await settle();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.headers["x-palisade-delivery"]).toBe("1764000000000-3");
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ id: "1764000000000-3", auditId: "1764000000000-3", type: "quarantine.created" });
  });
});

describe("webhooks from the audit trail", () => {
  const entry = (event: ResponseEvent, id = "1764000000000-0") => ({ id, record: JSON.parse(JSON.stringify(auditRecordOf(event, Date.UTC(2026, 10, 24, 9))!)) as Record<string, unknown> });

  it("turns quarantine records into the quarantine's webhook, named after the record", () => {
    const payload = webhookPayloadOfRecord(entry(created));
    expect(payload).toMatchObject({ id: "1764000000000-0", auditId: "1764000000000-0", type: "quarantine.created", time: "2026-11-24T09:00:00.000Z" });
    expect(payload!.data).toMatchObject({ id: "q-1", scope: "ip", subject: "pseudonym", rule: "trap", policyVersion: "v1", reasons: quarantine.reasons, actor: "system", offence: 1, shared: true, start: "2026-11-24T09:00:00.000Z", expires: "2026-11-24T09:15:00.000Z" });
    const lift = webhookPayloadOfRecord(entry(lifted))!.data;
    expect(lift).toMatchObject({ id: "q-1", actor: "token:alice", how: "id" });
    expect(lift).not.toHaveProperty("reasons");
  });

  it("turns policy records into policy.changed, and leaves out what is not published", () => {
    const disabled: ResponseEvent = { type: "rule.disabled", rule: "trap", actor: "token:alice", reason: "noisy", untilMs: Date.UTC(2026, 10, 24, 10), policyVersion: "v1+rt.abc" };
    expect(webhookPayloadOfRecord(entry(disabled))).toMatchObject({ type: "policy.changed", data: { change: "rule.disabled", rule: "trap", actor: "token:alice", policyVersion: "v1+rt.abc", reason: "noisy", until: "2026-11-24T10:00:00.000Z" } });
    expect(webhookPayloadOfRecord(entry({ type: "quarantine.restored", quarantine }))).toBeUndefined();
    expect(webhookPayloadOfRecord(entry({ type: "enforcement.block", rule: "deny", reasons: [], policyVersion: "v1", decisionId: "d" }))).toBeUndefined();
    expect(webhookPayloadOfRecord({ id: "1-0", record: { action: 42 } })).toBeUndefined();
  });
});
