import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { replay } from "../../src/lab/replay/engine.js";
import { readEvents } from "../../src/lab/replay/formats.js";
import { grpcTarget } from "../../src/lab/replay/grpc-target.js";
import { openInput } from "../../src/lab/replay/input.js";
import { offlineTarget } from "../../src/lab/replay/offline.js";
import { loadPolicy } from "../../src/policy/loader.js";
import { startTestApp } from "../support/app.js";
import { examplePolicyPath } from "../support/policies.js";
import { sharedDataDir } from "../support/shared-data.js";
import { generate, linesText, tempFile } from "./support.js";

/** The shared workspace's real Apache log, read in place; never copied into the repository. */
const APACHE_LOGS = sharedDataDir("apache_logs.gz");

/** Stuffing with takeovers, a scraper and a scanner over ordinary shoppers: every path of the core, quarantines included. */
const MIXED = `
site: { users: 100, products: 200 }
legit: { sessionsPerMinute: 6 }
scenarios:
  - name: mixed
    duration: 90s
    attacks:
      - { kind: credential_stuffing, at: 5s, duration: 40s, rate: 4, sources: 3, hitRate: 0.2, knownUserShare: 1, takeover: { delay: 10s, pages: 2 } }
      - { kind: scraping, at: 30s, duration: 40s, rate: 3, order: random }
      - { kind: vulnerability_scan, at: 70s, duration: 15s, rate: 2 }
`;

/**
 * Replays one input through the live server (over gRPC, started with --trust-event-time) and
 * offline at once, and compares the two actions request by request. Outcomes are settled on
 * the server before the next Check, as offline replay records them (see grpcTarget).
 */
async function agreement(app: App, input: string) {
  const policy = await loadPolicy(examplePolicyPath);
  const targets = [grpcTarget(`127.0.0.1:${app.grpcPort}`, { settleOutcomes: true }), await offlineTarget(examplePolicyPath)];
  let requests = 0;
  const differing: string[] = [];
  await replay(readEvents(await openInput(input), "auto", "agreement"), {
    targets,
    loginEndpoints: new Set(policy.endpoints.filter((e) => e.authentication).map((e) => e.name)),
    maxDisorderMs: 60_000,
    onDecided: (event, [live, offline]) => {
      requests++;
      if (live!.action !== offline!.action) differing.push(`${event.request.attributes?.request?.http?.path}: live ${live!.action}, offline ${offline!.action}`);
    },
  });
  return { requests, differing };
}

describe("offline replay decides as the live server does", () => {
  let app: App;
  beforeAll(async () => {
    app = await startTestApp({ trustEventTime: true });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("on a simulated run of stuffing, scraping and scanning, request by request", async () => {
    const { requests, differing } = await agreement(app, tempFile(linesText(generate(MIXED))));
    console.log(`simulated run: ${requests - differing.length} of ${requests} requests decided alike`, differing);
    expect(requests).toBeGreaterThan(100);
    expect(differing).toEqual([]);
  });

  it.runIf(APACHE_LOGS !== undefined && process.env.PALISADE_LONG_TESTS === "1")("on a real site's log (apache_logs.gz)", async () => {
    const { requests, differing } = await agreement(app, APACHE_LOGS!);
    console.log(`apache_logs.gz: ${requests - differing.length} of ${requests} requests decided alike`);
    expect(differing).toEqual([]);
  }, 600_000);
});
