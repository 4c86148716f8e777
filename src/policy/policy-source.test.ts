import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PolicySource } from "./policy-source.js";

/**
 * Where a PolicySource may read list files from: the policy's own directory unless roots are
 * given (test/policy/policy-source.test.ts covers reloading itself).
 */

const withList = (file: string) => `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: roots, version: "1" }
spec:
  reputation:
    lists: [{ name: l, effect: block, files: [${JSON.stringify(file)}] }]
`;

describe("PolicySource's file roots", () => {
  let dir: string;
  let lists: string;
  let sources: PolicySource[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-source-roots-"));
    lists = mkdtempSync(join(tmpdir(), "palisade-source-lists-"));
    writeFileSync(join(lists, "drop.txt"), "192.0.2.0/24\n198.51.100.0/24\n");
    sources = [];
  });
  afterEach(async () => {
    await Promise.all(sources.map((source) => source.stop()));
    rmSync(dir, { recursive: true, force: true });
    rmSync(lists, { recursive: true, force: true });
  });

  function open(fileRoots?: string[]) {
    writeFileSync(join(dir, "policy.yaml"), withList(join(lists, "drop.txt")));
    const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const source = new PolicySource({ location: join(dir, "policy.yaml"), logger, reloadOffThread: false, watch: false, pollIntervalMs: 60_000, fileRoots });
    sources.push(source);
    return source;
  }

  it("reads a list file from a configured root", async () => {
    expect((await open([lists]).start()).lists[0]?.entries).toBe(2);
  });

  it("refuses a list file outside the policy's directory when no root is configured", async () => {
    await expect(open().start()).rejects.toThrow("is outside the allowed policy file roots");
  });
});
