import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../../../test/support/response.js";
import { chartSvg } from "./svg.js";
import { reportHtml, reportMarkdown } from "./render.js";
import { buildPostureReport, incidentsOf } from "../../../response/posture-report.js";
import type { StatsBucket } from "../../../state/decision-stats.js";

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const IPS = ["192.0.2.10", "192.0.2.11", "192.0.2.12"];

async function traffic(harness: EngineHarness): Promise<void> {
  for (let i = 0; i < 4; i++) await harness.check("/search", IPS[0]!);
  await harness.check("/trap", IPS[1]!); // quarantines the address (rule trap)
  for (let i = 0; i < 3; i++) await harness.check("/search", IPS[1]!); // held by the quarantine
  await harness.check("/deny", IPS[2]!);
  await harness.check("/shadow", IPS[2]!);
  await harness.check("/step", IPS[0]!, { "x-user": "mallory@example.com" });
}

const report = (harness: EngineHarness, fromMs: number, toMs: number) =>
  buildPostureReport(
    { stats: (r, f, t) => harness.engine.stats.read(r, f, t), audit: (q) => harness.engine.audit.query(q), policy: harness.source.current() },
    fromMs,
    toMs,
    toMs,
  );

describe("decision statistics and the posture report", () => {
  it("counts every decision by action, rule, endpoint and family, before and after a flush alike", async () => {
    h = await engineHarness(responsePolicy("r1"));
    await traffic(h);
    const now = h.clock.now;
    const [pending] = await h.engine.stats.read("minute", now - 60_000, now);
    expect(pending!.counts).toMatchObject({
      n: 11,
      "a:allow": 5,
      "a:quarantine": 4,
      "a:block": 1,
      "a:step_up": 1,
      "r:trap:quarantine": 4, // the quarantine, and the three requests it held
      "r:deny:block": 1,
      "e:search:n": 7,
      "e:search:m": 3,
      "s:would-quarantine": 1,
    });
    await h.engine.stats.flush();
    expect(await h.backend.stats.read("minute", now - 60_000, now)).toEqual([pending]);
    expect(await h.engine.stats.read("minute", now - 60_000, now)).toEqual([pending]);
  });

  it("reports the figures, one chart and one sentence per section, and no client identifier", async () => {
    h = await engineHarness(responsePolicy("r2"));
    await traffic(h);
    const now = h.clock.now;
    const made = await report(h, now - 3_600_000, now);
    expect(made.headline).toMatchObject({ requests: 11, mitigated: 6, quarantinesMade: 1, quarantinesLifted: 0, rollbacks: 0, degradedShare: 0 });
    expect(made.resolution).toBe("minute");
    expect(made.sections.map((s) => s.id)).toEqual(["traffic", "families", "actions", "accounts", "incidents", "rules", "friction", "quarantines", "policy", "shadow", "store"]);
    for (const section of made.sections) expect(section.sentence).toMatch(/^[A-Z0-9"].*\.$/);
    expect(made.sections[0]!.sentence).toBe("Palisade answered 11 requests and slowed, challenged or stopped 6 of them (54.5%).");
    const rules = made.sections.find((s) => s.id === "rules")!;
    expect(rules.chart).toMatchObject({ kind: "bars", labels: ["trap", "deny", "step"], series: [{ values: [4, 1, 1] }] });

    const html = reportHtml(made);
    const md = reportMarkdown(made);
    expect(html.match(/<svg /g)).toHaveLength(made.sections.length);
    expect(html).not.toMatch(/<script|<link|src=/);
    for (const text of [html, md, JSON.stringify(made)]) {
      for (const ip of IPS) expect(text).not.toContain(ip);
      expect(text.toLowerCase()).not.toContain("mallory");
    }
    expect(md).toContain("| Requests answered | 11 |");
  });

  it("counts hours for long periods, and says so when nothing happened", async () => {
    h = await engineHarness(responsePolicy("r3"));
    const now = h.clock.now;
    const empty = await report(h, now - 7 * 86_400_000, now);
    expect(empty.resolution).toBe("hour");
    expect(empty.headline.requests).toBe(0);
    expect(empty.sections[0]!.sentence).toBe("Palisade saw no requests in this period.");
    expect(empty.sections.find((s) => s.id === "traffic")!.chart).toMatchObject({ kind: "bars" });
    expect(reportHtml(empty)).toContain("nothing to show");
  });

  it("finds incidents as runs of buckets with a site-wide anomaly, and how soon Palisade acted in each", () => {
    const at = (minute: number) => Date.UTC(2026, 10, 24, 9, minute);
    const buckets: StatsBucket[] = [
      { startMs: at(0), counts: { n: 5, "a:allow": 5 } },
      { startMs: at(1), counts: { n: 9, "a:allow": 9, "i:login": 9 } },
      { startMs: at(2), counts: { n: 9, "a:allow": 6, "a:throttle": 3, "i:login": 9 } },
      // one quiet minute joins the two halves of the first incident
      { startMs: at(4), counts: { n: 4, "a:allow": 4, "i:search": 4 } },
      { startMs: at(20), counts: { n: 3, "a:allow": 3, "i:search": 3 } },
    ];
    expect(incidentsOf(buckets, 60_000)).toEqual([
      { start: new Date(at(1)).toISOString(), end: new Date(at(5)).toISOString(), endpoints: ["login", "search"], mitigated: 3, minutesToFirstMitigation: 1 },
      { start: new Date(at(20)).toISOString(), end: new Date(at(21)).toISOString(), endpoints: ["search"], mitigated: 0 },
    ]);
    expect(incidentsOf(buckets.slice(0, 1), 60_000)).toEqual([]);
  });

  it("escapes every label and name drawn into a chart", () => {
    const svg = chartSvg({ kind: "bars", labels: ['<script>alert("x")</script>'], stacked: false, series: [{ name: "a&b", values: [1] }] }, "<t>");
    expect(svg).not.toContain("<script>");
    expect(svg).toContain("&lt;script&gt;");
    expect(svg).toContain("a&amp;b");
    const timeline = chartSvg({ kind: "timeline", fromMs: 0, toMs: 10, events: [{ atMs: 5, label: "<b>" }] }, "t");
    expect(timeline).toContain("&lt;b&gt;");
  });
});
