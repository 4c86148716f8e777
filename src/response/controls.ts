import { compileSnapshot } from "../policy/loader.js";
import type { ReplicatedMap } from "../state/replicated-map.js";
import { numberAt } from "./document-paths.js";
import { controlKey, ROLLBACK_KEY, type Control, type EffectivePolicy } from "./effective-policy.js";
import { invalid, notFound, ResponseError } from "./errors.js";
import { generatedWriteId, type ResponseEvent, type ResponseEvents, type WriteId } from "./events.js";
import type { AuditedChange } from "../state/shared-map.js";
import { snapshotOf, versionIdOf, versionRef, type PolicyHistory } from "./policy-history.js";

export interface ControlsDependencies {
  map: ReplicatedMap<Control>;
  history: PolicyHistory;
  effective: EffectivePolicy;
  events: ResponseEvents;
  /** The audit record of an event, to write with the change it reports (AuditTrail.audited). */
  audited: (event: ResponseEvent, atMs: number, id: WriteId) => AuditedChange;
  clock: () => number;
}

/** Who asks, why, and for how long (absent: the policy's longest, `overrides.maxDuration`). */
export interface ControlRequest {
  actor: string;
  reason?: string;
  forMs?: number;
  /** Names the write (idempotency); generated when absent. */
  id?: WriteId;
}

/**
 * Runtime overrides, as the analyst API makes them: each is checked against the policy in force
 * before anything is written (a bad request changes nothing), then written to the shared map
 * together with its audit record, in one step (every replica applies it within a second). The
 * record names the policy version decisions use after the change, computed before the write.
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
    const control: Control = { kind: "rollback", id, name, version, fromVersion, source, text, listFiles, ...this.#common(request) };
    return this.#write(control, request, (policyVersion) => ({ type: "policy.rolled_back", id, fromVersion, ...this.#change(request, policyVersion, control) }));
  }

  /** Back to the file's policy. */
  async clearRollback(request: ControlRequest): Promise<void> {
    const current = this.#get(ROLLBACK_KEY, "no rollback is in force");
    const clearedVersion = current.value.kind === "rollback" ? current.value.version : "";
    await this.#remove(ROLLBACK_KEY, current.raw, request, (policyVersion) => ({ type: "policy.override_cleared", clearedVersion, ...this.#change(request, policyVersion) }));
  }

  async disableRule(rule: string, request: ControlRequest): Promise<Control> {
    if (!this.deps.effective.base().policy.rules.some((r) => r.id === rule)) throw notFound(`no rule "${rule}" in the policy in force`);
    const control: Control = { kind: "rule", rule, ...this.#common(request) };
    return this.#write(control, request, (policyVersion) => ({ type: "rule.disabled", rule, ...this.#change(request, policyVersion, control) }));
  }

  async enableRule(rule: string, request: ControlRequest): Promise<void> {
    const key = `rule:${rule}`;
    await this.#remove(key, this.#get(key, `rule "${rule}" is not disabled`).raw, request, (policyVersion) => ({ type: "rule.enabled", rule, ...this.#change(request, policyVersion) }));
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
    return this.#write(control, request, (policyVersion) => ({ type: "threshold.overridden", path, value, previous, ...this.#change(request, policyVersion, control) }));
  }

  async clearThreshold(path: string, request: ControlRequest): Promise<void> {
    const key = `threshold:${path}`;
    await this.#remove(key, this.#get(key, `no override at "${path}"`).raw, request, (policyVersion) => ({ type: "threshold.cleared", path, ...this.#change(request, policyVersion) }));
  }

  #common(request: ControlRequest) {
    const atMs = this.deps.clock();
    const maxMs = this.deps.effective.base().policy.response.overrides.maxDurationMs;
    if (request.forMs !== undefined && request.forMs > maxMs) throw invalid(`an override lasts at most ${maxMs / 1000}s (spec.response.overrides.maxDuration)`);
    return { actor: request.actor, reason: request.reason, atMs, untilMs: atMs + (request.forMs ?? maxMs) };
  }

  /** The event fields of a change; the policy version is the one in force after it. */
  #change(request: ControlRequest, policyVersion: string, control?: Control) {
    return { actor: request.actor, reason: request.reason, untilMs: control?.untilMs, policyVersion };
  }

  /** Writes `control` with the record of `event` (given the policy version after the change). */
  async #write(control: Control, request: ControlRequest, event: (policyVersion: string) => ResponseEvent): Promise<Control> {
    const key = controlKey(control);
    const happened = event(this.deps.effective.versionWith([...this.list().filter((c) => controlKey(c) !== key), control]));
    const audited = this.deps.audited(happened, control.atMs, request.id ?? generatedWriteId());
    const { auditId, replayed } = await this.deps.map.put(key, JSON.stringify(control), control.untilMs - control.atMs, audited);
    if (!replayed) this.deps.events.publish(happened, { auditId }, control.atMs);
    return control;
  }

  /** The controls' copy keeps the stored text (not compact), which a conditional removal needs. */
  #get(key: string, missing: string) {
    const entry = this.deps.map.get(key);
    if (entry?.raw === undefined) throw notFound(missing);
    return { value: entry.value, raw: entry.raw };
  }

  async #remove(key: string, raw: string, request: ControlRequest, event: (policyVersion: string) => ResponseEvent): Promise<void> {
    const atMs = this.deps.clock();
    const happened = event(this.deps.effective.versionWith(this.list().filter((c) => controlKey(c) !== key)));
    const audited = this.deps.audited(happened, atMs, request.id ?? generatedWriteId());
    const { removed, auditId, replayed } = await this.deps.map.remove(key, raw, audited);
    // Lost a race with another analyst (or the expiry): it is gone either way, but say so.
    if (!removed) throw new ResponseError("conflict", `${key} was changed or removed meanwhile; nothing done`);
    if (!replayed) this.deps.events.publish(happened, { auditId }, atMs);
  }
}
