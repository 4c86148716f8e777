import { LEGIT } from "../../lines.js";
import { appClient, browserClient } from "../clients.js";
import type { LegitSettings, Scenario } from "../scenario.js";
import type { Actor } from "../timeline.js";
import { form, makeRequest, openVisit, type ActorContext, type RequestKind, type Visit } from "../visit.js";
import { addressIn, popularProduct, SEARCH_TERMS } from "../world.js";

/**
 * Shoppers arrive as a Poisson process (faster during a marketing spike); each one browses as
 * a person does: a page, a pause to read, another page. Web visitors load the storefront's
 * static files first and sign in with a JSON login; app users hold a token and refresh it.
 */
export function* shopperArrivals(ctx: ActorContext, legit: LegitSettings, scenario: Scenario): Actor {
  const { random } = ctx;
  for (let t = ctx.startMs; ; ) {
    const perMinute = legit.sessionsPerMinute * spikeFactor(scenario, t - ctx.startMs);
    if (perMinute <= 0) return;
    t += random.exponential(60_000 / perMinute);
    if (t >= ctx.endMs) return;
    const session = { ...ctx, random: random.fork() };
    const mobile = random.chance(legit.mobileShare);
    yield { spawn: mobile && random.chance(legit.appShare) ? appSession(session, legit, t) : webSession(session, legit, t, mobile), atMs: t };
  }
}

function spikeFactor(scenario: Scenario, offsetMs: number): number {
  const spike = scenario.spike;
  return spike && offsetMs >= spike.at && offsetMs < spike.at + spike.duration ? spike.factor : 1;
}

/** Where a shopper is: at work behind the office NAT, on a phone, or at home. */
function shopperAddress(ctx: ActorContext, legit: LegitSettings, mobile: boolean, homeIp: string): string {
  if (mobile) return addressIn(ctx.random, ctx.world.pools.mobile);
  return ctx.random.chance(legit.corporateShare) ? ctx.random.pick(ctx.world.corporateNats) : homeIp;
}

function* webSession(ctx: ActorContext, legit: LegitSettings, startMs: number, mobile: boolean): Actor {
  const { random, world } = ctx;
  const user = random.pick(world.users);
  const visit = openVisit(ctx, browserClient(random, mobile), shopperAddress(ctx, legit, mobile, user.homeIp), LEGIT);
  const session = { ctx, visit, t: startMs };
  // The single-page app's shell: three files in quick succession, then the API.
  for (const file of ["/static/app.3f9c2d.js", "/static/app.3f9c2d.css", "/static/fonts/inter.woff2"]) {
    yield* send(session, "GET", file, random.chance(0.25) ? 304 : 200, "static", undefined, random.int(5, 60));
  }
  visit.cookie = `sid=${random.hex(24)}`;
  visit.referer = `https://${world.host}/`;
  const pages = 1 + Math.floor(random.exponential(legit.pagesPerSession));
  const loginAt = random.chance(legit.loginShare) ? random.int(0, pages - 1) : -1;
  for (let page = 0; page < pages; page++) {
    if (page === loginAt) yield* webLogin(session, legit, user);
    else yield* browse(session);
    session.t += random.logNormal(legit.thinkTimeMedian, legit.thinkTimeSigma);
    if (session.t >= ctx.endMs) return;
  }
}

function* webLogin(session: SessionState, legit: LegitSettings, user: { username: string; password: string }): Actor {
  const { random } = session.ctx;
  if (random.chance(legit.mistypeRate)) {
    yield* send(session, "POST", "/api/v1/login", 401, "login", { username: user.username, password: mistyped(user.password) });
    session.t += random.logNormal(4_000, 0.4);
  }
  yield* send(session, "POST", "/api/v1/login", 200, "login", { username: user.username, password: user.password });
  session.visit.cookie = `sid=${random.hex(24)}; remember=1`;
}

function* appSession(ctx: ActorContext, legit: LegitSettings, startMs: number): Actor {
  const { random, world } = ctx;
  const user = random.pick(world.users);
  const visit = openVisit(ctx, appClient(random), shopperAddress(ctx, legit, true, user.homeIp), LEGIT);
  const session = { ctx, visit, t: startMs };
  let tokenUntil = -Infinity;
  const pages = 1 + Math.floor(random.exponential(legit.pagesPerSession));
  for (let page = 0; page < pages; page++) {
    if (session.t >= tokenUntil) {
      yield* appToken(session, legit, user, page === 0 && !random.chance(legit.refreshShare));
      tokenUntil = session.t + legit.tokenLifetime;
    }
    yield* browse(session);
    session.t += random.logNormal(legit.thinkTimeMedian, legit.thinkTimeSigma);
    if (session.t >= ctx.endMs) return;
  }
}

/** OAuth 2.0 token endpoint: a password grant, or a refresh (which names no user). */
function* appToken(session: SessionState, legit: LegitSettings, user: { username: string; password: string }, password: boolean): Actor {
  const { random } = session.ctx;
  if (!password) {
    yield* send(session, "POST", "/oauth/token", 200, "api", form({ grant_type: "refresh_token", refresh_token: random.hex(40), client_id: "storefront-app" }));
  } else {
    if (random.chance(legit.mistypeRate)) {
      const wrong = form({ grant_type: "password", username: user.username, password: mistyped(user.password), client_id: "storefront-app" });
      yield* send(session, "POST", "/oauth/token", 400, "login", wrong); // RFC 6749: invalid_grant is a 400
      session.t += random.logNormal(5_000, 0.4);
    }
    yield* send(session, "POST", "/oauth/token", 200, "login", form({ grant_type: "password", username: user.username, password: user.password, client_id: "storefront-app" }));
  }
  session.visit.bearer = random.hex(32);
}

/** One page: a search or a product page (with its image for browsers). */
function* browse(session: SessionState): Actor {
  const { random, world } = session.ctx;
  if (random.chance(0.3)) {
    const query = encodeURIComponent(random.pick(SEARCH_TERMS)).replace(/%20/g, "+");
    yield* send(session, "GET", `/api/v1/search?q=${query}${random.chance(0.2) ? "&page=2" : ""}`, 200, "api");
    return;
  }
  const id = popularProduct(world, random);
  yield* send(session, "GET", `/api/v1/products/${id}`, 200, "api");
  if (session.visit.client.kind !== "app") {
    yield* send(session, "GET", `/static/img/products/${id}.webp`, random.chance(0.3) ? 304 : 200, "static", undefined, random.int(10, 80));
  }
}

export interface SessionState {
  ctx: ActorContext;
  visit: Visit;
  /** The session's own clock: when its next request leaves. */
  t: number;
}

/** Sends one request and moves the session's clock past the answer plus `gapMs`. */
export function* send(
  session: SessionState,
  method: string,
  path: string,
  status: number,
  kind: RequestKind,
  body?: string | Record<string, unknown>,
  gapMs = 0,
): Actor {
  if (session.t >= session.ctx.endMs) return;
  const request = makeRequest(session.ctx, session.visit, { timeMs: session.t, method, path, status, kind, body });
  yield { request };
  session.t = request.timeMs + request.durationMs + gapMs;
}

/** A slip of the finger: one character dropped or doubled. */
function mistyped(password: string): string {
  return password.length > 1 && password.length % 2 === 0 ? password.slice(0, -1) : `${password}${password.at(-1) ?? "x"}`;
}
