import { LEGIT, type LabLine } from "../lines.js";
import { crawler, returningAccount, shopperArrivals } from "./actors/legit.js";
import type { ClientProfile } from "./clients.js";
import { scraping } from "./actors/scraping.js";
import { vulnerabilityScan } from "./actors/scanning.js";
import { credentialStuffing } from "./actors/stuffing.js";
import { tokenReplay } from "./actors/token-replay.js";
import { Random } from "./random.js";
import type { AttackSettings, LegitSettings, Scenario, ScenarioSet } from "./scenario.js";
import { timeline, type Actor } from "./timeline.js";
import { form, makeRequest, openVisit, type ActorContext } from "./visit.js";
import { accessLogLine, checkLine, historyLine } from "./wire.js";
import { addressIn, createWorld } from "./world.js";

/**
 * Generates a scenario set's traffic as lab lines, in time order. Scenarios follow one another
 * with a quiet gap between them; within one, legitimate shoppers and the attacks run at once.
 * Same set, same seed: same lines.
 */
export function* simulate(set: ScenarioSet, seed: number = set.seed): Generator<LabLine> {
  const random = new Random(seed);
  const world = createWorld(set, random.fork());
  let startMs = Date.parse(set.start);
  for (const scenario of set.scenarios) {
    const scenarioRandom = random.fork();
    const ctx: ActorContext = { world, scenario: scenario.name, startMs, endMs: startMs + scenario.duration, random: scenarioRandom };
    const actors = actorsOf(ctx, set, scenario);
    // Forked after the actors' streams, so modelling history leaves their traffic as it was.
    yield* accountHistory({ ...ctx, random: scenarioRandom.fork() }, { ...set.legit, ...scenario.legit });
    for (const event of timeline(actors)) {
      yield event.kind === "check" ? checkLine(event.request, world) : accessLogLine(event.request, world);
    }
    startMs += scenario.duration + set.gap;
  }
}

/**
 * What the returning accounts did before the window: each signed in from its owner's computer at
 * home, phone at the office and app on mobile data (the account history keeps devices and
 * networks apart, so three sign-ins teach all three of each). Stamped with the scenario's start.
 */
function* accountHistory(ctx: ActorContext, legit: LegitSettings): Generator<LabLine> {
  if (legit.returningShare <= 0) return;
  const { world, random } = ctx;
  for (const user of world.users) {
    if (!returningAccount(user, legit)) continue;
    const { desktop, phone, app, office } = user.habits;
    const json = { username: user.username, password: user.password };
    const grant = form({ grant_type: "password", username: user.username, password: user.password, client_id: "storefront-app" });
    const signIns: [ClientProfile, string, string, string, string | Record<string, string>][] = [
      [desktop, user.habits.desktopDevice, user.homeIp, "/api/v1/login", json],
      [phone, user.habits.phoneDevice, office, "/api/v1/login", json],
      [app, user.app.deviceId, addressIn(random, world.pools.mobile), "/oauth/token", grant],
    ];
    for (const [client, device, ip, path, body] of signIns) {
      const visit = { ...openVisit(ctx, client, ip, LEGIT), cookie: `did=${device}` };
      const request = makeRequest(ctx, visit, { timeMs: ctx.startMs, method: "POST", path, status: 200, kind: "login", body });
      yield historyLine(request, world);
    }
  }
}

function actorsOf(ctx: ActorContext, set: ScenarioSet, scenario: Scenario): Actor[] {
  const legit = { ...set.legit, ...scenario.legit };
  const fork = (): ActorContext => ({ ...ctx, random: ctx.random.fork() });
  return [
    shopperArrivals(fork(), legit, scenario),
    ...scenario.attacks.map((attack) => attackActor(fork(), attack, legit)),
    ...(legit.crawlerRate > 0 ? [crawler(fork(), legit)] : []),
  ];
}

function attackActor(ctx: ActorContext, attack: AttackSettings, legit: LegitSettings): Actor {
  switch (attack.kind) {
    case "credential_stuffing":
      return credentialStuffing(ctx, attack);
    case "scraping":
      return scraping(ctx, attack);
    case "vulnerability_scan":
      return vulnerabilityScan(ctx, attack);
    case "token_replay":
      return tokenReplay(ctx, attack, legit);
    default: {
      const unknown: never = attack;
      throw new Error(`unknown attack ${JSON.stringify(unknown)}`);
    }
  }
}


