import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { TokenAuthenticator } from "./auth.js";

it("reports a broken tokens file by position, without quoting its lines", async () => {
  const dir = await mkdtemp(join(tmpdir(), "palisade-tokens-"));
  try {
    const file = join(dir, "tokens.yaml");
    await writeFile(file, "tokens:\n  - name: alice\n    token: s3cret-token-0123456789abcdef0123456789\n   role: [admin\n");
    const error = await TokenAuthenticator.fromFile(file).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/not valid YAML at line \d+, column \d+/);
    expect(error?.message).not.toContain("s3cret");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
