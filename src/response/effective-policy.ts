import { createHash } from "node:crypto";
import { z } from "zod";
import { compilePolicy, PolicyError, type CompiledPolicy } from "../policy/compile.js";
import { compileSnapshot, type PolicySnapshot } from "../policy/loader.js";
import { policySchema } from "../policy/schema.js";
import type { ReplicatedMap } from "../state/replicated-map.js";
import { jsonDecoder } from "./codec.js";
import { locate } from "./document-paths.js";
import { invalid } from "./errors.js";
import type { ResponseLog } from "./events.js";
import { snapshotOf } from "./policy-history.js";

const common = { actor: z.string(), reason: z.string().optional(), atMs: z.number(), untilMs: z.number() };
const controlSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("rollback"),
    id: z.string(),
    name: z.string(),
    version: z.string(),
    fromVersion: z.string(),
    source: z.string(),
    text: z.string(),
    listFiles: z.array(z.tuple([z.string(), z.string()])),
    ...common,
  }),
  z.object({ kind: z.literal("rule"), rule: z.string(), ...common }),
  z.object({ kind: z.literal("threshold"), path: z.string(), value: z.number(), previous: z.number(), ...common }),
]);

/**
 * A runtime override, shared by every replica through the map "controls": a rollback to a
 * kept policy version (which carries that version's text, so any replica can compile it), a
 * disabled rule, or a number in the policy replaced. Each lapses at `untilMs` (wall clock).
 */
export type Control = z.infer<typeof controlSchema>;

export const ROLLBACK_KEY = "rollback";
export const controlKey = (control: Control): string =>
  control.kind === "rollback" ? ROLLBACK_KEY : control.kind === "rule" ? `rule:${control.rule}` : `threshold:${control.path}`;

export const decodeControl: (raw: string) => Control | undefined = jsonDecoder(controlSchema);

/** What PolicySource offers the response engine (src/policy/policy-source.ts). */
export interface PolicySourcePort {
  current(): CompiledPolicy;
  filePolicy(): CompiledPolicy;
  fileSnapshot(): PolicySnapshot;
  setOverride(policy: CompiledPolicy | undefined, reason?: string): void;
  onFileChange(listener: (policy: CompiledPolicy, snapshot: PolicySnapshot) => void): () => void;
}

interface Base {
  policy: CompiledPolicy;
  snapshot: PolicySnapshot;
}

/** A control that is set but has nothing to act on in the policy in force (e.g. a rule removed since). */
export interface InactiveControl {
  key: string;
  why: string;
}

/**
 * The policy decisions use: the file's (or a rolled-back version's) with disabled rules left
 * out and overridden numbers put in. Recomputed on every control change and file reload, and
 * handed to PolicySource as its override, so that everything reading `policy.current()` sees
 * it. With no control set, the override is cleared and the file's policy is in force again.
 */
export class EffectivePolicy {
  #rollback: { id: string; policy: CompiledPolicy } | undefined;
  #inactive: InactiveControl[] = [];
  #problems: string[] = [];

  constructor(
    private readonly source: PolicySourcePort,
    private readonly controls: ReplicatedMap<Control>,
    private readonly log: ResponseLog,
    private readonly onChange: (policy: CompiledPolicy) => void,
  ) {}

  start(): void {
    this.source.onFileChange(() => this.recompute());
    this.controls.onChange(() => this.recompute());
    this.recompute();
  }

  /** The policy controls apply to: the rolled-back version, else the file's. */
  base(): Base {
    const rollback = this.#activeRollback();
    return rollback ?? { policy: this.source.filePolicy(), snapshot: this.source.fileSnapshot() };
  }

