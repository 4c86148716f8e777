import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledSignals } from "../policy/signals.js";
import { automationSignals } from "./automation.js";
import { breachedPasswordSignals, loadHashFile, prefixDirectory } from "./breached-passwords.js";

/**
 * Automation markers and breached-password lists at their edges (local-signals.test.ts plays
 * the common cases): the exact signals and the empty answers, a browser list that names no TLS
 * handshake, and list files with either line ending, counts, stray lines and cached prefixes.
 */

const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const automation = { weight: 25, libraryWeight: 30, tlsBrowserFingerprints: ["t13d1516h2_chrome"] };

function request(headers: Record<string, string>, overrides: Partial<NormalisedRequest> = {}): NormalisedRequest {
  return { method: "GET", path: "/", query: "", host: "", headers: new Map(Object.entries(headers)), headerShape: "s", timeMs: 0, anomalies: [], ...overrides };
}
const browserHeaders = { "user-agent": CHROME, accept: "*/*", "accept-language": "en", "accept-encoding": "gzip" };
const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

describe("automation markers: exact answers", () => {
  it("says nothing without the setting, or for a client that is neither a library nor a browser", () => {
    expect(automationSignals(request({ "user-agent": "curl/8.5" }), {})).toEqual([]);
    expect(automationSignals(request({ "user-agent": "okhttp/4.12" }), { automation })).toEqual([]);
  });

  it("gives each marker as a fired signal with its weight", () => {
    expect(automationSignals(request({ "user-agent": "python-requests/2.31" }), { automation })).toEqual([
      { code: "client.library", value: 1, weight: 30, fired: true, detail: "library or headless user agent" },
    ]);
    expect(automationSignals(request({ "user-agent": CHROME, accept: "*/*" }), { automation })).toEqual([
      { code: "client.automation", value: 2, threshold: 0, weight: 25, fired: true, detail: "claims a browser, lacks browser headers" },
    ]);
    expect(automationSignals(request(browserHeaders, { tlsFingerprint: "t13d_python" }), { automation })).toEqual([
      { code: "client.tls_mismatch", value: 1, weight: 25, fired: true, detail: "TLS handshake of no listed browser" },
    ]);
  });

  it("judges no TLS handshake where the policy lists none", () => {
    expect(automationSignals(request(browserHeaders, { tlsFingerprint: "t13d_python" }), { automation: { ...automation, tlsBrowserFingerprints: [] } })).toEqual([]);
  });
});

describe("breached-password lists: file formats", () => {
  const inside = sha1("password123").toUpperCase();
  const other = sha1("letmein").toUpperCase();

  it("reads a file of full hashes with either line ending, with or without counts, and nothing else", async () => {
    const dir = mkdtempSync(join(tmpdir(), "breached-edges-"));
    try {
      writeFileSync(join(dir, "lf.txt"), `${inside}:12\n${other.toLowerCase()}\nnot a hash\n`);
      writeFileSync(join(dir, "crlf.txt"), `${other}:3\r\n${inside}\r\n`);
      const lf = await loadHashFile(join(dir, "lf.txt"));
      expect([await lf.contains(inside), await lf.contains(other), await lf.contains("not a hash")]).toEqual([true, true, false]);
      const crlf = await loadHashFile(join(dir, "crlf.txt"));
      expect([await crlf.contains(inside.toLowerCase()), await crlf.contains(other)]).toEqual([true, true]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads a range file once, with counts on every line, and keeps it after the file is gone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "breached-range-"));
    try {
      writeFileSync(join(dir, inside.slice(0, 5)), `0000000000000000000000000000000000A:1\n${inside.slice(5)}:7\n`);
      const list = prefixDirectory(dir);
      expect(await list.contains(inside)).toBe(true);
      rmSync(join(dir, inside.slice(0, 5)));
      expect(await list.contains(inside)).toBe(true);
      expect(await list.contains(other)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says nothing without the setting, a list or a password, and answers no when the list fails", async () => {
    const signals: CompiledSignals = { breachedPassword: { weight: 15 } };
    const always = { contains: async () => true };
    const withPassword = request({}, { passwordSha1: sha1("x") });
    expect(await breachedPasswordSignals(withPassword, {}, always)).toEqual([]);
    expect(await breachedPasswordSignals(withPassword, signals, undefined)).toEqual([]);
    expect(await breachedPasswordSignals(request({}), signals, always)).toEqual([]);
    expect(await breachedPasswordSignals(withPassword, signals, always)).toEqual([{ code: "password.breached", value: 1, weight: 15, fired: true }]);
    expect(await breachedPasswordSignals(withPassword, signals, { contains: () => Promise.reject(new Error("unreadable")) })).toEqual([]);
  });
});
