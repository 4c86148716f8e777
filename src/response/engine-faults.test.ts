import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, faultyBackend, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import { MemorySharedBackend } from "../state/shared-backend.js";
import { WriteInDoubtError } from "../state/shared-map.js";
import type { ResponseObserver } from "./engine.js";

/**
 * The engine's own wiring where the shared store misbehaves or other replicas share it: the
 * trail's followers (webhooks), a write whose reply was lost, an audit write that fails, a
 * policy version the store could not keep, and what the engine logs of each event. The
 * integration suites reach these over Redis; here an in-process backend fails on demand.
 */
const running: EngineHarness[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
});

async function engine(...args: Parameters<typeof engineHarness>): Promise<EngineHarness> {
  const h = await engineHarness(...args);
  running.push(h);
  return h;
}

/** Stops one harness now (its stop flushes), so that afterEach does not stop it twice. */
async function stopNow(h: EngineHarness): Promise<void> {
  running.splice(running.indexOf(h), 1);
  await h.stop();
}

/** Promise callbacks and microtasks (the trail hands entries out after the append's step). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const alice = { actor: "token:alice" };

describe("the audit trail's followers", () => {
  it("hand every record, in order, to each follower of the one replica that follows, until it stops", async () => {
    const backend = new MemorySharedBackend();
    const first: string[] = [];
    const second: string[] = [];
    const follower = await engine(undefined, {
      backend,
      trailListeners: [(entry) => first.push(String(entry.record.action)), (entry) => second.push(String(entry.record.action))],
    });
    // A second replica on the same trail with no followers of its own takes no share of the
    // records: were it to join the group, every other record would go to it and be lost.
    const other = await engine(undefined, { backend });
    await other.engine.controls.disableRule("deny", alice);
    await other.engine.controls.enableRule("deny", alice);
    await follower.check("/deny", "192.0.2.50");
    await other.check("/deny", "192.0.2.51");
    await settle();
    const expected = ["policy.loaded", "rule.disabled", "rule.enabled", "enforcement.block", "enforcement.block"];
    expect(first).toEqual(expected);
    expect(second).toEqual(expected);

    await stopNow(follower);
    await other.engine.controls.disableRule("deny", alice);
    await settle();
    expect(first).toEqual(expected);
    // Nor does its copy of the shared maps follow the store any more.
    expect(other.engine.controls.list()).toHaveLength(1);
    expect(follower.engine.controls.list()).toEqual([]);
  });
});

describe("a change whose reply was lost", () => {
  it("is announced once the store says it was applied, at the time it was made, under the record written with it", async () => {
    const { backend, faults } = faultyBackend(() => Date.now());
    const heard: { type: string; atMs: number; auditId?: string }[] = [];
    const told: string[] = [];
    const logs: Record<string, unknown>[] = [];
    const h = await engine(undefined, {
      backend,
      logs,
      listeners: [(event, atMs, meta) => heard.push({ type: event.type, atMs, auditId: meta.auditId })],
      observer: { event: (event) => told.push(event.type) },
    });
    faults.repliesLost.add("controls");
    const madeAt = h.clock.now;
    await expect(h.engine.controls.disableRule("deny", alice)).rejects.toThrow(WriteInDoubtError);
    expect(heard.filter((e) => e.type === "rule.disabled")).toEqual([]);

    h.clock.now += 5_000;
    faults.confirmLost();
    await settle();
    const records = (await backend.audit.read({ count: 100, newestFirst: false })).filter((entry) => entry.record.action === "rule.disabled");
    // Written once, with the change; the late announcement does not write it again.
    expect(records).toHaveLength(1);
    expect(heard.filter((e) => e.type === "rule.disabled")).toEqual([{ type: "rule.disabled", atMs: madeAt, auditId: records[0]!.id }]);
    expect(told).toContain("rule.disabled");
    // The operator's warning names the record and the action.
    expect(logs).toContainEqual(expect.objectContaining({ level: "warn", auditId: records[0]!.id, action: "rule.disabled" }));
    // The change was made all along: the rule is off.
    expect((await h.check("/deny", "192.0.2.52")).decision.action).not.toBe("block");
  });
});

describe("an audit record that cannot be written", () => {
  it("tells telemetry which action went unaudited, and the decision stands", async () => {
    const { backend, faults } = faultyBackend(() => Date.now());
    const failed: string[] = [];
    const logs: Record<string, unknown>[] = [];
    const h = await engine(undefined, { backend, logs, observer: { auditFailed: (action) => failed.push(action) } });
    faults.auditDown = true;
    expect((await h.check("/deny", "192.0.2.53")).decision.action).toBe("block");
    await settle();
    expect(failed).toEqual(["enforcement.block"]);
    expect(logs).toContainEqual(expect.objectContaining({ level: "error", action: "enforcement.block", err: expect.objectContaining({ message: "store away" }) }));

    faults.auditDown = false;
    await h.check("/deny", "192.0.2.59");
    await settle();
    expect(failed).toEqual(["enforcement.block"]);
    const blocks = (await backend.audit.read({ count: 100, newestFirst: false })).filter((entry) => entry.record.action === "enforcement.block");
    expect(blocks).toHaveLength(1);
  });

  it("logs the unaudited action whether or not an observer listens for it", async () => {
    for (const observer of [undefined, { held: () => {} }]) {
      const { backend, faults } = faultyBackend(() => Date.now());
      const logs: Record<string, unknown>[] = [];
      const h = await engine(undefined, { backend, logs, observer });
      faults.auditDown = true;
      await h.check("/deny", "192.0.2.61");
      await settle();
      expect(logs).toContainEqual(expect.objectContaining({ level: "error", action: "enforcement.block" }));
    }
  });
});

describe("a store away while the engine starts", () => {
  it("starts without keeping the file's version, and keeps the next ones, each naming the version it replaced", async () => {
    const { backend, faults } = faultyBackend(() => Date.now());
    const logs: Record<string, unknown>[] = [];
    const stamped = new Map<string, number>();
    faults.mapsDown.add("policies");
    const h = await engine(responsePolicy("v1"), {
      backend,
      logs,
      listeners: [(event, atMs) => event.type === "policy.loaded" && stamped.set(event.version, atMs)],
    });
    expect(h.events.filter((e) => e.type === "policy.loaded")).toEqual([]);
    // Warned about, naming the version that was not kept.
    expect(logs).toContainEqual(expect.objectContaining({ level: "warn", component: "response", version: "v1" }));

    faults.mapsDown.clear();
    const loaded = async (version: string) => {
      await h.publish(responsePolicy(version));
      expect(stamped.has(version)).toBe(false);
      const publishedAt = h.clock.now;
      for (let turn = 0; turn < 100 && !h.events.some((e) => e.type === "policy.loaded" && e.version === version); turn++) await settle();
      // Stamped by the engine's clock, not the machine's.
      expect(stamped.get(version)).toBe(publishedAt);
    };
    await loaded("v2");
    await loaded("v3");
    expect(h.events.filter((e) => e.type === "policy.loaded")).toMatchObject([
      { version: "v2", previousVersion: "v1" },
      { version: "v3", previousVersion: "v2" },
    ]);
    // Without an observer, nothing on the way failed.
    expect(logs.filter((line) => line.level === "error")).toEqual([]);
  });

  it("says its copy is stale while one shared map could not be loaded, and decides on", async () => {
    const { backend, faults } = faultyBackend(() => Date.now());
    faults.mapsDown.add("controls");
    const h = await engine(undefined, { backend });
    expect(h.engine.stale).toBe(true);
    expect((await h.check("/deny", "192.0.2.54")).decision.action).toBe("block");
  });
});

describe("a new file version under runtime controls", () => {
  it("keeps the controls over the new version, without an observer and without a failure on the way", async () => {
    const logs: Record<string, unknown>[] = [];
    const h = await engine(responsePolicy("v1"), { logs });
    await h.engine.controls.disableRule("deny", alice);
    await h.publish(responsePolicy("v2"));
    expect(h.source.current().version).toMatch(/^v2\+rt\./);
    expect((await h.check("/deny", "192.0.2.60")).decision.action).not.toBe("block");
    expect(logs.filter((line) => line.level === "error")).toEqual([]);
  });
});

describe("what the engine tells telemetry and the logs", () => {
  it("tells the observer how each shared map kept in sync, by name", async () => {
    const heard: string[] = [];
    const logs: Record<string, unknown>[] = [];
    // An observer with this hook alone: the engine calls none of the others.
    const observer: ResponseObserver = { sync: (map, event) => heard.push(`${map} ${event}`) };
    const h = await engine(responsePolicy("v1"), { observer, logs });
    expect(heard).toEqual(expect.arrayContaining(["quarantines resync:start", "controls resync:start"]));
    heard.length = 0;
    await h.engine.controls.disableRule("deny", alice);
    await settle();
    expect(heard).toEqual(["controls message"]);
    await h.publish(responsePolicy("v2"));
    for (let turn = 0; turn < 100 && !h.events.some((e) => e.type === "policy.loaded" && e.version === "v2"); turn++) await settle();
    expect(h.events.filter((e) => e.type === "policy.loaded").map((e) => e.type === "policy.loaded" && e.version)).toEqual(["v1", "v2"]);
    expect(logs.filter((line) => line.level === "error")).toEqual([]);
  });

  it("logs each event by its identifying fields, never the reasons behind it", async () => {
    const logs: Record<string, unknown>[] = [];
    // An observer without the event hook: the events are logged all the same.
    const h = await engine(undefined, { logs, observer: { held: () => {} } });
    const eventLines = () => logs.filter((line) => line.component === "response" && line.event !== undefined).map((line) => line.event as Record<string, unknown>);
    await h.check("/trap", "192.0.2.55");
    await h.check("/deny", "192.0.2.56");
    const created = h.events.find((e) => e.type === "quarantine.created");
    const block = h.events.find((e) => e.type === "enforcement.block");
    if (created?.type !== "quarantine.created" || block?.type !== "enforcement.block") throw new Error("expected a quarantine and a block");
    const q = created.quarantine;
    expect(eventLines()).toContainEqual({
      type: "quarantine.created",
      quarantineId: q.id,
      scope: "ip",
      subject: q.subject,
      rule: "trap",
      expires: new Date(q.expiresMs).toISOString(),
      offence: 1,
    });
    const { reasons: _reasons, ...blockFields } = block;
    expect(eventLines()).toContainEqual(blockFields);

    const [entry] = await h.engine.quarantines.list();
    await h.engine.quarantines.lift(entry!, "token:alice", "false positive", "id");
    expect(eventLines()).toContainEqual(expect.objectContaining({ type: "quarantine.lifted", quarantineId: q.id, actor: "token:alice" }));
    expect(JSON.stringify(eventLines())).not.toMatch(/reasons|rationale/);
    expect(logs.filter((line) => line.level === "error")).toEqual([]);
  });

  it("logs a listener that throws as an error, and the others still hear the event", async () => {
    const logs: Record<string, unknown>[] = [];
    const after: string[] = [];
    const h = await engine(undefined, {
      logs,
      listeners: [
        () => {
          throw new Error("listener broke");
        },
        (event) => after.push(event.type),
      ],
    });
    await h.check("/deny", "192.0.2.57");
    expect(after).toContain("enforcement.block");
    // Its failures (on the start's policy.loaded and on the block), and no other: the engine's
    // own listeners, without an observer, do not fail.
    const errors = logs.filter((line) => line.level === "error").map((line) => (line.err as { message?: string } | undefined)?.message);
    expect(errors).toEqual(["listener broke", "listener broke"]);
  });
});

describe("the engine's counts", () => {
  it("writes what it still holds on stop: the statistics and the decision records", async () => {
    const backend = new MemorySharedBackend();
    const h = await engine(undefined, { backend });
    const { decision } = await h.check("/deny", "192.0.2.58");
    const now = h.clock.now;
    await stopNow(h);
    const [bucket] = await backend.stats.read("minute", now, now);
    expect(bucket?.counts).toMatchObject({ n: 1, "a:block": 1 });
    expect(await h.engine.records.find(decision.decisionId)).toMatchObject({ action: "block", rule: "deny" });
  });

  it("counts each relief in the shared statistics, with an observer that does not listen for reliefs", async () => {
    const h = await engine(undefined, { observer: { held: () => {} } });
    await h.engine.recordRelief("challenge", { session: "s-1" }, h.clock.now);
    await h.engine.stats.flush();
    const [bucket] = await h.backend.stats.read("minute", h.clock.now, h.clock.now);
    expect(bucket?.counts).toMatchObject({ "l:challenge": 1 });
  });
});
