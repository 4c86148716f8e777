import { compileSnapshot } from "../policy/loader.js";
import type { ReplicatedMap } from "../state/replicated-map.js";
import { numberAt } from "./document-paths.js";
import { controlKey, ROLLBACK_KEY, type Control, type EffectivePolicy } from "./effective-policy.js";
import { invalid, notFound, ResponseError } from "./errors.js";
import type { ResponseEvents } from "./events.js";
import { snapshotOf, versionIdOf, versionRef, type PolicyHistory } from "./policy-history.js";

export interface ControlsDependencies {
  map: ReplicatedMap<Control>;
  history: PolicyHistory;
  effective: EffectivePolicy;
  events: ResponseEvents;
  clock: () => number;
}

/** Who asks, why, and for how long (absent: the policy's longest, `overrides.maxDuration`). */
export interface ControlRequest {
  actor: string;
  reason?: string;
  forMs?: number;
}

/**
 * Runtime overrides, as the analyst API makes them: each is checked against the policy in force
 * before anything is written (a bad request changes nothing), written to the shared map (every
 * replica applies it within a second), and recorded.
 */
export class RuntimeControls {
  constructor(private readonly deps: ControlsDependencies) {}

  list(): Control[] {
    return this.deps.map.entries().map((entry) => entry.value);
  }

  /** Decisions follow the kept version `ref` (an id, or a version string) until cleared or lapsed. */
  async rollback(ref: string, request: ControlRequest): Promise<Control> {
    const target = await this.deps.history.find(ref);
    if (!target) throw notFound(`no kept policy version "${ref}" (GET /v1/policy/versions lists them)`);
    if (target.id === versionIdOf(this.deps.effective.base().snapshot)) {
      throw new ResponseError(
        "conflict",
        `${versionRef(target)} is already in force; nothing was changed (to undo a rollback, DELETE /v1/policy/rollback; to pin a version, roll back to another one)`,
      );
    }
    try {
      compileSnapshot(snapshotOf(target));
    } catch (error) {
      throw invalid(`policy version ${target.version} no longer compiles here: ${(error as Error).message}`);
    }
    const fromVersion = this.deps.effective.base().policy.version;
    const { id, name, version, source, text, listFiles } = target;
    const control = await this.#write({ kind: "rollback", id, name, version, fromVersion, source, text, listFiles, ...this.#common(request) });
    this.deps.events.publish({ type: "policy.rolled_back", id, fromVersion, ...this.#change(request, control) });
    return control;
  }

  /** Back to the file's policy. */
  async clearRollback(request: ControlRequest): Promise<void> {
    const current = this.#get(ROLLBACK_KEY, "no rollback is in force");
    await this.#remove(ROLLBACK_KEY, current.raw);
    const clearedVersion = current.value.kind === "rollback" ? current.value.version : "";
    this.deps.events.publish({ type: "policy.override_cleared", clearedVersion, ...this.#change(request) });
  }

  async disableRule(rule: string, request: ControlRequest): Promise<Control> {
    if (!this.deps.effective.base().policy.rules.some((r) => r.id === rule)) throw notFound(`no rule "${rule}" in the policy in force`);
    const control = await this.#write({ kind: "rule", rule, ...this.#common(request) });
    this.deps.events.publish({ type: "rule.disabled", rule, ...this.#change(request, control) });
    return control;
  }

  async enableRule(rule: string, request: ControlRequest): Promise<void> {
    const key = `rule:${rule}`;
    await this.#remove(key, this.#get(key, `rule "${rule}" is not disabled`).raw);
    this.deps.events.publish({ type: "rule.enabled", rule, ...this.#change(request) });
  }

  /** Replaces the number at `path` (see document-paths.ts), checked like a policy file. */
  async overrideThreshold(path: string, value: number, request: ControlRequest): Promise<Control> {
    const base = this.deps.effective.base();
    const previous = numberAt(base.policy.document.spec, path);
    if (previous === undefined) throw notFound(`no number at "${path}" in the policy in force`);
    if (!Number.isFinite(value)) throw invalid("value must be a finite number");
    const control: Control = { kind: "threshold", path, value, previous, ...this.#common(request) };
    const others = this.list().filter((c) => controlKey(c) !== controlKey(control));
    this.deps.effective.compose([...others, control], base); // throws when the result is invalid
    await this.#write(control);
    this.deps.events.publish({ type: "threshold.overridden", path, value, previous, ...this.#change(request, control) });
    return control;
  }

  async clearThreshold(path: string, request: ControlRequest): Promise<void> {
    const key = `threshold:${path}`;
    await this.#remove(key, this.#get(key, `no override at "${path}"`).raw);
    this.deps.events.publish({ type: "threshold.cleared", path, ...this.#change(request) });
  }

  #common(request: ControlRequest) {
    const atMs = this.deps.clock();
    const maxMs = this.deps.effective.base().policy.response.overrides.maxDurationMs;
    if (request.forMs !== undefined && request.forMs > maxMs) throw invalid(`an override lasts at most ${maxMs / 1000}s (spec.response.overrides.maxDuration)`);
    return { actor: request.actor, reason: request.reason, atMs, untilMs: atMs + (request.forMs ?? maxMs) };
  }

  /** The event fields of a change; the policy version is the one in force after it. */
  #change(request: ControlRequest, control?: Control) {
    return { actor: request.actor, reason: request.reason, untilMs: control?.untilMs, policyVersion: this.deps.effective.currentVersion() };
  }

  async #write(control: Control): Promise<Control> {
    await this.deps.map.put(controlKey(control), JSON.stringify(control), control.untilMs - control.atMs);
    return control;
  }

  #get(key: string, missing: string) {
    const entry = this.deps.map.get(key);
    if (!entry) throw notFound(missing);
    return entry;
  }

  async #remove(key: string, raw: string): Promise<void> {
    // Lost a race with another analyst (or the expiry): it is gone either way, but say so.
    if (!(await this.deps.map.remove(key, raw))) throw new ResponseError("conflict", `${key} was changed or removed meanwhile; nothing done`);
  }
}
