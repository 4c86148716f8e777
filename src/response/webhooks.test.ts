import { createHmac, timingSafeEqual } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ResponseEvent } from "./events.js";
import type { Quarantine } from "./quarantine-record.js";
import { auditRecordOf } from "./audit.js";
import { SIGNATURE_HEADER, webhookPayloadOfRecord, Webhooks, type DeliveryResult, type WebhookSender } from "./webhooks.js";

const SECRET = Buffer.from("webhook-secret-0123456789abcdef0123456789");

const quarantine: Quarantine = {
  id: "q-1",
  scope: "ip",
  subject: "pseudonym",
  rule: "trap",
  policyVersion: "v1",
  reasons: [{ code: "velocity.ip", value: 12, threshold: 10, weight: 40 }],
  startMs: Date.UTC(2026, 10, 24, 9),
  expiresMs: Date.UTC(2026, 10, 24, 9, 15),
  offence: 1,
  actor: "system",
};
const created: ResponseEvent = { type: "quarantine.created", quarantine, shared: true };
const lifted: ResponseEvent = { type: "quarantine.lifted", quarantine, actor: "token:alice", how: "id" };

/** How a receiver checks a delivery: recompute the MAC over "<t>.<body>" and compare in constant time. */
function verify(body: string, header: string): boolean {
  const { t, v1 } = Object.fromEntries(header.split(",").map((part) => part.split("=") as [string, string]));
  const expected = createHmac("sha256", SECRET).update(`${t}.${body}`).digest();
  return v1 !== undefined && timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

function receiver(statuses: (number | Error)[]) {
  const calls: { body: string; headers: Record<string, string> }[] = [];
  const send: WebhookSender = async (_url, body, headers) => {
    calls.push({ body, headers });
    const next = statuses.shift() ?? 200;
    if (next instanceof Error) throw next;
    return next;
  };
  return { calls, send };
}

function hooks(send: WebhookSender, options: { queueSize?: number; maxAttempts?: number } = {}) {
  const results: DeliveryResult[] = [];
  const webhooks = new Webhooks({ urls: ["http://127.0.0.1:1/hook"], secret: SECRET, send, baseDelayMs: 1, maxDelayMs: 5, onDelivery: (r) => results.push(r), ...options });
  return { webhooks, results };
}

describe("webhooks", () => {
  it("sends signed JSON events a receiver can verify", async () => {
    const { calls, send } = receiver([]);
    const { webhooks, results } = hooks(send);
    webhooks.handle(created, Date.UTC(2026, 10, 24, 9));
    await expect.poll(() => results).toEqual(["delivered"]);
    const [{ body, headers }] = calls as [(typeof calls)[number]];
    expect(verify(body, headers[SIGNATURE_HEADER]!)).toBe(true);
    expect(verify(body.replace("trap", "tra"), headers[SIGNATURE_HEADER]!)).toBe(false);
    expect(headers["x-palisade-event"]).toBe("quarantine.created");
    expect(JSON.parse(body)).toMatchObject({
      type: "quarantine.created",
      time: "2026-11-24T09:00:00.000Z",
      data: { id: "q-1", scope: "ip", subject: "pseudonym", rule: "trap", start: "2026-11-24T09:00:00.000Z", expires: "2026-11-24T09:15:00.000Z" },
    });
  });

  it("retries failures and timeouts with backoff, in order, and gives up on a refusal", async () => {
    const { calls, send } = receiver([503, new Error("timeout"), 200, 400]);
    const { webhooks, results } = hooks(send);
    webhooks.handle(created, 0);
    webhooks.handle(lifted, 0);
    await expect.poll(() => results).toEqual(["retried", "retried", "delivered", "failed"]);
    expect(calls.map((c) => JSON.parse(c.body).type)).toEqual(["quarantine.created", "quarantine.created", "quarantine.created", "quarantine.lifted"]);
  });

  it("stops after maxAttempts", async () => {
    const { send } = receiver([500, 500, 500]);
    const { webhooks, results } = hooks(send, { maxAttempts: 2 });
    webhooks.handle(created, 0);
    await expect.poll(() => results).toEqual(["retried", "failed"]);
  });

  it("never blocks the caller and drops the oldest when a dead receiver's queue is full", async () => {
    const hanging: WebhookSender = () => new Promise(() => {});
    const { webhooks, results } = hooks(hanging, { queueSize: 2 });
    // handle() returns nothing to wait on, and the drops are counted before it returns.
    for (let i = 0; i < 5; i++) expect(webhooks.handle(created, i)).toBeUndefined();
    expect(results).toEqual(["dropped", "dropped", "dropped"]);
    expect(webhooks.pending).toBe(2);
    webhooks.close();
    expect(webhooks.pending).toBe(0);
  });

  it("sends no webhook for blocks and shadow matches", async () => {
    const { calls, send } = receiver([]);
    const { webhooks } = hooks(send);
    webhooks.handle({ type: "enforcement.block", rule: "deny", reasons: [], policyVersion: "v1", decisionId: "d" }, 0);
    webhooks.handle({ type: "rule.disabled", rule: "deny", actor: "token:a", policyVersion: "v1+rt.1" }, 0);
    await expect.poll(() => calls.length).toBe(1);
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ type: "policy.changed", data: { change: "rule.disabled", rule: "deny" } });
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
