import { attackLabel } from "../../lines.js";
import type { LegitSettings, TokenReplaySettings } from "../scenario.js";
import type { Actor } from "../timeline.js";
import { makeRequest, type ActorContext, type Visit } from "../visit.js";
import { addressIn, popularProduct } from "../world.js";
import { appOf, appUse, refreshForm } from "./legit.js";
import { attackSources, attemptTimes, sourceOf } from "./sources.js";

/**
 * Refresh-token replay: the app's long-lived refresh tokens of a few users were stolen (malware,
 * a leaked backup) and are used from the thieves' addresses while the victims keep using the
 * app on their own phones. A thief who took the whole cookie jar also copies the victim's
 * headers, so only the network, the timing and the companion cookie's history can tell.
 */
export function* tokenReplay(ctx: ActorContext, settings: TokenReplaySettings, legit: LegitSettings): Actor {
  const { random, world } = ctx;
  const sources = attackSources(ctx, settings, attackLabel("token_replay"));
  const victims = Array.from({ length: settings.victims }, () => {
    const user = random.pick(world.users);
    return { user, client: appOf(user, random) };
  });
  for (const victim of victims) {
    // The victim's phone, signed in already, in use for as long as Palisade observes: a thief
    // replays a token its owner's app uses, so Palisade saw the owner's refresh before the theft
    // unless the attack starts with the window (`at: 0s`, the token's first use seen: the race).
    const use = { ...victim, address: addressIn(random, world.pools.mobile), startMs: ctx.startMs, pages: Infinity, roamAt: -1, signedIn: true };
    yield { spawn: appUse({ ...ctx, random: random.fork() }, legit, use), atMs: ctx.startMs };
  }
  let attempt = 0;
  for (const t of attemptTimes(ctx, settings)) {
    const victim = victims[attempt % victims.length]!;
    const source = sourceOf(ctx, sources, attempt++, settings);
    const visit = settings.stolen === "jar" ? { ...source, client: victim.client, cookie: `did=${victim.user.app.deviceId}` } : source;
    const refresh = makeRequest(ctx, visit, { timeMs: t, method: "POST", path: "/oauth/token", status: 200, kind: "login", body: refreshForm(victim.user.app.refreshToken) });
    yield { request: refresh };
    // What the fresh access token is for: the account's data, a moment later.
    const next = refresh.timeMs + refresh.durationMs + random.int(200, 2_000);
    // Denied, the refresh gives the thief no access token: replay drops what follows from it.
    yield { spawn: useAccessToken({ ...ctx, random: random.fork() }, { ...visit, bearer: random.hex(32), causedBy: refresh.id }, next), atMs: next };
  }
}

function* useAccessToken(ctx: ActorContext, visit: Visit, atMs: number): Actor {
  if (atMs >= ctx.endMs) return;
  yield { request: makeRequest(ctx, visit, { timeMs: atMs, method: "GET", path: `/api/v1/products/${popularProduct(ctx.world, ctx.random)}`, status: 200, kind: "api" }) };
}
