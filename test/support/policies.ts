import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { compilePolicy, PolicyError, type CompiledPolicy } from "../../src/policy/compile.js";
import { policySchema } from "../../src/policy/schema.js";

/** Repository root, for reading the bundled example files. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const examplePolicyPath = `${repoRoot}examples/policy.yaml`;

/** The bundled example policy, compiled. */
export function examplePolicy(): CompiledPolicy {
  return policyFrom(parse(readFileSync(examplePolicyPath, "utf8")));
}

/** Compiles a policy document given as an object, with the schema's defaults applied. */
export function policyFrom(document: unknown): CompiledPolicy {
  return compilePolicy(policySchema.parse(document), "test");
}

/** A minimal document with one endpoint and the given spec fields merged in, compiled. */
export function minimalPolicy(spec: Record<string, unknown> = {}): CompiledPolicy {
  return policyFrom(minimalPolicyDocument(spec));
}

/** A minimal policy document with one endpoint (a JSON login at /login) and the given spec fields merged in. */
export function minimalPolicyDocument(spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "palisade.dev/v1alpha1",
    kind: "Policy",
    metadata: { name: "test", version: "t1" },
    spec: {
      endpoints: [
        {
          name: "login",
          match: { methods: ["POST"], path: "/login" },
          identity: { username: { jsonPointer: "/username" } },
          velocity: { ip: { window: "1m", threshold: 3, weight: 40 } },
        },
      ],
      ...spec,
    },
  };
}

let policyFiles = 0;
const policyDir = mkdtempSync(join(tmpdir(), "palisade-policy-"));

/** Writes a policy document to a fresh temporary file, for whatever reads policies from files; returns its path. */
export function policyFile(document: unknown): string {
  const file = join(policyDir, `policy-${++policyFiles}.yaml`);
  writeFileSync(file, stringify(document));
  return file;
}

/** The issues, as "path: message", of the PolicyError `run` throws; fails when it throws nothing else. */
export function policyIssues(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error("expected the policy to be rejected");
}
