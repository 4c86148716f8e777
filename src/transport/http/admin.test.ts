import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createLogger } from "../../telemetry/logger.js";
import { createMetrics } from "../../telemetry/metrics.js";
import { createAdminServer, type AdminServer, type ReadinessReport } from "./admin.js";
import { TokenAuthenticator } from "./auth.js";

const READY: ReadinessReport = { ready: true, checks: { policy: "ok", store: "ok" } };
const TOKEN = "analyst-token-0123456789abcdefg";

interface Harness {
  server: AdminServer;
  logs: () => Record<string, unknown>[];
}

const running: AdminServer[] = [];

async function tokens(): Promise<TokenAuthenticator> {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const file = join(mkdtempSync(join(tmpdir(), "palisade-admin-")), "tokens.yaml");
  writeFileSync(file, `tokens:\n  - { name: alice, role: analyst, token: ${TOKEN} }\n`);
  return TokenAuthenticator.fromFile(file);
}

function createServer(options: { readiness?: () => Promise<ReadinessReport>; maxBodyBytes?: number; closeGraceMs?: number; auth?: TokenAuthenticator } = {}): Harness {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (line: string) => void lines.push(line) } });
  const metrics = createMetrics();
  metrics.storeDegraded.set(1);
  const server = createAdminServer({
    port: 0,
    host: "127.0.0.1",
    metrics,
    logger,
    auth: options.auth,
    readiness: options.readiness ?? (async () => READY),
    maxBodyBytes: options.maxBodyBytes,
    closeGraceMs: options.closeGraceMs,
  });
  running.push(server);
  return { server, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

type Injected = Awaited<ReturnType<AdminServer["inject"]>>;

function expectProblem(response: Injected, status: number): Record<string, unknown> {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers["content-type"]).toBe("application/problem+json");
  const body = response.json<Record<string, unknown>>();
  expect(body).toMatchObject({ type: "about:blank", status, title: expect.any(String), detail: expect.any(String) });
  return body;
}

describe("admin server probes", () => {
  it("answers /healthz while the process is up", async () => {
    const response = await createServer().server.inject({ method: "GET", url: "/healthz" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "ok" });
    expect(response.headers).toMatchObject({ "cache-control": "no-store", "x-content-type-options": "nosniff" });
  });

  it("answers /readyz with 200 and the checks when ready", async () => {
    const response = await createServer().server.inject({ method: "GET", url: "/readyz" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "ok", checks: READY.checks });
  });

  it("answers /readyz with the warnings counted, still 200, and leaves out parts without any", async () => {
    const report: ReadinessReport = { ...READY, warnings: { policy: 2, rateLimits: 0 } };
    const response = await createServer({ readiness: async () => report }).server.inject({ method: "GET", url: "/readyz" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "ok", checks: READY.checks, warnings: { policy: 2 } });
  });

  it("answers /readyz with 503 and the failing checks' codes when not ready, never a detail", async () => {
    const report: ReadinessReport = {
      ready: false,
      checks: { policy: "rejected", store: "ok", leaky: "spec.rules[0]: token-abc123 is not valid" },
    };
    const response = await createServer({ readiness: async () => report }).server.inject({ method: "GET", url: "/readyz" });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: "not ok", checks: { policy: "rejected", store: "ok", leaky: "error" } });
  });

  it("answers /readyz with 503 when the readiness callback throws", async () => {
    const { server, logs } = createServer({
      readiness: async () => {
        throw new Error("store ping blew up");
      },
    });
    const response = await server.inject({ method: "GET", url: "/readyz" });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ status: "not ok" });
    expect(logs().some((log) => log.msg === "readiness check failed")).toBe(true);
  });

  it("serves Prometheus text with the registry's content type", async () => {
    const response = await createServer().server.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.body).toContain("palisade_store_degraded 1");
    expect(response.body).toContain("# TYPE process_cpu_seconds_total counter");
  });

  it("answers HEAD like GET, without a body", async () => {
    const response = await createServer().server.inject({ method: "HEAD", url: "/healthz" });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe("");
  });
});

