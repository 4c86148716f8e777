import { attackLabel } from "../../lines.js";
import { browserClient } from "../clients.js";
import type { Random } from "../random.js";
import type { StuffingSettings } from "../scenario.js";
import type { Actor } from "../timeline.js";
import { form, makeRequest, openVisit, type ActorContext, type Visit } from "../visit.js";
import { addressIn, popularProduct, unknownUsername } from "../world.js";
import { send, type SessionState } from "./legit.js";
import { attackSources, attemptTimes, fromSource, sourceOf } from "./sources.js";

/** What a password sprayer tries on every account, most common first. */
const COMMON_PASSWORDS = ["123456", "password", "Summer2026!", "qwerty123", "Welcome1", "letmein", "iloveyou", "Passw0rd!"];

/**
 * Credential stuffing: a combo list of username/password pairs leaked elsewhere, tried once
 * each. The same actor is a burst (one source), a distributed attack (many residential
 * sources) or low-and-slow (many sources, each rarely), or password spraying (a few common
 * passwords over many accounts), depending only on its settings.
 */
export function* credentialStuffing(ctx: ActorContext, settings: StuffingSettings): Actor {
  const sources = attackSources(ctx, settings, attackLabel("credential_stuffing"));
  let attempt = 0;
  for (const t of attemptTimes(ctx, settings)) {
    yield* fromSource(ctx, sourceOf(ctx, sources, attempt++, settings), settings, t, (own, visit, at) => stuffingAttempt(own, settings, visit, at));
  }
}

/** One combo-list entry tried from one source, and the takeover that follows a hit. */
function* stuffingAttempt(ctx: ActorContext, settings: StuffingSettings, visit: Visit, t: number): Actor {
  const { random, world } = ctx;
  const hit = random.chance(settings.hitRate);
  const user = hit || random.chance(settings.knownUserShare) ? random.pick(world.users) : undefined;
  const username = user?.username ?? unknownUsername(random);
  const password = hit ? user!.password : wrongGuess(random, settings.passwords);
  const request = settings.endpoint === "login"
    ? makeRequest(ctx, visit, { timeMs: t, method: "POST", path: "/api/v1/login", status: hit ? 200 : 401, kind: "login", body: { username, password } })
    : makeRequest(ctx, visit, { timeMs: t, method: "POST", path: "/oauth/token", status: hit ? 200 : 400, kind: "login", body: form({ grant_type: "password", username, password }) });
  yield { request };
  if (hit && user && settings.takeover && random.chance(settings.takeover.share)) {
    const delay = settings.takeover.delay * (0.5 + random.float());
    const follower = { ...ctx, random: random.fork() };
    yield { spawn: takeover(follower, user, settings.takeover.pages, request.id, t + delay), atMs: t + delay };
  }
}

/** A combo list's password (different every time), or one of a sprayer's few common ones. */
function wrongGuess(random: Random, passwords: number): string {
  if (passwords === 0) return `${random.hex(6)}${random.int(1, 999)}`;
  return COMMON_PASSWORDS[random.int(0, Math.min(passwords, COMMON_PASSWORDS.length) - 1)]!;
}

/**
 * Account takeover: the password works, so someone (often a buyer of the "checked" account)
 * signs in from another address with a browser, and uses the account.
 */
function* takeover(ctx: ActorContext, user: { username: string; password: string }, pages: number, causedBy: string, startMs: number): Actor {
  const { random, world } = ctx;
  const visit = { ...openVisit(ctx, browserClient(random, false), addressIn(random, world.pools.residential), attackLabel("account_takeover")), causedBy };
  const session: SessionState = { ctx, visit, t: startMs };
  visit.cookie = `sid=${random.hex(24)}`;
  visit.referer = `https://${world.host}/`;
  yield* send(session, "POST", "/api/v1/login", 200, "login", { username: user.username, password: user.password });
  session.visit.cookie = `sid=${random.hex(24)}; remember=1`;
  for (let page = 0; page < pages; page++) {
    session.t += random.logNormal(3_000, 0.6);
    yield* send(session, "GET", `/api/v1/products/${popularProduct(world, random)}`, 200, "api");
  }
  // An API token for the account, so it can be used from a script from now on.
  session.t += random.logNormal(3_000, 0.6);
  yield* send(session, "POST", "/oauth/token", 200, "login", form({ grant_type: "password", username: user.username, password: user.password }));
}
