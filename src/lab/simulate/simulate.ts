import type { LabLine } from "../lines.js";
import { crawler, shopperArrivals } from "./actors/legit.js";
import { scraping } from "./actors/scraping.js";
import { vulnerabilityScan } from "./actors/scanning.js";
import { credentialStuffing } from "./actors/stuffing.js";
import { tokenReplay } from "./actors/token-replay.js";
import { Random } from "./random.js";
import type { AttackSettings, LegitSettings, Scenario, ScenarioSet } from "./scenario.js";
import { timeline, type Actor } from "./timeline.js";
import type { ActorContext } from "./visit.js";
import { accessLogLine, checkLine } from "./wire.js";
import { createWorld } from "./world.js";

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
    for (const event of timeline(actorsOf(ctx, set, scenario))) {
      yield event.kind === "check" ? checkLine(event.request, world) : accessLogLine(event.request, world);
    }
    startMs += scenario.duration + set.gap;
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


