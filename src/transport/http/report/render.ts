import type { PostureReport } from "../../../response/posture-report.js";
import { chartSvg, escapeXml } from "./svg.js";

/** The headline figures, as label and value, in the order a reader scans them. */
export function headlineRows(report: PostureReport): [string, string][] {
  const h = report.headline;
  return [
    ["Requests answered", h.requests.toLocaleString("en-GB")],
    ["Slowed, challenged or stopped", `${h.mitigated.toLocaleString("en-GB")} (${(h.mitigatedShare * 100).toFixed(1)}%)`],
    ["Sign-in attacks stopped", h.loginAttacksStopped.toLocaleString("en-GB")],
    ["Accounts shielded by a quarantine", h.accountsProtected.toLocaleString("en-GB")],
    ["Quarantines made / lifted early", `${h.quarantinesMade} / ${h.quarantinesLifted}`],
    ["Policy changes / rollbacks", `${h.policyChanges} / ${h.rollbacks}`],
    ["Legitimate users who passed friction", h.frictionPassed.toLocaleString("en-GB")],
    ["Decisions without the shared store", `${(h.degradedShare * 100).toFixed(1)}%`],
    ["Incidents (site-wide surges)", h.incidents.toLocaleString("en-GB")],
    ["Slowest first mitigation in an incident", h.slowestFirstMitigationMinutes === undefined ? "-" : `${h.slowestFirstMitigationMinutes} min`],
  ];
}

function period(report: PostureReport): string {
  const day = (iso: string) => iso.slice(0, 16).replace("T", " ");
  return `${day(report.from)} to ${day(report.to)} UTC`;
}

/**
 * The report as one self-contained HTML page: no script, no external resource (charts are
 * inline SVG), styles for screen and print, so a browser prints it to PDF as it shows it.
 */
export function reportHtml(report: PostureReport): string {
  const rows = headlineRows(report)
    .map(([label, value]) => `<div class="fig"><div class="v">${escapeXml(value)}</div><div class="l">${escapeXml(label)}</div></div>`)
    .join("");
  const sections = report.sections
    .map(
      (s) => `<section id="${escapeXml(s.id)}"><h2>${escapeXml(s.title)}</h2><p class="sentence">${escapeXml(s.sentence)}</p><figure>${chartSvg(s.chart, s.title)}</figure></section>`,
    )
    .join("\n");
  const truncated = report.auditTruncated ? `<p class="note">The audit trail held more records than a report reads; figures from it are at least as large as shown.</p>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeXml(report.title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:800px;margin:24px auto;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:0 0 4px}
.meta{color:#555;margin:0 0 16px}
.figs{display:grid;grid-template-columns:repeat(5,1fr);gap:8px;margin:16px 0 24px}
.fig{border:1px solid #ddd;border-radius:6px;padding:8px}.fig .v{font-size:18px;font-weight:600}.fig .l{font-size:12px;color:#555}
section{break-inside:avoid;page-break-inside:avoid;margin:0 0 22px}
.sentence{margin:0 0 6px}figure{margin:0}.note{color:#8a5a00}
@media print{body{margin:0 auto}.figs{grid-template-columns:repeat(5,1fr)}}
</style></head>
<body>
<h1>${escapeXml(report.title)}</h1>
<p class="meta">${escapeXml(period(report))} · policy ${escapeXml(report.policy.name)} version ${escapeXml(report.policy.version)} · made ${escapeXml(report.generatedAt.slice(0, 16).replace("T", " "))} UTC</p>
<div class="figs">${rows}</div>
${truncated}
${sections}
</body></html>
`;
}

/** The report as Markdown: the same figures and sentences, each chart as a small table. */
export function reportMarkdown(report: PostureReport): string {
  const lines = [`# ${report.title}`, "", `${period(report)} · policy ${report.policy.name} version ${report.policy.version}`, "", "| figure | value |", "|---|---|"];
  for (const [label, value] of headlineRows(report)) lines.push(`| ${label} | ${value} |`);
  for (const section of report.sections) {
    lines.push("", `## ${section.title}`, "", section.sentence, "");
    const chart = section.chart;
    if (chart.kind === "timeline") {
      for (const event of chart.events) lines.push(`- ${new Date(event.atMs).toISOString().slice(0, 16).replace("T", " ")} ${event.label}`);
      continue;
    }
    const rows = chart.labels.map((label, i) => [label, ...chart.series.map((s) => s.values[i] ?? 0)] as const).filter(([, ...values]) => values.some((v) => v > 0));
    if (rows.length === 0) continue;
    lines.push(`| | ${chart.series.map((s) => s.name).join(" | ")} |`, `|---|${chart.series.map(() => "---:").join("|")}|`);
    for (const [label, ...values] of rows) lines.push(`| ${label} | ${values.join(" | ")} |`);
  }
  if (report.auditTruncated) lines.push("", "_The audit trail held more records than a report reads; figures from it are a floor._");
  return `${lines.join("\n")}\n`;
}
