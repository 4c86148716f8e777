import type { EntityOp } from "../state/store.js";

/** One measurement about a request. It becomes a reason in the decision when it fires. */
export interface Signal {
  /** Stable reason code, e.g. `velocity.ip`. */
  code: string;
  value: number;
  threshold?: number;
  /** Risk points added when the signal fires. */
  weight: number;
  fired: boolean;
  detail?: string;
  /** For counters over a window: lets a throttle say when the client may come back. */
  windowMs?: number;
}

/** Store work one detector needs, tagged with the entity whose keys it touches. */
export interface PlannedOp {
  entity: string;
  op: EntityOp;
}

/**
 * A detector's contribution to one Check: the store operations it needs and how to read their
 * results. The pipeline batches the operations of every detector by entity, so each entity
 * costs one script call and all entities go out concurrently.
 */
export interface SignalPlan {
  ops: PlannedOp[];
  /** Receives one result per op, in the order of `ops`. */
  evaluate(results: readonly number[]): Signal[];
}

/** The plan of a detector with nothing to do on a Check: shared, never changed. */
export const NO_PLAN: SignalPlan = { ops: [], evaluate: () => [] };

/**
 * A plan whose ops stand for items compiled once (per endpoint, or for good) and kept: the i-th
 * result is the i-th item's, and `signalOf` (a module function, not a closure per Check) turns
 * it into the item's signal, or none.
 */
export class ItemPlan<Item> implements SignalPlan {
  constructor(
    readonly ops: PlannedOp[],
    private readonly items: readonly Item[],
    private readonly signalOf: (item: Item, result: number) => Signal | undefined,
  ) {}

  evaluate(results: readonly number[]): Signal[] {
    const found: Signal[] = [];
    for (let i = 0; i < this.items.length; i++) {
      const signal = this.signalOf(this.items[i]!, results[i] ?? 0);
      if (signal !== undefined) found.push(signal);
    }
    return found;
  }
}

/** Reads the result of the op planned under `key`, or undefined when it was not planned. */
export type ResultReader = (key: string) => number | undefined;

/**
 * Collects a detector's ops under names, skipping those whose entity the request does not
 * have, and later reads each op's result by the same name. A detector plans a handful of ops
 * per Check, so the names sit in an array beside the ops (a linear search) rather than a Map:
 * one allocation fewer per plan on every Check.
 */
export function namedOps() {
  const ops: PlannedOp[] = [];
  const keys: string[] = [];
  return {
    ops,
    add(key: string, entity: string | undefined, op: EntityOp): void {
      if (!entity) return;
      keys.push(key);
      ops.push({ entity, op });
    },
    reader(results: readonly number[]): ResultReader {
      return (key) => {
        const at = keys.lastIndexOf(key);
        return at < 0 ? undefined : results[at];
      };
    },
  };
}
