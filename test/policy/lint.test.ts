import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { lintPolicy } from "../../src/policy/lint.js";

const fixtures = fileURLToPath(new URL("../fixtures/policies/", import.meta.url));

/** Runs `use` on a policy file named `name`.yaml (metadata name `name`, version 1) holding `spec`, in a directory removed afterwards. */
async function withPolicyFile(name: string, spec: string, use: (file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "palisade-lint-"));
  try {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `apiVersion: palisade.dev/v1alpha1\nkind: Policy\nmetadata: { name: ${name}, version: "1" }\nspec:\n${spec}\n`);
    await use(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("lintPolicy", () => {
  it("summarises a valid policy", async () => {
    const file = join(fixtures, "valid", "full.yaml");
    expect(await lintPolicy(file)).toEqual({
      ok: true,
      output: `${file}: ok: policy "full" version 2026-11-24.1 (enforce): 4 endpoints, 3 rules, 3 reputation lists`,
    });
  });

  it("counts in the singular when there is one of each", async () => {
    const spec = `  mode: shadow
  endpoints: [{ name: a, match: { path: /a } }]
  rules: [{ id: r, when: "risk > 1", action: block }]
  reputation: { lists: [{ name: l, effect: block, cidrs: [192.0.2.0/24] }] }`;
    await withPolicyFile("one", spec, async (file) => {
      expect(await lintPolicy(file)).toEqual({ ok: true, output: `${file}: ok: policy "one" version 1 (shadow): 1 endpoint, 1 rule, 1 reputation list` });
    });
  });

  it("prints a valid policy's warnings after its summary, and still passes it", async () => {
    await withPolicyFile("signup", "  endpoints: [{ name: signup, match: { path: /register }, registration: true }]", async (file) => {
      const result = await lintPolicy(file);
      expect(result.ok).toBe(true);
      expect(result.output.split("\n")).toEqual([
        `${file}: ok: policy "signup" version 1 (enforce): 1 endpoint, 0 rules, 0 reputation lists`,
        `${file}: spec.endpoints[0].outcome.createdHeader: warning: absent: this registration endpoint teaches no account history (give the response header the application sets only when it created the account)`,
      ]);
    });
  });

  it("prints every issue of an invalid policy, one per line", async () => {
    const file = join(fixtures, "invalid", "unknown-key.yaml");
    const result = await lintPolicy(file);
    expect(result.ok).toBe(false);
    expect(result.output.split("\n")).toEqual([
      `${file}: spec.endpoints[0].velocity.ip.threshold: required; expected a number`,
      `${file}: spec.endpoints[0].velocity.ip.treshold: unknown key (did you mean "threshold"?)`,
    ]);
  });

  it("reports an alias it cannot expand as an issue of the file, not a crash", async () => {
    for (const name of ["alias-bomb.yaml", "alias-without-anchor.yaml"]) {
      const file = join(fixtures, "invalid", name);
      const result = await lintPolicy(file);
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(new RegExp(`^${file}: the alias`));
    }
  });

  it("reports a location that does not exist", async () => {
    const result = await lintPolicy(join(fixtures, "absent.yaml"));
    expect(result).toEqual({ ok: false, output: `${join(fixtures, "absent.yaml")}: cannot read: no such file or directory` });
  });

  describe("rejects policies too expensive to evaluate, with the figure", () => {
    const dir = mkdtempSync(join(tmpdir(), "palisade-expensive-"));
    const rules = (entries: string[]) =>
      `apiVersion: palisade.dev/v1alpha1\nkind: Policy\nmetadata: { name: expensive }\nspec:\n  rules:\n${entries
        .map((when, i) => `    - { id: r${i}, when: ${JSON.stringify(when)}, action: block }`)
        .join("\n")}\n`;
    const hundred = `[${Array.from({ length: 100 }, (_, i) => i).join(", ")}]`;
    const lint = async (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return lintPolicy(join(dir, name));
    };

    it("a 100x100x100 comprehension, by its estimated cost", async () => {
      const nested = `${hundred}.exists(a, ${hundred}.exists(b, ${hundred}.exists(c, a + b + c == -1)))`;
      const result = await lint("nested.yaml", rules([nested]));
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/spec\.rules\[0\]\.when: too expensive: estimated cost \d{7,} exceeds the rule budget of 100000/);
    });

    it("10,000 rules, by their number, without compiling them", async () => {
      const result = await lint("many.yaml", rules(Array.from({ length: 10_000 }, (_, i) => `risk > ${i}`)));
      expect(result.output).toContain("spec.rules: too expensive: 10000 rules; at most 500");
    });

    it("a 20,000-term expression, by its length, before parsing it", async () => {
      const terms = Array.from({ length: 20_000 }, (_, i) => `risk == ${i}`).join(" || ");
      const result = await lint("long.yaml", rules([terms]));
      expect(result.output).toContain(`spec.rules[0].when: too expensive: the condition is ${terms.length} characters; at most 4096`);
    });

    it("rules that are each affordable but together exceed the policy budget", async () => {
      const headerScan = 'request.headers.exists(h, h.startsWith("x-")) && reasons.exists(r, r.contains("bot"))';
      const result = await lint("sum.yaml", rules(Array.from({ length: 400 }, () => headerScan)));
      expect(result.output).toMatch(/spec\.rules: too expensive: estimated cost \d+ of all rules exceeds the policy budget of 1000000/);
    });

    it("and cleans up", () => rmSync(dir, { recursive: true, force: true }));
  });
});
