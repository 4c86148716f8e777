import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../telemetry/logger.js";
import { createMetrics } from "../../telemetry/metrics.js";
import { createAdminServer, type AdminServer, type ReadinessReport } from "./admin.js";

const READY: ReadinessReport = { ready: true, checks: { policy: "ok", store: "ok" } };

interface Harness {
  server: AdminServer;
  url: (path: string) => string;
  logs: () => Record<string, unknown>[];
}

const running: AdminServer[] = [];

async function startServer(options: { readiness?: () => Promise<ReadinessReport>; maxBodyBytes?: number; closeGraceMs?: number } = {}): Promise<Harness> {
  const lines: string[] = [];
  const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
  const metrics = createMetrics();
  metrics.storeDegraded.set(1);
  const server = createAdminServer({
    port: 0,
    host: "127.0.0.1",
    metrics,
    logger,
    readiness: options.readiness ?? (async () => READY),
    maxBodyBytes: options.maxBodyBytes,
    closeGraceMs: options.closeGraceMs,
  });
  const port = await server.listen();
  running.push(server);
  return {
    server,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

async function expectProblem(response: Response, status: number): Promise<Record<string, unknown>> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ type: "about:blank", status, title: expect.any(String), detail: expect.any(String) });
  return body;
}

describe("admin server probes", () => {
  it("answers /healthz while the process is up", async () => {
    const { url } = await startServer();
    const response = await fetch(url("/healthz"));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("answers /readyz with 200 and the checks when ready", async () => {
    const { url } = await startServer();
    const response = await fetch(url("/readyz"));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", checks: READY.checks });
  });

  it("answers /readyz with 503 and the failing checks' codes when not ready, never a detail", async () => {
    const report: ReadinessReport = {
      ready: false,
      checks: { policy: "rejected", store: "ok", leaky: "spec.rules[0]: token-abc123 is not valid" },
    };
    const { url } = await startServer({ readiness: async () => report });
    const response = await fetch(url("/readyz"));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: "not ok", checks: { policy: "rejected", store: "ok", leaky: "error" } });
  });

  it("answers /readyz with 503 when the readiness callback throws", async () => {
    const { url, logs } = await startServer({
      readiness: async () => {
        throw new Error("store ping blew up");
      },
    });
    const response = await fetch(url("/readyz"));
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: "not ok" });
    expect(logs().some((log) => log.msg === "readiness check failed")).toBe(true);
  });

  it("serves Prometheus text with the registry's content type", async () => {
    const { url } = await startServer();
    const response = await fetch(url("/metrics"));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain("palisade_store_degraded 1");
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
  });

  it("answers HEAD like GET, without a body", async () => {
    const { url } = await startServer();
    const response = await fetch(url("/healthz"), { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });
});

describe("admin server errors", () => {
  it("answers an unknown path with a 404 problem", async () => {
    const { url } = await startServer();
    await expectProblem(await fetch(url("/nope?x=1")), 404);
  });

  it("answers a wrong method with a 405 problem and Allow", async () => {
    const { url } = await startServer();
    const response = await fetch(url("/healthz"), { method: "POST" });
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    await expectProblem(response, 405);
  });

  it("answers an oversized body with a 413 problem", async () => {
    const { server, url } = await startServer({ maxBodyBytes: 1024 });
    server.route("POST", "/echo", async (request) => ({ status: 200, body: request.body }));
    await expectProblem(await fetch(url("/echo"), { method: "POST", body: "x".repeat(1025) }), 413);
  });

  it("counts a streamed (chunked) body against the limit too", async () => {
    const { server, url } = await startServer({ maxBodyBytes: 1024 });
    server.route("POST", "/echo", async (request) => ({ status: 200, body: request.body }));
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 4; i += 1) controller.enqueue(new Uint8Array(512));
        controller.close();
      },
    });
    const response = await fetch(url("/echo"), { method: "POST", body: chunks, duplex: "half" } as RequestInit);
    await expectProblem(response, 413);
  });

  it("answers a throwing handler with a 500 problem, logs it and keeps serving", async () => {
    const { server, url, logs } = await startServer();
    server.route("GET", "/broken", async () => {
      throw new Error("handler bug");
    });
    const body = await expectProblem(await fetch(url("/broken")), 500);
    expect(body.detail).not.toContain("handler bug");
    expect(logs()).toContainEqual(expect.objectContaining({ msg: "admin handler failed", route: "/broken", level: "error" }));
    expect((await fetch(url("/healthz"))).status).toBe(200);
  });

  it("answers a body that cannot be serialised with a 500 problem", async () => {
    const { server, url } = await startServer();
    server.route("GET", "/bigint", async () => ({ status: 200, body: { count: 1n } }));
    await expectProblem(await fetch(url("/bigint")), 500);
  });
});

