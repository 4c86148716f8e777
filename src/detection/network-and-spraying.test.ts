import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledSignals } from "../policy/signals.js";
import { networkSignals } from "./geo.js";
import { SprayingDetector } from "./spraying.js";

/** The hosting-network signal and password spraying's exact signal and window edge. */

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");
const request = (overrides: Partial<NormalisedRequest> = {}): NormalisedRequest => ({
  method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [], ...overrides,
});

describe("hosting networks", () => {
  it("flags an address in a hosting network with the policy's weight and its AS number", () => {
    const signals: CompiledSignals = { geo: { hosting: { weight: 25 } } } as CompiledSignals;
    expect(networkSignals(request({ hosting: true, asn: 16509 }), signals)).toEqual([{ code: "network.hosting", value: 1, weight: 25, fired: true, detail: "AS16509" }]);
    expect(networkSignals(request({ hosting: true }), signals)).toEqual([{ code: "network.hosting", value: 1, weight: 25, fired: true, detail: undefined }]);
    // Measured without a weight when the policy sets none: the reason shows, no risk is added.
    expect(networkSignals(request({ hosting: true, asn: 1 }), {})).toEqual([{ code: "network.hosting", value: 1, weight: 0, fired: true, detail: "AS1" }]);
    expect(networkSignals(request({ hosting: false, asn: 1 }), signals)).toEqual([]);
    expect(networkSignals(request(), signals)).toEqual([]);
  });
});

describe("password spraying, exactly", () => {
  const signals: CompiledSignals = { spraying: { windowMs: 60_000, threshold: 2, weight: 40 } };
  const attempt = (user: string, timeMs: number, password = "Winter2026!") => request({ usernameId: user, passwordSha1: sha1(password), timeMs });

  it("reports the accounts tried with one password against its threshold", () => {
    const detector = new SprayingDetector();
    detector.observe(attempt("a", 0), signals);
    expect(detector.observe(attempt("b", 1000), signals)).toEqual([
      { code: "password.spraying", value: 2, threshold: 2, weight: 40, fired: false, detail: "accounts tried with this password" },
    ]);
    expect(detector.observe(attempt("c", 2000), signals)[0]!.fired).toBe(true);
  });

  it("keeps an account tried exactly a window ago, and forgets it a moment later", () => {
    const kept = new SprayingDetector();
    kept.observe(attempt("a", 0), signals);
    expect(kept.observe(attempt("b", 60_000), signals)[0]!.value).toBe(2);
    const forgotten = new SprayingDetector();
    forgotten.observe(attempt("a", 0), signals);
    expect(forgotten.observe(attempt("b", 60_001), signals)[0]!.value).toBe(1);
  });

  it("needs a password, a username and the signal", () => {
    const detector = new SprayingDetector();
    expect(detector.observe(request({ usernameId: "a", timeMs: 0 }), signals)).toEqual([]);
    expect(detector.observe(request({ passwordSha1: sha1("x"), timeMs: 0 }), signals)).toEqual([]);
    expect(detector.observe(attempt("a", 0), {})).toEqual([]);
  });
});