describe("admin server errors", () => {
  it("answers an unknown path with a 404 problem", async () => {
    expectProblem(await createServer().server.inject({ method: "GET", url: "/nope?x=1" }), 404);
  });

  it("answers a wrong method with a 405 problem and Allow", async () => {
    const response = await createServer().server.inject({ method: "POST", url: "/healthz" });
    expect(response.headers.allow).toBe("GET, HEAD");
    expectProblem(response, 405);
  });

  it("answers an oversized body with a 413 problem and closes the connection", async () => {
    const { server } = createServer({ maxBodyBytes: 1024 });
    server.route({ method: "POST", url: "/echo", summary: "echo", body: z.unknown(), handler: async ({ body }) => ({ status: 200, body }) });
    const response = await server.inject({ method: "POST", url: "/echo", payload: JSON.stringify("x".repeat(1025)) });
    expectProblem(response, 413);
    expect(response.headers.connection).toBe("close");
  });

  it("answers a body that is not JSON, or breaks the route's schema, with a 400 problem naming the field", async () => {
    const { server } = createServer();
    server.route({ method: "POST", url: "/items", summary: "add", body: z.object({ count: z.number() }).strict(), handler: async () => ({ status: 204 }) });
    expectProblem(await server.inject({ method: "POST", url: "/items", payload: "{count: 1" }), 400);
    const body = expectProblem(await server.inject({ method: "POST", url: "/items", payload: { count: "one" } }), 400);
    expect(body.detail).toMatch(/^count: /);
    // curl -d sends form encoding; the body is read as JSON all the same, and no body is {}.
    expect((await server.inject({ method: "POST", url: "/items", payload: '{"count":1}', headers: { "content-type": "application/x-www-form-urlencoded" } })).statusCode).toBe(204);
    expectProblem(await server.inject({ method: "POST", url: "/items" }), 400);
  });

  it("answers a throwing handler with a 500 problem, logs it and keeps serving", async () => {
    const { server, logs } = createServer();
    server.route({
      method: "GET",
      url: "/broken",
      summary: "broken",
      handler: async () => {
        throw new Error("handler bug");
      },
    });
    const body = expectProblem(await server.inject({ method: "GET", url: "/broken" }), 500);
    expect(body.detail).not.toContain("handler bug");
    expect(logs()).toContainEqual(expect.objectContaining({ msg: "admin handler failed", route: "/broken", level: "error" }));
    expect((await server.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
  });

  it("answers a body that cannot be serialised with a 500 problem", async () => {
    const { server } = createServer();
    server.route({ method: "GET", url: "/bigint", summary: "bigint", handler: async () => ({ status: 200, body: { count: 1n } }) });
    expectProblem(await server.inject({ method: "GET", url: "/bigint" }), 500);
  });
});

describe("admin server routes", () => {
  it("passes params, query, headers and the body, checked and decoded, to a handler", async () => {
    const { server } = createServer();
    server.route({
      method: "POST",
      url: "/api/quarantines/:id/lift",
      summary: "lift",
      params: z.object({ id: z.string() }),
      query: z.object({ reason: z.string() }),
      body: z.object({ note: z.string() }),
      handler: async ({ params, query, headers, body }) => ({ status: 201, headers: { "X-Handled": "yes" }, body: { params, reason: query.reason, analyst: headers["x-analyst"], note: body.note } }),
    });
    const response = await server.inject({ method: "POST", url: "/api/quarantines/q%201/lift?reason=false+positive", headers: { "x-analyst": "a-7" }, payload: { note: "n" } });
    expect(response.statusCode).toBe(201);
    expect(response.headers["x-handled"]).toBe("yes");
    expect(response.headers["content-type"]).toBe("application/json");
    expect(response.json()).toEqual({ params: { id: "q 1" }, reason: "false positive", analyst: "a-7", note: "n" });
  });

  it("sends strings as text and keeps a handler's content type", async () => {
    const { server } = createServer();
    server.route({ method: "GET", url: "/text", summary: "text", handler: async () => ({ status: 200, body: "hello" }) });
    server.route({ method: "GET", url: "/csv", summary: "csv", handler: async () => ({ status: 200, headers: { "content-type": "text/csv" }, body: "a,b\n" }) });
    const text = await server.inject({ method: "GET", url: "/text" });
    expect(text.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(text.body).toBe("hello");
    expect((await server.inject({ method: "GET", url: "/csv" })).headers["content-type"]).toBe("text/csv");
  });

  it("prefers a literal route over a parameterised one", async () => {
    const { server } = createServer();
    server.route({ method: "GET", url: "/api/items/:id", summary: "item", params: z.object({ id: z.string() }), handler: async ({ params }) => ({ status: 200, body: params }) });
    server.route({ method: "GET", url: "/api/items/export", summary: "export", handler: async () => ({ status: 200, body: "export" }) });
    expect((await server.inject({ method: "GET", url: "/api/items/export" })).body).toBe("export");
    expect((await server.inject({ method: "GET", url: "/api/items/7" })).json()).toEqual({ id: "7" });
  });

  it("checks the bearer token and role, and hands the caller to the handler", async () => {
    const { server } = createServer({ auth: await tokens() });
    server.route({ method: "GET", url: "/who", summary: "who", roles: ["analyst"], handler: async ({ caller }) => ({ status: 200, body: caller }) });
    server.route({ method: "GET", url: "/root", summary: "root", roles: ["admin"], handler: async () => ({ status: 204 }) });
    const anonymous = await server.inject({ method: "GET", url: "/who" });
    expectProblem(anonymous, 401);
    expect(anonymous.headers["www-authenticate"]).toBe('Bearer realm="palisade"');
    expectProblem(await server.inject({ method: "GET", url: "/who", headers: { authorization: "Bearer not-a-token" } }), 401);
    expectProblem(await server.inject({ method: "GET", url: "/root", headers: { authorization: `Bearer ${TOKEN}` } }), 403);
    expect((await server.inject({ method: "GET", url: "/who", headers: { authorization: `Bearer ${TOKEN}` } })).json()).toEqual({ name: "alice", role: "analyst" });
  });

  it("describes every route in its OpenAPI document, with the bearer scheme where a token is needed", async () => {
    const { server } = createServer();
    server.route({ method: "POST", url: "/v1/things/:id", summary: "a thing", roles: ["analyst"], params: z.object({ id: z.string() }), body: z.object({ n: z.number() }), handler: async () => ({ status: 204 }) });
    const document = (await server.inject({ method: "GET", url: "/v1/openapi.json" })).json<{ openapi: string; paths: Record<string, Record<string, any>> }>();
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths).sort()).toEqual(["/healthz", "/metrics", "/readyz", "/v1/openapi.json", "/v1/things/{id}"]);
    const post = document.paths["/v1/things/{id}"]!.post;
    expect(post.security).toEqual([{ bearer: [] }]);
    expect(post.requestBody.content["application/json"].schema.properties.n).toMatchObject({ type: "number" });
  });
});

/** Sends raw bytes on a fresh socket and resolves with everything the server sent until it closed or `until` matched. */
function rawExchange(port: number, write: (socket: import("node:net").Socket) => void, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString();
      if (until.test(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(received));
    socket.on("connect", () => write(socket));
  });
}

