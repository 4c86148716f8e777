import { applyBatchWithStatus } from "../state/resilient-store.js";
import { assertValidApply, StoreUnavailableError, type Store, type WindowTake } from "../state/store.js";
import type { LimitedPlan } from "./evaluate.js";

/** What the store said about one plan's windows. */
export type Counted =
  | { ok: true; befores: number[]; counted: boolean; degraded: boolean }
  | { ok: false; error: StoreUnavailableError };

/**
 * Counts every plan in the store: one window.take per window, all counter entities in one store
 * call where the store allows (one script on a single Redis), so a ShouldRateLimit costs one
 * round trip. The takes of one entity (a descriptor's limit and burst, or the same descriptor
 * sent twice) count all or nothing. Only unavailability is caught; invalid input and bugs still
 * reject.
 */
export async function countPlans(store: Store, plans: readonly LimitedPlan[], nowMs: number): Promise<Map<LimitedPlan, Counted>> {
  // Loops rather than flatMap/every/slice closures: this runs for every ShouldRateLimit.
  const batches: { entity: string; group: LimitedPlan[]; ops: WindowTake[] }[] = [];
  for (const [entity, group] of groupByEntity(plans, (plan) => plan.entity)) {
    const ops: WindowTake[] = [];
    for (const plan of group) for (const planned of plan.windows) ops.push(takeOf(planned, plan.hits));
    batches.push({ entity, group, ops });
  }
  for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs); // a bug rejects, as before
  const results = new Map<LimitedPlan, Counted>();
  try {
    const outcome = await applyBatchWithStatus(store, batches, nowMs);
    for (let b = 0; b < batches.length; b++) {
      const { group, ops } = batches[b]!;
      const befores = outcome.results[b]!;
      let counted = true;
      for (let i = 0; i < ops.length; i++) if (befores[i]! + ops[i]!.amount > ops[i]!.limit) counted = false;
      if (group.length === 1) {
        // The usual case, one plan per entity: its counts are the whole reply, a list of its own.
        results.set(group[0]!, { ok: true, befores: befores.length === ops.length ? befores : befores.slice(0, ops.length), counted, degraded: outcome.degraded });
        continue;
      }
      let offset = 0;
      for (const plan of group) {
        offset += plan.windows.length;
        results.set(plan, { ok: true, befores: befores.slice(offset - plan.windows.length, offset), counted, degraded: outcome.degraded });
      }
    }
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    for (const plan of plans) results.set(plan, { ok: false, error });
  }
  return results;
}

/** Items grouped by the counter entity `entityOf` names, in first-seen order. */
export function groupByEntity<T>(items: readonly T[], entityOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(entityOf(item));
    if (group === undefined) groups.set(entityOf(item), [item]);
    else group.push(item);
  }
  return groups;
}

function takeOf(planned: LimitedPlan["windows"][number], hits: number): WindowTake {
  const { window, limit } = planned;
  return { op: "window.take", name: window.role, windowMs: window.windowMs, algorithm: window.algorithm, limit, amount: hits };
}
