import { describe, expect, it } from "vitest";
import type { Scope } from "../domain/decision.js";
import {
  decodeQuarantine,
  decodeQuarantineMark,
  entityOf,
  internedCount,
  markOf,
  QUARANTINE_COPY,
  quarantineDurationMs,
  quarantineKey,
  rebuildQuarantine,
  subjectOf,
  type Quarantine,
  type QuarantineMark,
} from "./quarantine-record.js";

/**
 * The stored record of a quarantine on its own: how a replica's compact copy is made from the
 * stored text and how the text is written back when the store lost it. The quarantine engine's
 * suites reach these through a store; here each is checked directly, so the audit group of
 * `npm run mutate` (which mutates this file) is judged by a test of it.
 */
const STORED: Quarantine = {
  id: "q-7",
  scope: "subnet",
  subject: "2001:db8:1::/48",
  rule: "credential-stuffing",
  policyVersion: "v12",
  reasons: [{ code: "login.failures", value: 40, threshold: 20, weight: 1, detail: "40 failures in 10m" }],
  decisionId: "d-1",
  endpoint: "login",
  startMs: 1_000,
  expiresMs: 61_000,
  offence: 2,
  actor: "rule",
};
const MARK: QuarantineMark = { id: "q-7", scope: "subnet", rule: "credential-stuffing", actor: "rule", startMs: 1_000, expiresMs: 61_000, offence: 2 };

describe("a stored quarantine", () => {
  it("decodes text of the expected shape and gives undefined for anything else", () => {
    expect(decodeQuarantine(JSON.stringify(STORED))).toEqual(STORED);
    expect(decodeQuarantine("not json")).toBeUndefined();
    expect(decodeQuarantine(JSON.stringify({ ...STORED, offence: 0 }))).toBeUndefined();
    expect(decodeQuarantine(JSON.stringify({ ...STORED, scope: "planet" }))).toBeUndefined();
  });

  it("keeps in a replica's copy only what the Check path and a write-back need", () => {
    expect(markOf(STORED)).toStrictEqual(MARK);
    expect(decodeQuarantineMark(JSON.stringify(STORED))).toStrictEqual(MARK);
    expect(decodeQuarantineMark("{}")).toBeUndefined();
    expect(decodeQuarantineMark("")).toBeUndefined();
  });

  it("gives back the same rule and actor for every mark, however many are made", () => {
    // Past the interning bound the text is still returned as it is, only not remembered.
    const marks = Array.from({ length: 1_100 }, (_, i) => markOf({ ...MARK, rule: `rule-${i}`, actor: `analyst-${i % 3}` }));
    expect(marks.map((m) => m.rule)).toEqual(Array.from({ length: 1_100 }, (_, i) => `rule-${i}`));
    expect(marks.map((m) => m.actor)).toEqual(Array.from({ length: 1_100 }, (_, i) => `analyst-${i % 3}`));
    expect(markOf(MARK)).toStrictEqual(MARK);
    expect(markOf(MARK)).toStrictEqual(MARK);
    // Rule ids and actors a policy or an analyst makes up do not grow the interned set for ever.
    expect(internedCount()).toBe(1_024);
  });

  it("is rebuilt from its key and mark without its rationale, and reads back as a quarantine", () => {
    const key = quarantineKey("subnet", "2001:db8:1::/48");
    expect(key).toBe("subnet:2001:db8:1::/48");
    const text = rebuildQuarantine(key, MARK);
    expect(JSON.parse(text)).toStrictEqual({ ...MARK, subject: "2001:db8:1::/48", policyVersion: "", reasons: [] });
    expect(decodeQuarantine(text)).toEqual({ ...MARK, subject: "2001:db8:1::/48", policyVersion: "", reasons: [] });
    expect(decodeQuarantineMark(text)).toStrictEqual(MARK);
  });

  it("is copied by every replica as a mark, known by its id, written back from key and mark", () => {
    const mark = QUARANTINE_COPY.decode(JSON.stringify(STORED));
    expect(mark).toStrictEqual(MARK);
    expect(QUARANTINE_COPY.decode("[]")).toBeUndefined();
    expect(QUARANTINE_COPY.identify(mark!)).toBe("q-7");
    expect(JSON.parse(QUARANTINE_COPY.rebuild({ key: "ip:p-9", value: { ...mark!, scope: "ip" } }))).toStrictEqual({
      ...MARK,
      scope: "ip",
      subject: "p-9",
      policyVersion: "",
      reasons: [],
    });
  });
});

describe("the subject of a quarantine", () => {
  const request = { ipId: "p-ip", subnet: "203.0.113.0/24", usernameId: "p-user", fingerprintId: "p-fp", sessionId: "p-sess" };
  const scopes: Scope[] = ["ip", "subnet", "username", "fingerprint", "session"];

  it("is the request's pseudonym for each scope, the subnet in clear, and the store entity the detectors count under", () => {
    expect(scopes.map((scope) => subjectOf(request, scope))).toEqual(["p-ip", "203.0.113.0/24", "p-user", "p-fp", "p-sess"]);
    expect(subjectOf({ ipId: "p-ip" }, "username")).toBeUndefined();
    expect(scopes.map((scope) => entityOf(scope, "x"))).toEqual(["ip:x", "net:x", "user:x", "fp:x", "sess:x"]);
    expect(scopes.map((scope) => quarantineKey(scope, "x"))).toEqual(["ip:x", "subnet:x", "username:x", "fingerprint:x", "session:x"]);
    // Again, from the memo of keys built; a subject too long for it is joined every time.
    expect(scopes.map((scope) => quarantineKey(scope, "x"))).toEqual(["ip:x", "subnet:x", "username:x", "fingerprint:x", "session:x"]);
    expect(quarantineKey("ip", "y".repeat(300))).toBe(`ip:${"y".repeat(300)}`);
  });
});

describe("how long a quarantine lasts", () => {
  const escalation = { factor: 3, maxMs: 100_000, memoryMs: 1_000_000 };

  it("is the base for a first offence, times the factor for each earlier one, never beyond the cap", () => {
    expect(quarantineDurationMs(10_000, 1, escalation)).toBe(10_000);
    expect(quarantineDurationMs(10_000, 2, escalation)).toBe(30_000);
    expect(quarantineDurationMs(10_000, 3, escalation)).toBe(90_000);
    expect(quarantineDurationMs(10_000, 4, escalation)).toBe(100_000);
    // An offence count below one (never stored, but not trusted) is a first offence.
    expect(quarantineDurationMs(10_000, 0, escalation)).toBe(10_000);
    expect(quarantineDurationMs(10_000, -2, escalation)).toBe(10_000);
  });

  it("is a whole number of milliseconds, at least one", () => {
    expect(quarantineDurationMs(1_000, 2, { factor: 1.5005, maxMs: 100_000, memoryMs: 0 })).toBe(1_501);
    expect(quarantineDurationMs(0.2, 1, escalation)).toBe(1);
    expect(quarantineDurationMs(0, 3, escalation)).toBe(1);
  });
});
