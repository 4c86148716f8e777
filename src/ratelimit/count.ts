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
 * reject. The answer holds one Counted per plan, in the plans' order.
 */
export async function countPlans(store: Store, plans: readonly LimitedPlan[], nowMs: number): Promise<Counted[]> {
  // Loops rather than flatMap/every/slice closures: this runs for every ShouldRateLimit.
  const groups = entityGroups(plans);
  const batches: { entity: string; ops: WindowTake[] }[] = [];
  for (const group of groups) {
    const ops: WindowTake[] = [];
    for (const index of group) for (const planned of plans[index]!.windows) ops.push(takeOf(planned, plans[index]!.hits));
    batches.push({ entity: plans[group[0]!]!.entity, ops });
  }
  for (const batch of batches) assertValidApply(batch.entity, batch.ops, nowMs); // a bug rejects, as before
  const counts = new Array<Counted>(plans.length);
  try {
    const outcome = await applyBatchWithStatus(store, batches, nowMs);
    for (let b = 0; b < batches.length; b++) {
      const group = groups[b]!;
      const { ops } = batches[b]!;
      const befores = outcome.results[b]!;
      let counted = true;
      for (let i = 0; i < ops.length; i++) if (befores[i]! + ops[i]!.amount > ops[i]!.limit) counted = false;
      // The usual case, one plan per entity: its counts are the whole reply, a list of its own.
      let offset = 0;
      for (const index of group) {
        const width = plans[index]!.windows.length;
        const own = group.length === 1 && befores.length === width ? befores : befores.slice(offset, offset + width);
        counts[index] = { ok: true, befores: own, counted, degraded: outcome.degraded };
        offset += width;
      }
    }
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    counts.fill({ ok: false, error });
  }
  return counts;
}

/**
 * Plan indexes by counter entity, in first-seen order. Usually every plan has an entity of its
 * own (a handful of descriptors, compared pairwise), and no Map is built for them.
 */
function entityGroups(plans: readonly LimitedPlan[]): number[][] {
  for (let i = 1; i < plans.length; i++) {
    for (let j = 0; j < i; j++) {
      if (plans[i]!.entity === plans[j]!.entity) return [...groupByEntity(plans.map((_, index) => index), (index) => plans[index]!.entity).values()];
    }
  }
  return plans.map((_, index) => [index]);
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
