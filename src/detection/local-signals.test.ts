import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledSignals } from "../policy/signals.js";
import { automationSignals } from "./automation.js";
import { breachedPasswordSignals, loadHashFile, prefixDirectory } from "./breached-passwords.js";
import { SprayingDetector } from "./spraying.js";

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

function request(overrides: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return { method: "POST", path: "/login", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [], ...overrides };
}

describe("password spraying", () => {
  const signals: CompiledSignals = { spraying: { windowMs: 60_000, threshold: 3, weight: 40 } };

  it("fires when one password is tried against more accounts than the threshold within the window", () => {
    const detector = new SprayingDetector();
    const fired = ["a", "b", "c", "d", "e"].map(
      (user, i) => detector.observe(request({ usernameId: user, passwordSha1: sha1("Summer2026!"), timeMs: i * 1000 }), signals)[0]!.fired,
    );
    expect(fired).toEqual([false, false, false, true, true]);
  });

  it("forgets accounts outside the window and tells different passwords apart", () => {
    const detector = new SprayingDetector();
    for (const user of ["a", "b", "c", "d"]) detector.observe(request({ usernameId: user, passwordSha1: sha1("p1"), timeMs: 0 }), signals);
    expect(detector.observe(request({ usernameId: "e", passwordSha1: sha1("p2"), timeMs: 1 }), signals)[0]!.value).toBe(1);
    expect(detector.observe(request({ usernameId: "e", passwordSha1: sha1("p1"), timeMs: 120_000 }), signals)[0]!.value).toBe(1);
  });
});

describe("breached passwords", () => {
  const signals: CompiledSignals = { breachedPassword: { weight: 15 } };

  it("finds a password in a file of full hashes and in range files by prefix", async () => {
    const dir = mkdtempSync(join(tmpdir(), "breached-"));
    const hash = sha1("password123").toUpperCase();
    writeFileSync(join(dir, "list.txt"), `${hash}:12345\n`);
    writeFileSync(join(dir, `${hash.slice(0, 5)}.txt`), `${hash.slice(5)}:9\nFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:1\n`);
    for (const list of [await loadHashFile(join(dir, "list.txt")), prefixDirectory(dir)]) {
      expect(await breachedPasswordSignals(request({ passwordSha1: sha1("password123") }), signals, list)).toEqual([
        expect.objectContaining({ code: "password.breached", fired: true }),
      ]);
      expect(await breachedPasswordSignals(request({ passwordSha1: sha1("correct horse") }), signals, list)).toEqual([]);
    }
  });
});

describe("automation markers", () => {
  const signals: CompiledSignals = { automation: { weight: 25, libraryWeight: 30, tlsBrowserFingerprints: ["t13d1516h2_chrome"] } };

  it("flags a browser user agent without the headers browsers send, and not a real browser", () => {
    const script = request({ headers: new Map([["user-agent", "Mozilla/5.0 (Windows NT 10.0)"]]) });
    expect(automationSignals(script, signals)).toEqual([expect.objectContaining({ code: "client.automation", value: 3 })]);
    const browser = request({
      headers: new Map([
        ["user-agent", "Mozilla/5.0"],
        ["accept", "*/*"],
        ["accept-language", "en"],
        ["accept-encoding", "gzip"],
      ]),
    });
    expect(automationSignals(browser, signals)).toEqual([]);
    expect(automationSignals({ ...browser, tlsFingerprint: "t13d1516h2_chrome" }, signals)).toEqual([]);
    expect(automationSignals({ ...browser, tlsFingerprint: "t13d_python" }, signals)).toEqual([
      expect.objectContaining({ code: "client.tls_mismatch" }),
    ]);
  });

  it("names library and headless user agents", () => {
    for (const agent of ["python-requests/2.32", "curl/8.5", "Mozilla/5.0 HeadlessChrome/120.0", "Scrapy/2.11 (+https://scrapy.org)"]) {
      const script = request({ headers: new Map([["user-agent", agent]]) });
      expect(automationSignals(script, signals)).toEqual([expect.objectContaining({ code: "client.library" })]);
    }
  });
});
