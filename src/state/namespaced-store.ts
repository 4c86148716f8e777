import { applyBatch, type BaselineObservation, type BaselineState, type EntityBatch, type EntityOp, type Store } from "./store.js";

/**
 * A view of a store whose entities all live under a prefix of their own, so that a caller can
 * exercise the real store (its connection, scripts and fallback) without touching any entity
 * the service decides on. Closing the view leaves the store open: it belongs to its owner.
 * Start-up's warm-up decisions (src/app/warm-up.ts) use it.
 */
export class NamespacedStore implements Store {
  /** The inner store's, under the prefix; absent when the inner store has none. */
  readonly observeBinding?: Store["observeBinding"];
  readonly exchange?: Store["exchange"];

  constructor(
    private readonly inner: Store,
    private readonly prefix: string,
  ) {
    const observe = inner.observeBinding?.bind(inner);
    if (observe) this.observeBinding = (entity, use, rules) => observe(prefix + entity, use, rules);
    const exchange = inner.exchange?.bind(inner);
    if (exchange) this.exchange = (entity, publication, nowMs) => exchange(prefix + entity, publication, nowMs);
  }

  get kind(): string {
    return this.inner.kind;
  }

  apply(entity: string, ops: readonly EntityOp[], nowMs: number): Promise<number[]> {
    return this.inner.apply(this.prefix + entity, ops, nowMs);
  }

  applyBatch(batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
    return applyBatch(this.inner, batches.map((batch) => ({ entity: this.prefix + batch.entity, ops: batch.ops })), nowMs);
  }

  observeBaseline(entity: string, name: string, observation: BaselineObservation): Promise<BaselineState> {
    return this.inner.observeBaseline(this.prefix + entity, name, observation);
  }

  ping(): Promise<boolean> {
    return this.inner.ping();
  }

  async close(): Promise<void> {}
}
