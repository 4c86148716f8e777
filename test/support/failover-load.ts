import { metadata, type EnvoyAuthzClient } from "./envoy-client.js";

/** What a load run saw: every Check's outcome on a timeline (ms since the run started). */
export interface LoadFigures {
  decisions: number;
  /** Checks that failed outright (gRPC error): decisions lost. */
  errors: number;
  /** Decisions made without the shared store (degraded: true). */
  degraded: number;
  /** Sum of the 100 ms slices in which at least one decision was degraded or failed, in seconds. */
  degradedSeconds: number;
  /** First and last degraded (or failed) decision, ms since the start. */
  firstDegradedMs?: number;
  lastDegradedMs?: number;
  /** Decisions per whole second of the run. */
  perSecond: number[];
  /** Degraded or failed decisions after this many ms since the start (see `stop`). */
  degradedAfter: number;
}

/**
 * Keeps `concurrency` Checks in flight against `envoy` (searches from a pool of addresses)
 * until stopped. Figures come from the answers alone, as a proxy in front would see them.
 */
export function checkLoad(envoy: EnvoyAuthzClient, concurrency = 8) {
  const started = performance.now();
  const outcomes: { atMs: number; kind: "ok" | "degraded" | "error" }[] = [];
  let running = true;
  let n = 0;
  const worker = async () => {
    while (running) {
      const ip = `100.90.${(n >> 8) & 255}.${n++ & 255}`;
      try {
        const answer = await envoy.check({ path: "/search", ip });
        outcomes.push({ atMs: performance.now() - started, kind: metadata(answer).degraded === true ? "degraded" : "ok" });
      } catch {
        outcomes.push({ atMs: performance.now() - started, kind: "error" });
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    /** ms since the run started. */
    elapsedMs: () => performance.now() - started,
    /** Stops the load; `settledAfterMs` marks when the topology had recovered. */
    async stop(settledAfterMs = Number.POSITIVE_INFINITY): Promise<LoadFigures> {
      running = false;
      await Promise.all(workers);
      const bad = outcomes.filter((o) => o.kind !== "ok");
      const slices = new Set(bad.map((o) => Math.floor(o.atMs / 100)));
      const perSecond: number[] = [];
      for (const o of outcomes) perSecond[Math.floor(o.atMs / 1000)] = (perSecond[Math.floor(o.atMs / 1000)] ?? 0) + 1;
      return {
        decisions: outcomes.length,
        errors: outcomes.filter((o) => o.kind === "error").length,
        degraded: outcomes.filter((o) => o.kind === "degraded").length,
        degradedSeconds: slices.size / 10,
        firstDegradedMs: bad[0]?.atMs,
        lastDegradedMs: bad.at(-1)?.atMs,
        perSecond: Array.from(perSecond, (count) => count ?? 0),
        degradedAfter: bad.filter((o) => o.atMs > settledAfterMs).length,
      };
    },
  };
}
