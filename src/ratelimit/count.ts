import { applyWithStatus } from "../state/resilient-store.js";
import { StoreUnavailableError, type Store, type WindowTake } from "../state/store.js";
import type { LimitedPlan } from "./evaluate.js";

/** What the store said about one plan's windows. */
export type Counted =
  | { ok: true; befores: number[]; counted: boolean; degraded: boolean }
  | { ok: false; error: StoreUnavailableError };

/**
 * Counts every plan in the store: one window.take per window, one apply() per counter entity, all
 * entities at once, so a ShouldRateLimit costs one round-trip latency. The takes of one entity
 * (a descriptor's limit and burst, or the same descriptor sent twice) count all or nothing.
 * Only unavailability is caught; invalid input and bugs still reject.
 */
export async function countPlans(store: Store, plans: readonly LimitedPlan[], nowMs: number): Promise<Map<LimitedPlan, Counted>> {
  const groups = new Map<string, LimitedPlan[]>();
  for (const plan of plans) groups.set(plan.entity, [...(groups.get(plan.entity) ?? []), plan]);
  const results = new Map<LimitedPlan, Counted>();
  await Promise.all(
    [...groups].map(async ([entity, group]) => {
      for (const [plan, counted] of await countGroup(store, entity, group, nowMs)) results.set(plan, counted);
    }),
  );
  return results;
}

async function countGroup(store: Store, entity: string, group: LimitedPlan[], nowMs: number): Promise<[LimitedPlan, Counted][]> {
  const ops = group.flatMap((plan) => plan.windows.map((planned): WindowTake => takeOf(planned, plan.hits)));
  try {
    const { results, degraded } = await applyWithStatus(store, entity, ops, nowMs);
    const counted = ops.every((op, i) => results[i]! + op.amount <= op.limit);
    let offset = 0;
    return group.map((plan) => {
      offset += plan.windows.length;
      return [plan, { ok: true, befores: results.slice(offset - plan.windows.length, offset), counted, degraded }];
    });
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    return group.map((plan) => [plan, { ok: false, error }]);
  }
}

function takeOf(planned: LimitedPlan["windows"][number], hits: number): WindowTake {
  const { window, limit } = planned;
  return { op: "window.take", name: window.role, windowMs: window.windowMs, algorithm: window.algorithm, limit, amount: hits };
}
