import { readdirSync, readFileSync } from "node:fs";
import { celEnv, CelScalar, isCelError, listType, mapType, parse, plan } from "@bufbuild/cel";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DIRECT_ERROR, directCondition, type DirectVariables } from "./cel-direct.js";

/**
 * The directly evaluated forms must answer exactly as @bufbuild/cel does: every condition
 * here, every rule of the shipped example policies among them, is evaluated both ways over
 * thousands of generated activations.
 */

const env = celEnv({
  variables: {
    request: mapType(CelScalar.STRING, CelScalar.DYN),
    signal: mapType(CelScalar.STRING, CelScalar.DOUBLE),
    reasons: listType(CelScalar.STRING),
    risk: CelScalar.INT,
  },
});

const CODES = ["velocity.ip", "velocity.username", "probe.path", "probe.", "ip.probes", "ip.missing_paths", "account.known_device", "cohort.anomalous", "login.failures.username", "x"];

function policyConditions(): string[] {
  const root = new URL("../../examples/", import.meta.url);
  const files = ["policy.yaml", ...readdirSync(new URL("policies/", root)).filter((f) => f.endsWith(".yaml")).map((f) => `policies/${f}`)];
  const found: string[] = [];
  for (const file of files) {
    for (const document of readFileSync(new URL(file, root), "utf8").split(/^---$/m)) {
      const rules = (parseYaml(document) as { spec?: { rules?: { when?: string }[] } } | null)?.spec?.rules ?? [];
      for (const rule of rules) if (typeof rule.when === "string") found.push(rule.when);
    }
  }
  return found;
}

const FORMS = [
  "true",
  "false",
  '"velocity.ip" in reasons',
  '!("velocity.ip" in reasons) && risk < 30',
  '"velocity.ip" in reasons || "velocity.username" in reasons || risk >= 80',
  'reasons.exists(r, r.startsWith("probe."))',
  'reasons.exists(reasons, reasons.startsWith("ip."))',
  '"login.failures.username" in signal',
  'signal["login.failures.username"] < 0.5',
  'signal["login.failures.username"] >= 0.5 || risk > 10',
  'signal["login.failures.username"] >= 0.5 && risk > 10',
  'risk > 10 || signal["login.failures.username"] >= 0.5',
  'risk > 10 && signal["login.failures.username"] >= 0.5',
  '!(signal["x"] == 1.0)',
  "risk == 40 || risk != 40 && risk <= 3",
  '"cohort.anomalous" in reasons && risk >= 50 && (!("login.failures.username" in signal) || signal["login.failures.username"] < 0.5)',
];

/** Forms left to @bufbuild/cel. */
const NOT_DIRECT = [
  'request.path == "/login"',
  'signal["x"] >= 4',
  "risk >= 40.0",
  "40 <= risk",
  "size(reasons) > 2",
  'reasons.exists(r, r.endsWith(".ip"))',
  'reasons.all(r, r.startsWith("probe."))',
  '"x" in ["x"]',
  "1 in reasons",
  "risk >= 99999999999999999",
];

/** A small deterministic generator, so a failure names a reproducible activation. */
function* activations(count: number): Generator<{ reasons: string[]; signal: Map<string, number>; risk: number }> {
  let seed = 12345;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < count; i++) {
    const reasons = CODES.filter(() => next() < 0.3);
    const signal = new Map(CODES.filter(() => next() < 0.4).map((code) => [code, [0, 0.25, 0.5, 1, 3, Number.NaN][Math.floor(next() * 6)]!] as const));
    yield { reasons, signal, risk: Math.floor(next() * 101) };
  }
}

type Program = (ctx: Record<string, unknown>) => unknown;

function celAnswer(program: Program, a: { reasons: string[]; signal: Map<string, number>; risk: number }) {
  const result = program({ request: {}, signal: a.signal, reasons: a.reasons, risk: BigInt(a.risk) });
  return isCelError(result) ? "error" : result === true;
}

function directAnswer(direct: NonNullable<ReturnType<typeof directCondition>>, a: { reasons: string[]; signal: Map<string, number>; risk: number }) {
  const variables: DirectVariables = { reasonList: () => a.reasons, signalMap: () => a.signal, riskValue: a.risk };
  const result = direct(variables);
  return result === DIRECT_ERROR ? "error" : result;
}

describe("directCondition", () => {
  const conditions = [...FORMS, ...policyConditions()];

  it("takes every form of the example policies' rules", () => {
    expect(policyConditions().length).toBeGreaterThan(15);
    for (const source of conditions) expect(directCondition(parse(source).expr), source).toBeDefined();
  });

  it("answers as @bufbuild/cel does, errors included", () => {
    const seen = new Set<string>();
    for (const source of conditions) {
      const parsed = parse(source);
      const program = plan(env, parsed) as unknown as Program;
      const direct = directCondition(parsed.expr)!;
      for (const a of activations(600)) {
        const expected = celAnswer(program, a);
        seen.add(String(expected));
        expect(directAnswer(direct, a), `${source} on ${JSON.stringify({ ...a, signal: [...a.signal] })}`).toBe(expected);
      }
    }
    expect([...seen].sort()).toEqual(["error", "false", "true"]);
  });

  it("leaves every other form to @bufbuild/cel", () => {
    for (const source of NOT_DIRECT) expect(directCondition(parse(source).expr), source).toBeUndefined();
  });
});
