import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { openInput } from "./input.js";

const dir = mkdtempSync(path.join(tmpdir(), "palisade-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Three MB in 1 MB reads: several chunks, the first of them read while the caller waits.
const LINES = Array.from({ length: 30_000 }, (_, i) => `${String(i).padStart(6, "0")} ${"x".repeat(93)}`);
const TEXT = `${LINES.join("\n")}\n`;

async function readAll(file: string) {
  const input = await openInput(file);
  await sleep(200); // the caller does something else before reading (loads a policy…)
  const lines: string[] = [];
  for await (const line of input.lines) lines.push(line.text);
  return { lines, bytes: input.bytesRead(), size: input.size };
}

describe("openInput", () => {
  it("loses nothing when reading starts a while after opening", async () => {
    const file = path.join(dir, "plain.jsonl");
    writeFileSync(file, TEXT);
    const { lines, bytes, size } = await readAll(file);
    expect(lines).toEqual(LINES);
    expect(bytes).toBe(size);
  });

  it("does the same for gzip, counting the compressed bytes", async () => {
    const file = path.join(dir, "packed.jsonl.gz");
    writeFileSync(file, gzipSync(TEXT));
    const { lines, bytes, size } = await readAll(file);
    expect(lines).toEqual(LINES);
    expect(bytes).toBe(size);
  });
});
