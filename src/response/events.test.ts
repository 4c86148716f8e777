import { describe, expect, it } from "vitest";
import { ResponseEvents, SYSTEM, tokenActor, type EventMeta, type ResponseEvent } from "./events.js";

const started: ResponseEvent = { type: "anomaly.started", endpoint: "login", reasons: ["site.velocity"] };

describe("response events", () => {
  it("hands each event to every listener with the time of its clock, or the time given", () => {
    const clock = { now: 1_000 };
    const events = new ResponseEvents({ clock: () => clock.now });
    const heard: [string, ResponseEvent, number, EventMeta][] = [];
    events.on((event, atMs, meta) => heard.push(["a", event, atMs, meta]));
    events.on((event, atMs, meta) => heard.push(["b", event, atMs, meta]));
    events.publish(started);
    clock.now = 2_000;
    events.publish(started, { auditId: "audit-1" }, 1_500);
    expect(heard).toEqual([
      ["a", started, 1_000, {}],
      ["b", started, 1_000, {}],
      ["a", started, 1_500, { auditId: "audit-1" }],
      ["b", started, 1_500, { auditId: "audit-1" }],
    ]);
    expect(events.now()).toBe(2_000);
  });

  it("keeps telling the other listeners when one fails, and reports the failure", () => {
    const failures: unknown[] = [];
    const events = new ResponseEvents({ clock: () => 5, onListenerError: (error) => failures.push(error) });
    const heard: string[] = [];
    const boom = new Error("listener broke");
    events.on(() => {
      throw boom;
    });
    events.on((event) => heard.push(event.type));
    expect(() => events.publish(started)).not.toThrow();
    expect(heard).toEqual(["anomaly.started"]);
    expect(failures).toEqual([boom]);
    // Without a handler a failing listener is passed over quietly.
    const plain = new ResponseEvents();
    plain.on(() => {
      throw boom;
    });
    expect(() => plain.publish(started)).not.toThrow();
  });

  it("stops telling a listener once it unsubscribes, and stamps events with the wall clock by default", () => {
    const events = new ResponseEvents();
    const times: number[] = [];
    const off = events.on((_event, atMs) => times.push(atMs));
    const before = Date.now();
    events.publish(started);
    off();
    events.publish(started);
    expect(times).toHaveLength(1);
    expect(times[0]).toBeGreaterThanOrEqual(before);
    expect(events.now()).toBeGreaterThanOrEqual(before);
  });

  it("names actors: the service itself, or an API token by its name", () => {
    expect(SYSTEM).toBe("system");
    expect(tokenActor("alice")).toBe("token:alice");
  });
});
