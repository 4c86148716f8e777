import { z } from "zod";
import { parseDuration } from "../../../config/duration.js";
import { buildPostureReport } from "../../../response/posture-report.js";
import { bucketStart, type StatsResolution } from "../../../state/decision-stats.js";
import { problem } from "../problem.js";
import { reportHtml, reportMarkdown } from "../report/render.js";
import { BadInput, timeField } from "./input.js";
import type { AnalystRoutes } from "./routes.js";

/** The longest period one report or statistics read covers. */
export const MAX_REPORT_PERIOD_MS = 90 * 86_400_000;
/** The statistics route reads minutes for at most this long a period. */
const MAX_MINUTE_PERIOD_MS = 48 * 3_600_000;

const since = z.string().max(40).default("7d").describe("A duration back from now (7d, 24h, 90m) or an RFC 3339 time");
const reportQuery = z.object({
  since,
  until: z.string().max(40).optional().describe("RFC 3339 or epoch ms; now when absent"),
  format: z.enum(["json", "html", "md"]).default("json"),
});
const statsQuery = z.object({
  since: since.default("1h"),
  until: z.string().max(40).optional(),
  resolution: z.enum(["minute", "hour"]).default("minute"),
});

/** `since` as a start time: a duration back from `nowMs`, or a time. */
export function periodStart(text: string, nowMs: number): number {
  const back = parseDuration(text);
  if (back !== undefined) return nowMs - back;
  const at = timeField("since", text);
  if (at === undefined) throw new BadInput(problem(400, "since: give a duration (7d) or a time"));
  return at;
}

function period(q: { since: string; until?: string }, nowMs: number, maxMs: number): { fromMs: number; toMs: number } {
  const toMs = timeField("until", q.until) ?? nowMs;
  const fromMs = periodStart(q.since, nowMs);
  if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs > toMs) throw new BadInput(problem(400, "since: must be before until"));
  if (toMs - fromMs > maxMs) throw new BadInput(problem(400, `since: a period of at most ${Math.round(maxMs / 3_600_000)}h`));
  return { fromMs, toMs };
}

/** The posture report and the per-minute statistics the console draws. */
export function registerReportRoutes({ route, engine, policy, clock }: AnalystRoutes): void {
  route("read", {
    method: "GET",
    url: "/v1/report",
    summary: "The security posture report for a period: JSON, or a page (html) or Markdown (md)",
    query: reportQuery,
    handler: async ({ query: q }) => {
      const now = clock();
      const { fromMs, toMs } = period(q, now, MAX_REPORT_PERIOD_MS);
      const report = await buildPostureReport(
        { stats: (resolution, from, to) => engine.stats.read(resolution, from, to), audit: (query) => engine.audit.query(query), policy: policy() },
        fromMs,
        toMs,
        now,
      );
      if (q.format === "html") return { status: 200, headers: { "content-type": "text/html; charset=utf-8" }, body: reportHtml(report) };
      if (q.format === "md") return { status: 200, headers: { "content-type": "text/markdown; charset=utf-8" }, body: reportMarkdown(report) };
      return { status: 200, body: report };
    },
  });

  route("read", {
    method: "GET",
    url: "/v1/stats",
    summary: "Decision counts per minute or hour, from every replica",
    query: statsQuery,
    handler: async ({ query: q }) => {
      const resolution: StatsResolution = q.resolution;
      const { fromMs, toMs } = period(q, clock(), resolution === "minute" ? MAX_MINUTE_PERIOD_MS : MAX_REPORT_PERIOD_MS);
      const buckets = await engine.stats.read(resolution, bucketStart(resolution, fromMs), toMs);
      return { status: 200, body: { resolution, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), buckets } };
    },
  });
}
