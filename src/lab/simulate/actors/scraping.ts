import { attackLabel } from "../../lines.js";
import type { ScrapingSettings } from "../scenario.js";
import type { Actor } from "../timeline.js";
import { makeRequest, type ActorContext } from "../visit.js";
import { SEARCH_TERMS } from "../world.js";
import { attackSources, attemptTimes, fromSource, sourceOf } from "./sources.js";

/**
 * Scraping: walks the catalogue id by id (past its end, where the application answers 404) or
 * at random, and pages through search results, from one fast host or many slow ones.
 */
export function* scraping(ctx: ActorContext, settings: ScrapingSettings): Actor {
  const { random, world } = ctx;
  const sources = attackSources(ctx, settings, attackLabel("scraping"));
  const lastId = Math.ceil(world.products * 1.1);
  let nextId = random.int(1, Math.max(1, Math.floor(world.products / 10)));
  let attempt = 0;
  for (const t of attemptTimes(ctx, settings)) {
    const visit = sourceOf(ctx, sources, attempt++, settings);
    let path: string;
    let status = 200;
    if (random.chance(settings.searchShare)) {
      const query = encodeURIComponent(random.pick(SEARCH_TERMS)).replace(/%20/g, "+");
      path = `/api/v1/search?q=${query}&page=${random.int(1, 40)}`;
    } else {
      const id = settings.order === "sequential" ? nextId++ : random.int(1, lastId);
      if (nextId > lastId) nextId = 1;
      path = `/api/v1/products/${id}`;
      status = id <= world.products ? 200 : 404;
    }
    yield* fromSource(ctx, visit, settings, t, function* (own, from, at) {
      yield { request: makeRequest(own, from, { timeMs: at, method: "GET", path, status, kind: "api" }) };
    });
  }
}