describe("admin server routes", () => {
  it("passes method, params, query, headers and body to a handler", async () => {
    const { server, url } = await startServer();
    server.route("POST", "/api/quarantines/:id/lift", async (request) => ({
      status: 201,
      headers: { "X-Handled": "yes" },
      body: {
        method: request.method,
        path: request.path,
        params: request.params,
        reason: request.query.get("reason"),
        analyst: request.headers["x-analyst"],
        body: request.body.toString(),
      },
    }));
    const response = await fetch(url("/api/quarantines/q%201/lift?reason=false+positive"), {
      method: "POST",
      headers: { "x-analyst": "a-7" },
      body: "note",
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("x-handled")).toBe("yes");
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({
      method: "POST",
      path: "/api/quarantines/q%201/lift",
      params: { id: "q 1" },
      reason: "false positive",
      analyst: "a-7",
      body: "note",
    });
  });

  it("sends strings as text and keeps a handler's content type", async () => {
    const { server, url } = await startServer();
    server.route("GET", "/text", async () => ({ status: 200, body: "hello" }));
    server.route("GET", "/csv", async () => ({ status: 200, headers: { "content-type": "text/csv" }, body: "a,b\n" }));
    const text = await fetch(url("/text"));
    expect(text.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await text.text()).toBe("hello");
    expect((await fetch(url("/csv"))).headers.get("content-type")).toBe("text/csv");
  });

  it("prefers a literal route over a parameterised one and refuses duplicates", async () => {
    const { server, url } = await startServer();
    server.route("GET", "/api/items/:id", async (request) => ({ status: 200, body: request.params }));
    server.route("GET", "/api/items/export", async () => ({ status: 200, body: "export" }));
    expect(await (await fetch(url("/api/items/export"))).text()).toBe("export");
    expect(await (await fetch(url("/api/items/7"))).json()).toEqual({ id: "7" });
    expect(() => server.route("get", "/api/items/:id", async () => ({ status: 204 }))).toThrow(/already registered/);
  });
});

describe("admin server lifecycle", () => {
  it("rejects listen() when the port is taken", async () => {
    const { url } = await startServer();
    const port = Number(new URL(url("/")).port);
    const second = createAdminServer({
      port,
      host: "127.0.0.1",
      metrics: createMetrics(),
      logger: createLogger({ level: "silent" }),
      readiness: async () => READY,
    });
    await expect(second.listen()).rejects.toMatchObject({ code: "EADDRINUSE" });
    await second.close();
  });

  it("closes within the grace even when a request hangs", async () => {
    const { server, url } = await startServer({ closeGraceMs: 50 });
    let release = () => {};
    server.route("GET", "/hang", () => new Promise((resolve) => (release = () => resolve({ status: 204 }))));
    const hanging = fetch(url("/hang")).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.close();
    expect(await hanging).toBeInstanceOf(Error);
    release();
  });

  it("closes promptly with idle keep-alive connections and refuses new requests", async () => {
    const { server, url } = await startServer({ closeGraceMs: 60_000 });
    expect((await fetch(url("/healthz"))).status).toBe(200);
    await server.close();
    await expect(fetch(url("/healthz"))).rejects.toThrow();
  });
});
