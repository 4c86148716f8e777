import { attackClient, type HeaderRealism } from "../clients.js";
import type { AddressPool } from "../scenario.js";
import type { Actor, Emission } from "../timeline.js";
import { openVisit, type ActorContext, type Visit } from "../visit.js";
import { addressIn, popularProduct, SITE_SHELL } from "../world.js";
import { send, type SessionState } from "./legit.js";

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

/**
 * The request an attack makes at `atMs` from `visit`, as an actor: sent now, or, for a bot that
 * keeps sessions (`client: session`) on an address's first request, after the address loaded the
 * site's shell and took its cookie (and, for `client: browsing`, was shown a product page: its
 * data, then its picture, as a person's browser loads it). That happens in an actor of its own,
 * so the attack's other sources keep their pace meanwhile; the address carries the cookie from
 * then on.
 */
export function* fromSource(ctx: ActorContext, visit: Visit, settings: SourceSettings, atMs: number, request: (ctx: ActorContext, visit: Visit, atMs: number) => Actor): Actor {
  if ((settings.client !== "session" && settings.client !== "browsing") || visit.cookie !== undefined) {
    yield* request(ctx, visit, atMs);
    return;
  }
  const own = { ...ctx, random: ctx.random.fork() };
  visit.cookie = `sid=${ctx.random.hex(24)}`;
  visit.referer = `https://${ctx.world.host}/`;
  yield { spawn: loadSiteThen(own, visit, atMs, settings.client === "browsing", request), atMs } satisfies Emission;
}

function* loadSiteThen(ctx: ActorContext, visit: Visit, atMs: number, showPage: boolean, request: (ctx: ActorContext, visit: Visit, atMs: number) => Actor): Actor {
  const session: SessionState = { ctx, visit: { ...visit, cookie: undefined, referer: undefined }, t: atMs };
  for (const file of SITE_SHELL) yield* send(session, "GET", file, 200, "static", undefined, ctx.random.int(5, 60));
  if (showPage) {
    const page: SessionState = { ctx, visit, t: session.t + ctx.random.int(300, 1_500) };
    const id = popularProduct(ctx.world, ctx.random);
    yield* send(page, "GET", `/api/v1/products/${id}`, 200, "api", undefined, ctx.random.int(5, 60));
    yield* send(page, "GET", `/static/img/products/${id}.webp`, 200, "static");
    session.t = page.t;
  }
  yield* request(ctx, visit, session.t + ctx.random.int(300, 1_500));
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