  /**
   * The policy that `controls` would give; throws ResponseError("invalid") when the overridden
   * numbers make it invalid. Used to check a change before it is written.
   */
  compose(controls: readonly Control[], base = this.base()): { policy: CompiledPolicy; inactive: InactiveControl[] } {
    const rules = new Set(controls.flatMap((c) => (c.kind === "rule" ? [c.rule] : [])));
    const thresholds = controls.flatMap((c) => (c.kind === "threshold" ? [c] : []));
    if (rules.size === 0 && thresholds.length === 0) return { policy: base.policy, inactive: [] };
    const spec = structuredClone(base.policy.document.spec);
    const inactive: InactiveControl[] = [...rules].filter((rule) => !spec.rules.some((r) => r.id === rule)).map((rule) => ({ key: `rule:${rule}`, why: "no such rule in the policy in force" }));
    spec.rules = spec.rules.filter((r) => !rules.has(r.id));
    for (const control of thresholds) {
      const at = locate(spec, control.path);
      const container = at?.container as Record<string | number, unknown> | undefined;
      if (at && typeof container?.[at.key] === "number") container[at.key] = control.value;
      else inactive.push({ key: `threshold:${control.path}`, why: "no number at this path in the policy in force" });
    }
    const applied = [...rules].sort().join(",") + "|" + thresholds.map((t) => `${t.path}=${t.value}`).sort().join(",");
    const version = `${base.policy.version}+rt.${createHash("sha256").update(applied).digest("hex").slice(0, 6)}`;
    return { policy: Object.freeze({ ...compileDocument({ ...base.policy.document, spec }, base.snapshot), version }), inactive };
  }

  recompute(): void {
    const before = this.source.current().version;
    const controls = this.controls.entries().map((entry) => entry.value);
    const base = this.base();
    let composed: ReturnType<EffectivePolicy["compose"]>;
    this.#problems = [];
    try {
      composed = this.compose(controls, base);
    } catch (error) {
      // A file change can make a set number invalid (say, below a new floor): keep the rest.
      this.#problems = [`threshold overrides not applied: ${(error as Error).message}`];
      this.log.error({ err: error }, "threshold overrides make the policy invalid; applying the others only");
      composed = this.compose(controls.filter((c) => c.kind !== "threshold"), base);
    }
    this.#inactive = composed.inactive;
    const untouched = composed.policy === base.policy && !this.#rollback;
    this.source.setOverride(untouched ? undefined : composed.policy, describe(controls));
    if (this.source.current().version !== before) this.onChange(this.source.current());
  }

  /** The last good policy from the files, which a rollback overrides. */
  filePolicy(): CompiledPolicy {
    return this.source.filePolicy();
  }

  /**
   * The version decisions would use with exactly `controls` in force: what an audited change
   * records before it is written. A rollback among them is its base.
   */
  versionWith(controls: readonly Control[]): string {
    const rollback = controls.find((c) => c.kind === "rollback");
    let base: Base = { policy: this.source.filePolicy(), snapshot: this.source.fileSnapshot() };
    if (rollback?.kind === "rollback") {
      const snapshot = snapshotOf(rollback);
      base = { policy: this.#rollback?.id === rollback.id ? this.#rollback.policy : compileSnapshot(snapshot), snapshot };
    }
    try {
      return this.compose(controls, base).policy.version;
    } catch {
      return this.compose(controls.filter((c) => c.kind !== "threshold"), base).policy.version; // as recompute() falls back
    }
  }

  currentVersion(): string {
    return this.source.current().version;
  }

  inactive(): InactiveControl[] {
    return this.#inactive;
  }

  problems(): string[] {
    return this.#problems;
  }

  #activeRollback(): Base | undefined {
    const entry = this.controls.get(ROLLBACK_KEY)?.value;
    if (entry?.kind !== "rollback") {
      this.#rollback = undefined;
      return undefined;
    }
    const snapshot = snapshotOf(entry);
    try {
      if (this.#rollback?.id !== entry.id) this.#rollback = { id: entry.id, policy: compileSnapshot(snapshot) };
      return { policy: this.#rollback.policy, snapshot };
    } catch (error) {
      this.log.error({ err: error, version: entry.version }, "rolled-back policy does not compile here; the file's policy stays in force");
      this.#rollback = undefined;
      return undefined;
    }
  }
}

/** Validated like a file: the schema, then the compiler. */
function compileDocument(document: unknown, snapshot: PolicySnapshot): CompiledPolicy {
  const parsed = policySchema.safeParse(document);
  if (!parsed.success) throw invalid(parsed.error.issues.map((i) => `spec/${i.path.slice(1).join("/")}: ${i.message}`).join("; "));
  try {
    return compilePolicy(parsed.data, snapshot.source, snapshot.listFiles);
  } catch (error) {
    if (error instanceof PolicyError) throw invalid(error.issues.map((i) => `${i.path}: ${i.message}`).join("; "));
    throw error;
  }
}

function describe(controls: readonly Control[]): string {
  return controls.map((c) => (c.kind === "rollback" ? `rollback to ${c.version}` : c.kind === "rule" ? `rule ${c.rule} disabled` : `${c.path}=${c.value}`)).join("; ");
}
