import { attackClient, type HeaderRealism } from "../clients.js";
import type { AddressPool } from "../scenario.js";
import { openVisit, type ActorContext, type Visit } from "../visit.js";
import { addressIn } from "../world.js";

export interface SourceSettings {
  sources: number;
  pool: AddressPool;
  client: HeaderRealism;
  rotate: boolean;
}

/**
 * The machines an attack runs from: one rented server for a burst, thousands of residential
 * proxies for a distributed attack. Each keeps its address for the whole attack, and its client
 * too unless the attack rotates user agents.
 */
export function attackSources(ctx: ActorContext, settings: SourceSettings, label: string): Visit[] {
  return Array.from({ length: settings.sources }, () =>
    openVisit(ctx, attackClient(ctx.random, settings.client), addressIn(ctx.random, ctx.world.pools[settings.pool]), label),
  );
}

/** The source of the n-th attempt: the sources take turns; a rotating one puts on new headers each time. */
export function sourceOf(ctx: ActorContext, sources: readonly Visit[], attempt: number, settings: SourceSettings): Visit {
  const visit = sources[attempt % sources.length]!;
  return settings.rotate ? { ...visit, client: attackClient(ctx.random, settings.client) } : visit;
}

interface Timing {
  at: number;
  duration: number;
  rate: number;
  sources: number;
  pattern?: { on: number; off: number };
}

/**
 * Attempt times at `rate` per second: evenly spaced with jitter from a single scripted source
 * (a loop with a sleep), a Poisson stream when many sources share the work. With a pattern,
 * only during the `on` part of each cycle (periodic bursts).
 */
export function* attemptTimes(ctx: ActorContext, settings: Timing): Generator<number> {
  const start = ctx.startMs + settings.at;
  const end = Math.min(ctx.endMs, start + settings.duration);
  const mean = 1000 / settings.rate;
  const cycle = settings.pattern ? settings.pattern.on + settings.pattern.off : 0;
  for (let t = start; t < end; ) {
    const intoCycle = cycle > 0 ? (t - start) % cycle : 0;
    if (settings.pattern && intoCycle >= settings.pattern.on) {
      t += cycle - intoCycle;
      continue;
    }
    yield t;
    t += settings.sources === 1 ? mean * (0.8 + 0.4 * ctx.random.float()) : ctx.random.exponential(mean);
  }
}