describe("admin server on a socket", () => {
  it("refuses an unauthenticated upload before reading its body", async () => {
    const { server } = createServer({ auth: await tokens() });
    let bodiesRead = 0;
    server.route({ method: "POST", url: "/upload", summary: "upload", roles: ["analyst"], body: z.unknown(), handler: async () => ((bodiesRead += 1), { status: 204 }) });
    const port = await server.listen();
    // Headers announce 1 MiB that never comes: only a server that answers before the body does.
    const answers = await Promise.all(
      Array.from({ length: 400 }, () =>
        rawExchange(port, (socket) => socket.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${1024 * 1024}\r\n\r\n{"a":`), /\r\n\r\n[\s\S]*\}$/),
      ),
    );
    for (const answer of answers) {
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
      expect(answer.toLowerCase()).toContain("connection: close");
    }
    expect(bodiesRead).toBe(0);
  });

  it("does not log an upload the client aborts as an error", async () => {
    const { server, logs } = createServer({ auth: await tokens() });
    server.route({ method: "POST", url: "/upload", summary: "upload", roles: ["analyst"], body: z.unknown(), handler: async () => ({ status: 204 }) });
    const port = await server.listen();
    await new Promise<void>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(`POST /upload HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-length: ${1024 * 1024}\r\n\r\n`);
        socket.write(Buffer.alloc(64 * 1024, 0x20), () => setTimeout(() => (socket.destroy(), resolve()), 50));
      });
    });
    await expect.poll(() => logs().map((log) => log.msg), { timeout: 10_000 }).toContain("admin request aborted by the client");
    expect(logs().filter((log) => log.level === "error" || log.level === "fatal")).toEqual([]);
    expect((await server.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
  });

  it("rejects listen() when the port is taken", async () => {
    const { server } = createServer();
    const port = await server.listen();
    const second = createAdminServer({ port, host: "127.0.0.1", metrics: createMetrics(), logger: createLogger({ level: "silent" }), readiness: async () => READY });
    await expect(second.listen()).rejects.toMatchObject({ code: "EADDRINUSE" });
    await second.close();
  });

  it("closes within the grace even when a request hangs", async () => {
    const { server } = createServer({ closeGraceMs: 50 });
    let release = () => {};
    let arrived = false;
    server.route({
      method: "GET",
      url: "/hang",
      summary: "hang",
      handler: () => new Promise((resolve) => ((arrived = true), (release = () => resolve({ status: 204 })))),
    });
    const port = await server.listen();
    const hanging = fetch(`http://127.0.0.1:${port}/hang`).catch((error: unknown) => error);
    // Close only once the request is in the handler: a request that never arrived would also end
    // in an error (connection refused) and prove nothing about the grace.
    await expect.poll(() => arrived, { timeout: 10_000 }).toBe(true);
    await server.close();
    expect(await hanging).toBeInstanceOf(Error);
    release();
  });

  it("closes promptly with idle keep-alive connections and refuses new requests", async () => {
    const { server } = createServer({ closeGraceMs: 60_000 });
    const port = await server.listen();
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await server.close();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
