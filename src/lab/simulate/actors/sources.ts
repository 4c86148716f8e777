import { attackClient, type ClientProfile } from "../clients.js";
import type { AddressPool } from "../scenario.js";
import { openVisit, type ActorContext, type Visit } from "../visit.js";
import { addressIn } from "../world.js";

export interface SourceSettings {
  sources: number;
  pool: AddressPool;
  client: "scripted" | "browser";
}

/**
 * The machines an attack runs from: one rented server for a burst, thousands of residential
 * proxies for a distributed attack. Each keeps its address and its client for the whole attack.
 */
export function attackSources(ctx: ActorContext, settings: SourceSettings, label: string): Visit[] {
  return Array.from({ length: settings.sources }, () => {
    const client: ClientProfile = attackClient(ctx.random, settings.client);
    return openVisit(ctx, client, addressIn(ctx.random, ctx.world.pools[settings.pool]), label);
  });
}

/**
 * Attempt times at `rate` per second: evenly spaced with jitter from a single scripted source
 * (a loop with a sleep), a Poisson stream when many sources share the work.
 */
export function* attemptTimes(ctx: ActorContext, settings: { at: number; duration: number; rate: number; sources: number }): Generator<number> {
  const start = ctx.startMs + settings.at;
  const end = Math.min(ctx.endMs, start + settings.duration);
  const mean = 1000 / settings.rate;
  for (let t = start; t < end; ) {
    yield t;
    t += settings.sources === 1 ? mean * (0.8 + 0.4 * ctx.random.float()) : ctx.random.exponential(mean);
  }
}
