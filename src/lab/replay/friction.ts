import { loadPolicy } from "../../policy/loader.js";
import { replay } from "./engine.js";
import { readEvents } from "./formats.js";
import { openInput } from "./input.js";
import { offlineTarget } from "./offline.js";

/** A browser, as a log shows one: it says Mozilla and is not a crawler or a tool announcing itself. */
const BROWSER = /^Mozilla\/5\.0 \(/;
const NOT_A_PERSON = /bot|crawl|spider|slurp|fetch|monitor|preview|scan|python|curl|wget|java\/|headless/i;

export interface Friction {
  /** Requests whose user agent is a browser's. */
  browserRequests: number;
  /** Of those, denied (challenge, throttle, quarantine, block). */
  browserDenied: number;
  requests: number;
  denied: number;
  /** Rule → browser requests it denied. */
  byRule: Record<string, number>;
}

/**
 * What a policy costs the people in a recorded log: the share of requests from browsers that it
 * would have denied. Unlabelled traffic has no truth, and most of a blog's browser traffic is
 * readers, so this is an upper bound on friction for people (a scraper with a browser user agent
 * counts too).
 */
export async function browserFriction(log: string, policyPath: string): Promise<Friction> {
  const policy = await loadPolicy(policyPath);
  const friction: Friction = { browserRequests: 0, browserDenied: 0, requests: 0, denied: 0, byRule: {} };
  // The target first: an input opened before an await would start flowing with no reader.
  const target = await offlineTarget(policyPath);
  const input = await openInput(log);
  await replay(readEvents(input, "auto", "friction"), {
    targets: [target],
    loginEndpoints: new Set(policy.endpoints.filter((e) => e.authentication).map((e) => e.name)),
    maxDisorderMs: 60_000,
    onDecided: (event, [verdict]) => {
      const agent = event.request.attributes?.request?.http?.headers?.["user-agent"] ?? "";
      const browser = BROWSER.test(agent) && !NOT_A_PERSON.test(agent);
      friction.requests++;
      if (verdict!.denied) friction.denied++;
      if (!browser) return;
      friction.browserRequests++;
      if (!verdict!.denied) return;
      friction.browserDenied++;
      const rule = verdict!.rule ?? "-";
      friction.byRule[rule] = (friction.byRule[rule] ?? 0) + 1;
    },
  });
  return friction;
}
