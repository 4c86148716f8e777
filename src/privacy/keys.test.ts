import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKeyRing } from "./keys.js";
import { readSecretFile } from "./secret-file.js";

describe("key and secret files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "palisade-keys-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // 48 bytes that are not UTF-8 (0xff never is) and end in what a text trim would remove.
  const binary = Buffer.concat([Buffer.from([0xff, 0x00, 0x80]), Buffer.alloc(43, 0xc3), Buffer.from([0x20, 0x0a])]);

  it("uses a binary key file byte for byte and measures it in bytes", async () => {
    const file = join(dir, "binary.key");
    await writeFile(file, binary);
    expect(await readSecretFile(file)).toEqual(binary);
    const { ring } = await loadKeyRing({ keyFile: file, graceMs: 0 }, 0);
    expect(ring.current).toEqual(binary);
  });

  it("rejects a short binary key by its byte length, not its text length", async () => {
    const file = join(dir, "short.key");
    // 20 bytes of invalid UTF-8 would become 20 replacement characters, 60 bytes, as text.
    await writeFile(file, Buffer.alloc(20, 0xff));
    await expect(loadKeyRing({ keyFile: file, graceMs: 0 }, 0)).rejects.toThrow(/is 20 bytes/);
  });

  it("trims the newline a text key file ends with", async () => {
    const file = join(dir, "text.key");
    const text = "k".repeat(40);
    await writeFile(file, `${text}\n`);
    expect((await readSecretFile(file)).toString("utf8")).toBe(text);
  });
});
