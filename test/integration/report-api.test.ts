/**
 * The report and statistics routes and the console's files, over HTTP: who may read them, what
 * bad input gets (a problem document, never a crash), and that the console is served from the
 * package with a strict Content Security Policy.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { analystClient, secretsDir, TOKENS } from "../support/analyst.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, type EnvoyAuthzClient } from "../support/envoy-client.js";

let app: App;
let envoy: EnvoyAuthzClient;
const viewer = () => analystClient(app, TOKENS.viewer);

beforeAll(async () => {
  app = await startTestApp({ adminTokensFile: secretsDir().tokens });
  envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  envoy?.close();
  await app?.stop();
});

describe("GET /v1/report and /v1/stats", () => {
  it("answers a viewer with the report in JSON, HTML and Markdown", async () => {
    for (let i = 0; i < 3; i++) await envoy.check({ path: "/products", ip: "100.64.3.4" });
    const json = await viewer().get("/v1/report?since=24h");
    expect(json.status, json.text).toBe(200);
    expect(json.body.headline.requests).toBe(3);
    expect(json.text).not.toContain("100.64.3.4");
    const html = await viewer().get("/v1/report?since=24h&format=html");
    expect(html.type).toBe("text/html; charset=utf-8");
    expect(html.text).toContain("<h1>Security posture report</h1>");
    const md = await viewer().get("/v1/report?since=2026-12-01T00:00:00Z&format=md");
    expect(md.type).toBe("text/markdown; charset=utf-8");
    const stats = await viewer().get("/v1/stats?since=10m");
    expect(stats.body.buckets.reduce((t: number, b: { counts: { n?: number } }) => t + (b.counts.n ?? 0), 0)).toBe(3);
  });

  it("refuses bad periods with 400 and a reason, and callers without a reading role", async () => {
    for (const [query, detail] of [
      ["since=yesterday", "since"],
      ["since=100d", "at most"],
      ["since=1h&until=2000-01-01T00:00:00Z", "before until"],
      ["since=7d&format=pdf", "format"],
    ] as const) {
      const answer = await viewer().get(`/v1/report?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.body.detail).toContain(detail);
    }
    expect((await viewer().get("/v1/stats?since=3d&resolution=minute")).status).toBe(400);
    expect((await analystClient(app).get("/v1/report")).status).toBe(401);
    expect((await analystClient(app, TOKENS.reporter).get("/v1/report")).status).toBe(403);
    expect((await viewer().get("/v1/whoami")).body).toEqual({ name: "vera", role: "viewer" });
  });
});

describe("the console's files", () => {
  it("serves the page, its script and uPlot with a strict policy, and nothing else", async () => {
    const base = `http://127.0.0.1:${app.adminPort}`;
    const redirect = await fetch(`${base}/console`, { redirect: "manual" });
    expect([redirect.status, redirect.headers.get("location")]).toEqual([308, "/console/"]);
    for (const [file, type] of [["", "text/html"], ["console.js", "text/javascript"], ["uPlot.iife.min.js", "text/javascript"], ["uPlot.min.css", "text/css"]] as const) {
      const answer = await fetch(`${base}/console/${file}`);
      expect(answer.status, file).toBe(200);
      expect(answer.headers.get("content-type")).toContain(type);
      expect(answer.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(answer.headers.get("x-frame-options")).toBe("DENY");
    }
    expect((await fetch(`${base}/console/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${base}/console/index.html.bak`)).status).toBe(404);
  });
});
