import type { ReportChart } from "../../../response/posture-report.js";

/**
 * Charts of the posture report as inline SVG, drawn here on the server. Written by hand on
 * purpose: the report is one self-contained file (mailed, archived, printed to PDF) that must
 * look the same without JavaScript, and its charts are plain bars and one timeline, which a
 * charting library would draw in a browser only. The console, which is interactive, uses uPlot.
 */
const WIDTH = 720;
const HEIGHT = 200;
const PAD = { left: 48, right: 12, top: 12, bottom: 44 };
const COLOURS = ["#4a6fa5", "#d9822b", "#5b9a68", "#a05195", "#7a7a7a", "#c23b3b"];

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export function chartSvg(chart: ReportChart, title: string): string {
  return chart.kind === "bars" ? barsSvg(chart, title) : timelineSvg(chart, title);
}

function barsSvg(chart: Extract<ReportChart, { kind: "bars" }>, title: string): string {
  const n = chart.labels.length;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const totals = chart.labels.map((_, i) => (chart.stacked ? chart.series.reduce((t, s) => t + (s.values[i] ?? 0), 0) : Math.max(0, ...chart.series.map((s) => s.values[i] ?? 0))));
  const max = niceCeil(Math.max(1, ...totals));
  const parts: string[] = [];
  // Grid: 0, half and the top, with their values.
  for (const fraction of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - fraction);
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="10" fill="#555">${escapeXml(short(max * fraction))}</text>`);
  }
  if (n === 0) {
    parts.push(`<text x="${WIDTH / 2}" y="${PAD.top + plotH / 2}" text-anchor="middle" font-size="12" fill="#777">nothing to show</text>`);
  }
  const slot = n > 0 ? plotW / n : plotW;
  const groupW = slot * 0.8;
  const barW = chart.stacked ? groupW : groupW / Math.max(1, chart.series.length);
  const labelEvery = Math.max(1, Math.ceil(n / 12));
  chart.labels.forEach((label, i) => {
    const x0 = PAD.left + slot * i + slot * 0.1;
    let base = 0;
    chart.series.forEach((series, s) => {
      const value = series.values[i] ?? 0;
      const h = (value / max) * plotH;
      const x = chart.stacked ? x0 : x0 + barW * s;
      const y = PAD.top + plotH - (chart.stacked ? base + h : h);
      if (value > 0) {
        parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0.5, barW - 0.5).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLOURS[s % COLOURS.length]}"><title>${escapeXml(`${label}: ${value} ${series.name}`)}</title></rect>`);
      }
      if (chart.stacked) base += h;
    });
    if (i % labelEvery === 0) {
      parts.push(`<text x="${(x0 + groupW / 2).toFixed(1)}" y="${HEIGHT - PAD.bottom + 14}" text-anchor="middle" font-size="10" fill="#333">${escapeXml(clip(label, n > 6 ? 12 : 28))}</text>`);
    }
  });
  const legend = chart.series.map((series, s) => `<tspan fill="${COLOURS[s % COLOURS.length]}">■</tspan> ${escapeXml(series.name)}`).join("   ");
  parts.push(`<text x="${PAD.left}" y="${HEIGHT - 8}" font-size="11" fill="#333">${legend}</text>`);
  return svg(title, parts);
}

function timelineSvg(chart: Extract<ReportChart, { kind: "timeline" }>, title: string): string {
  const span = Math.max(1, chart.toMs - chart.fromMs);
  const plotW = WIDTH - PAD.left - PAD.right;
  const y = 40;
  const parts = [
    `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y}" y2="${y}" stroke="#888" stroke-width="2"/>`,
    `<text x="${PAD.left}" y="${y + 20}" font-size="10" fill="#555">${escapeXml(stamp(chart.fromMs))}</text>`,
    `<text x="${WIDTH - PAD.right}" y="${y + 20}" font-size="10" fill="#555" text-anchor="end">${escapeXml(stamp(chart.toMs))}</text>`,
  ];
  const shown = chart.events.slice(0, 12);
  shown.forEach((event, i) => {
    const x = PAD.left + (Math.min(Math.max(event.atMs - chart.fromMs, 0), span) / span) * plotW;
    parts.push(`<circle cx="${x.toFixed(1)}" cy="${y}" r="5" fill="${COLOURS[1]}"><title>${escapeXml(event.label)}</title></circle>`);
    parts.push(`<text x="${PAD.left}" y="${y + 40 + i * 14}" font-size="11" fill="#333">${escapeXml(`${stamp(event.atMs)}  ${event.label}`)}</text>`);
  });
  if (chart.events.length === 0) parts.push(`<text x="${WIDTH / 2}" y="${y + 40}" text-anchor="middle" font-size="12" fill="#777">${escapeXml(chart.emptyLabel ?? "nothing in this period")}</text>`);
  const height = Math.max(90, y + 50 + shown.length * 14);
  return svg(title, parts, height);
}

function svg(title: string, parts: string[], height = HEIGHT): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-label="${escapeXml(title)}"><title>${escapeXml(title)}</title>${parts.join("")}</svg>`;
}

/** The smallest 1, 2, 4, 6 or 8 × 10^k at or above `n` (2 at least): a chart top whose half is a whole number. */
function niceCeil(n: number): number {
  const power = 10 ** Math.floor(Math.log10(n));
  const step = [1, 2, 4, 6, 8, 10].find((m) => m * power >= n)! * power;
  return step === 1 ? 2 : step;
}

function short(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}
