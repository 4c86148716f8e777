/**
 * The admin API describes itself: every route the running service serves is in the OpenAPI
 * document at /v1/openapi.json, and docs/openapi.json is that document (`npm run openapi`).
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startTestApp } from "../support/app.js";
import { repoRoot } from "../support/policies.js";

let app: App;
let served: { paths: Record<string, Record<string, { summary?: string; security?: unknown }>> };

beforeAll(async () => {
  app = await startTestApp();
  served = (await (await fetch(`http://127.0.0.1:${app.adminPort}/v1/openapi.json`)).json()) as typeof served;
});

afterAll(async () => {
  await app?.stop();
});

describe("the OpenAPI description", () => {
  it("describes every route the service serves, and the analyst routes need a token", () => {
    const routes = app.admin.routes();
    expect(routes).toContain("POST /v1/quarantines/:id/lift");
    for (const route of routes) {
      const [method, url] = route.split(" ") as [string, string];
      const operation = served.paths[url.replace(/:(\w+)/g, "{$1}")]?.[method.toLowerCase()];
      expect(operation?.summary, `${route} is not described`).toBeTruthy();
      if (url.startsWith("/v1/") && url !== "/v1/openapi.json") expect(operation?.security, route).toEqual([{ bearer: [] }]);
    }
  });

  it("is checked in as docs/openapi.json", () => {
    const onDisk = readFileSync(`${repoRoot}docs/openapi.json`, "utf8");
    expect(onDisk, "docs/openapi.json is out of date with the routes: run `npm run openapi`").toBe(`${JSON.stringify(served, null, 2)}\n`);
  });
});
