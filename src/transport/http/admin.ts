import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../../telemetry/logger.js";
import type { Metrics } from "../../telemetry/metrics.js";
import { BodyTooLargeError, readBody, sendResponse, splitTarget } from "./exchange.js";
import { problem } from "./problem.js";
import { Router, type AdminHandler, type AdminResponse, type RouteMatch } from "./router.js";

export type { AdminHandler, AdminRequest, AdminResponse } from "./router.js";
export { problem } from "./problem.js";

/**
 * What GET /readyz reports. The endpoint is unauthenticated, so each check is "ok" or a short
 * lower_snake code ("rejected", "unreachable"), never a detail: details can quote files.
 */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, string>;
}

const SHORT_CODE = /^[a-z][a-z0-9_]{0,31}$/;

export interface AdminServerOptions {
  port: number;
  /** Listen address; all interfaces when absent. */
  host?: string;
  metrics: Metrics;
  readiness: () => Promise<ReadinessReport>;
  logger: Logger;
  /** Larger request bodies get 413; 1 MiB when absent. */
  maxBodyBytes?: number;
  /** How long close() lets requests in flight finish before cutting their connections. */
  closeGraceMs?: number;
}

export interface AdminServer {
  /** Starts listening; resolves with the actual port (useful with port 0). */
  listen(): Promise<number>;
  /** Stops accepting, lets requests in flight finish within the grace, then cuts connections. */
  close(): Promise<void>;
  /** Adds a handler; `path` may contain `:name` segments, passed to the handler as params. */
  route(method: string, path: string, handler: AdminHandler): void;
}

const MIB = 1024 * 1024;

type Target = ReturnType<typeof splitTarget>;
type FoundRoute = Extract<RouteMatch, { kind: "found" }>;

function registerProbes(router: Router, options: AdminServerOptions): void {
  // Liveness: the event loop answers. Nothing else, so a Redis outage never restarts pods.
  router.add("GET", "/healthz", async () => ({ status: 200, body: { status: "ok" } }));
  router.add("GET", "/readyz", async () => {
    const report = await readinessOrFailure(options);
    // Anything but a short code is replaced: a caller's mistake must not turn into a leak.
    const checks = Object.fromEntries(Object.entries(report.checks).map(([name, code]) => [name, SHORT_CODE.test(code) ? code : "error"]));
    return { status: report.ready ? 200 : 503, body: { status: report.ready ? "ok" : "not ok", checks } };
  });
  router.add("GET", "/metrics", async () => ({
    status: 200,
    headers: { "content-type": options.metrics.contentType },
    body: await options.metrics.metricsText(),
  }));
}

async function readinessOrFailure(options: AdminServerOptions): Promise<ReadinessReport> {
  try {
    return await options.readiness();
  } catch (error) {
    options.logger.error({ err: error }, "readiness check failed");
    return { ready: false, checks: { readiness: "failed" } };
  }
}

/**
 * The admin HTTP server: probes, Prometheus metrics, and the routes later features add with
 * `route()`. A failing handler gets a 500 problem document and never takes the server down.
 */
export function createAdminServer(options: AdminServerOptions): AdminServer {
  const router = new Router();
  registerProbes(router, options);
  const maxBodyBytes = options.maxBodyBytes ?? MIB;
  let closing = false;

  async function answer(req: IncomingMessage, target: Target, match: FoundRoute): Promise<AdminResponse> {
    try {
      const body = await readBody(req, maxBodyBytes);
      const { method = "GET", headers } = req;
      return await match.handler({ method, ...target, params: match.params, headers, body });
    } catch (error) {
      if (error instanceof BodyTooLargeError) return problem(413, error.message);
      // The route pattern, not the path: a path parameter may be an identifier an analyst typed.
      options.logger.error({ err: error, method: req.method, route: match.pattern }, "admin handler failed");
      return problem(500, "the request could not be handled; the service log has the details");
    }
  }

  async function respond(req: IncomingMessage): Promise<AdminResponse> {
    const method = req.method ?? "GET";
    const target = splitTarget(req.url ?? "/");
    const match = router.match(method, target.path);
    switch (match.kind) {
      case "found":
        return answer(req, target, match);
      case "method-not-allowed":
        return withHeaders(problem(405, `${method} is not allowed here`), { allow: match.allow.join(", ") });
      case "not-found":
        return problem(404, `no resource at ${target.path}`);
    }
  }

  function send(res: ServerResponse, response: AdminResponse): void {
    // Once closing, every answer ends its keep-alive connection so close() need not wait for it.
    const extra = closing || response.status === 413 ? { connection: "close" } : {};
    try {
      sendResponse(res, response, extra);
    } catch (error) {
      options.logger.error({ err: error }, "admin response could not be serialised");
      sendResponse(res, problem(500, "the response could not be serialised"), extra);
    }
  }

  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    respond(req)
      .then((response) => send(res, response))
      .catch((error: unknown) => {
        // Only a broken socket gets here; an unhandled rejection would end the process.
        options.logger.warn({ err: error }, "admin response failed");
        res.destroy();
      });
  });

  return {
    route: (method, path, handler) => router.add(method, path, handler),
    listen: () => listen(server, options),
    async close() {
      closing = true;
      await closeWithin(server, options.closeGraceMs ?? 5_000);
    },
  };
}

function withHeaders(response: AdminResponse, headers: Record<string, string>): AdminResponse {
  return { ...response, headers: { ...response.headers, ...headers } };
}

function listen(server: Server, options: AdminServerOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      options.logger.info({ host: options.host ?? "*", port }, "admin server listening");
      resolve(port);
    });
  });
}

/** Stops accepting, closes idle keep-alive connections now and every other one after `graceMs`. */
async function closeWithin(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  server.closeIdleConnections();
  const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
  try {
    await closed;
  } finally {
    clearTimeout(deadline);
  }
}
