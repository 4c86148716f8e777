import { LEGIT, LEGIT_NEW_ACCOUNT } from "../../lines.js";
import { appClient, browserClient, crawlerClient, type ClientProfile } from "../clients.js";
import type { Random } from "../random.js";
import type { LegitSettings, Scenario } from "../scenario.js";
import type { Actor } from "../timeline.js";
import { form, makeRequest, openVisit, type ActorContext, type RequestKind, type Visit } from "../visit.js";
import { addressIn, popularProduct, SEARCH_TERMS, SITE_SHELL, type WorldUser } from "../world.js";

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

/** Where a shopper is: at work behind the office NAT, on a phone (perhaps behind the carrier's CGNAT), or at home. */
function shopperAddress(ctx: ActorContext, legit: LegitSettings, mobile: boolean, user: WorldUser): string {
  if (mobile) return mobileAddress(ctx, legit);
  if (!ctx.random.chance(legit.corporateShare)) return user.homeIp;
  const office = ctx.random.pick(ctx.world.corporateNats);
  return returningAccount(user, legit) ? user.habits.office : office;
}

/** An account that signed in before the window (`legit.returningShare`), from its owner's own devices. */
export function returningAccount(user: WorldUser, legit: LegitSettings): boolean {
  return user.habits.rank < legit.returningShare;
}

/** `legit`, or `legit:new-account` for an account new to Palisade where the lab models returning ones. */
function shopperLabel(user: WorldUser, legit: LegitSettings): string {
  return legit.returningShare > 0 && !returningAccount(user, legit) ? LEGIT_NEW_ACCOUNT : LEGIT;
}

/** The person's own device for a returning account; a new one (drawn all the same, so the streams stay aligned) otherwise. */
function deviceOf(user: WorldUser, legit: LegitSettings, drawn: ClientProfile): ClientProfile {
  if (!returningAccount(user, legit)) return drawn;
  return drawn.kind === "mobile-web" ? user.habits.phone : user.habits.desktop;
}

/**
 * The app on the user's phone, new account or not: its refresh token and device cookie are the
 * phone's (world.ts), so its headers are too, or its next session would present the token from
 * another device. A new one is drawn all the same, so the streams stay aligned.
 */
export function appOf(user: WorldUser, random: Random): ClientProfile {
  appClient(random);
  return user.habits.app;
}

function mobileAddress(ctx: ActorContext, legit: LegitSettings): string {
  if (legit.cgnatAddresses > 0) return ctx.random.pick(ctx.world.cgnat.slice(0, legit.cgnatAddresses));
  return addressIn(ctx.random, ctx.world.pools.mobile);
}

function* webSession(ctx: ActorContext, legit: LegitSettings, startMs: number, mobile: boolean): Actor {
  const { random, world } = ctx;
  const user = random.pick(world.users);
  const client = deviceOf(user, legit, browserClient(random, mobile));
  const visit = openVisit(ctx, client, shopperAddress(ctx, legit, mobile, user), shopperLabel(user, legit));
  // Where the lab models returning accounts, the site names every browser with a long-lived
  // device cookie: a returning person's browser has carried its own since earlier visits.
  const device = legit.returningShare <= 0 ? undefined : returningAccount(user, legit) ? (mobile ? user.habits.phoneDevice : user.habits.desktopDevice) : "";
  if (device) visit.cookie = `did=${device}`;
  const session = { ctx, visit, t: startMs, device };
  // The single-page app's shell: three files in quick succession, then the API.
  for (const file of SITE_SHELL) {
    yield* send(session, "GET", file, random.chance(0.25) ? 304 : 200, "static", undefined, random.int(5, 60));
  }
  if (device === "") session.device = random.hex(16); // a new browser gets its device cookie with the shell
  setCookies(session, `sid=${random.hex(24)}`);
  visit.referer = `https://${world.host}/`;
  const pages = 1 + Math.floor(random.exponential(legit.pagesPerSession));
  let loginAt = random.chance(legit.loginShare) ? random.int(0, pages - 1) : -1;
  // A password manager fills the form in as soon as the page is there.
  const autofill = loginAt >= 0 && legit.autofillShare > 0 && random.chance(legit.autofillShare);
  if (autofill) loginAt = 0;
  const registerAt = signsUp(user, legit) ? random.int(0, loginAt >= 0 ? loginAt : pages - 1) : -1;
  for (let page = 0; page < pages; page++) {
    if (page === registerAt) yield* register(session, user);
    if (page === loginAt) yield* webLogin(session, legit, user, autofill);
    else yield* browse(session);
    session.t += random.logNormal(legit.thinkTimeMedian, legit.thinkTimeSigma);
    if (session.t >= ctx.endMs) return;
  }
}

/** An account created in the window (`legit.signUpShare`) that no session has registered yet. */
function signsUp(user: WorldUser, legit: LegitSettings): boolean {
  return !returningAccount(user, legit) && user.habits.signUpRank < legit.signUpShare && !user.registered;
}

/** The storefront's mark on a sign-up that created an account (the example policy's `signup` `outcome.createdHeader`). */
const ACCOUNT_CREATED = { "x-signup-result": "created" };

/** The sign-up form, then a moment on the confirmation before the next page (or the sign-in form). */
function* register(session: SessionState, user: WorldUser): Actor {
  const { random } = session.ctx;
  user.registered = true;
  yield* send(session, "POST", "/api/v1/register", 201, "login", { email: user.username, password: user.password }, 0, ACCOUNT_CREATED);
  session.t += random.logNormal(4_000, 0.5);
}

function* webLogin(session: SessionState, legit: LegitSettings, user: WorldUser, autofill: boolean): Actor {
  const { random } = session.ctx;
  const login = (password: string, status: number) => send(session, "POST", "/api/v1/login", status, "login", { username: user.username, password });
  if (autofill) {
    if (legit.stalePasswordShare > 0 && random.chance(legit.stalePasswordShare)) {
      yield* login(outdated(user.password), 401); // the saved password is an old one
      session.t += random.logNormal(8_000, 0.4); // the person types the new one
    }
  } else if (random.chance(legit.mistypeRate)) {
    const wrong = legit.mistypeAttempts > 1 ? random.int(1, legit.mistypeAttempts) : 1;
    for (let i = 0; i < wrong; i++) {
      yield* login(mistyped(user.password), 401);
      session.t += random.logNormal(4_000, 0.4);
    }
  }
  yield* login(user.password, 200);
  setCookies(session, `sid=${random.hex(24)}; remember=1`);
}

/** The session's cookies, after its device cookie when it has one. */
function setCookies(session: SessionState, cookies: string): void {
  session.visit.cookie = session.device ? `did=${session.device}; ${cookies}` : cookies;
}

function* appSession(ctx: ActorContext, legit: LegitSettings, startMs: number): Actor {
  const { random, world } = ctx;
  const user = random.pick(world.users);
  const client = appOf(user, random);
  const roams = legit.roamShare > 0 && random.chance(legit.roamShare);
  // A roaming phone starts on the home Wi-Fi and moves to mobile data.
  const address = roams ? user.homeIp : shopperAddress(ctx, legit, true, user);
  const pages = 1 + Math.floor(random.exponential(legit.pagesPerSession));
  yield* appUse(ctx, legit, { user, client, address, startMs, pages, roamAt: roams ? random.int(1, Math.max(1, pages - 1)) : -1, label: shopperLabel(user, legit) });
}

export interface AppUse {
  user: WorldUser;
  client: ClientProfile;
  address: string;
  startMs: number;
  pages: number;
  /** The page at which the phone changes network (-1: never). */
  roamAt: number;
  /** Start with a token refresh whatever `refreshShare` says (a user who is signed in). */
  signedIn?: boolean;
  /** `legit` unless told. */
  label?: string;
}

/**
 * The storefront app on one phone: it holds the user's refresh token and its device cookie,
 * refreshes its access token as it expires (or `refreshEarly` before), and reads the catalogue
 * as JSON. Opened again while the access token an earlier session got is still valid, it uses
 * that one and asks for none.
 */
export function* appUse(ctx: ActorContext, legit: LegitSettings, use: AppUse): Actor {
  const { random } = ctx;
  const { app } = use.user;
  const visit = openVisit(ctx, use.client, use.address, use.label ?? LEGIT);
  visit.cookie = `did=${app.deviceId}`;
  const session = { ctx, visit, t: use.startMs };
  for (let page = 0; page < use.pages; page++) {
    if (page === use.roamAt) visit.ip = mobileAddress(ctx, legit);
    const held = app.accessToken;
    if (held && session.t < held.untilMs - legit.refreshEarly) {
      visit.bearer = held.bearer;
    } else {
      yield* appToken(session, legit, use.user, page === 0 && !use.signedIn && !random.chance(legit.refreshShare));
      app.accessToken = { bearer: visit.bearer!, untilMs: session.t + legit.tokenLifetime };
    }
    yield* browse(session);
    session.t += random.logNormal(legit.thinkTimeMedian, legit.thinkTimeSigma);
    if (session.t >= ctx.endMs) return;
  }
}

/** OAuth 2.0 token endpoint: a password grant, or a refresh (which names no user). */
function* appToken(session: SessionState, legit: LegitSettings, user: WorldUser, password: boolean): Actor {
  const { random } = session.ctx;
  if (!password) {
    yield* send(session, "POST", "/oauth/token", 200, "api", refreshForm(user.app.refreshToken));
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

/** The app's refresh grant; the token is the device's and does not rotate. */
export function refreshForm(refreshToken: string): string {
  return form({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "storefront-app" });
}

/** A verified search crawler walks the catalogue in order from a handful of its addresses. */
export function* crawler(ctx: ActorContext, legit: LegitSettings): Actor {
  const { random, world } = ctx;
  if (legit.crawlerRate <= 0) return;
  const visits = world.crawlers.slice(0, legit.crawlerAddresses).map((ip) => openVisit(ctx, crawlerClient(), ip, LEGIT));
  let id = random.int(1, world.products);
  for (let t = ctx.startMs + random.exponential(1000 / legit.crawlerRate); t < ctx.endMs; t += random.exponential(1000 / legit.crawlerRate)) {
    yield { request: makeRequest(ctx, random.pick(visits), { timeMs: t, method: "GET", path: `/api/v1/products/${id}`, status: 200, kind: "api" }) };
    id = (id % world.products) + 1;
  }
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
  /** The browser's device cookie value, where the lab models one (`legit.returningShare`). */
  device?: string;
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
  responseHeaders?: Record<string, string>,
): Actor {
  if (session.t >= session.ctx.endMs) return;
  const request = makeRequest(session.ctx, session.visit, { timeMs: session.t, method, path, status, kind, body, responseHeaders });
  yield { request };
  session.t = request.timeMs + request.durationMs + gapMs;
}

/** The password before the last change: another number at its end. */
function outdated(password: string): string {
  return password.replace(/\d+$/, (digits) => String(Number(digits) + 1));
}

/** A slip of the finger: one character dropped or doubled. */
function mistyped(password: string): string {
  return password.length > 1 && password.length % 2 === 0 ? password.slice(0, -1) : `${password}${password.at(-1) ?? "x"}`;
}
