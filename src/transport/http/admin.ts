import fastifySwagger from "@fastify/swagger";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, validatorCompiler } from "fastify-type-provider-zod";
import FindMyWay from "find-my-way";
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { z } from "zod";
import type { Logger } from "../../telemetry/logger.js";
import type { Metrics } from "../../telemetry/metrics.js";
import { TokenAuthenticator, type Caller, type Role } from "./auth.js";
import { encodeBody } from "./exchange.js";
import { problem, type AdminResponse } from "./problem.js";

export type { AdminResponse } from "./problem.js";
export { problem } from "./problem.js";

/**
 * What GET /readyz reports. The endpoint is unauthenticated, so each check is "ok" or a short
 * lower_snake code ("rejected", "unreachable"), never a detail: details can quote files.
 */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, string>;
  /**
   * How many warnings each part has (`policy`: what loads but probably does not do what its
   * author meant). A warning never makes the service unready; which ones is in the log.
   */
  warnings?: Record<string, number>;
}

const SHORT_CODE = /^[a-z][a-z0-9_]{0,31}$/;

export interface AdminServerOptions {
  port: number;
  /** Listen address; all interfaces when absent. */
  host?: string;
  metrics: Metrics;
  readiness: () => Promise<ReadinessReport>;
  logger: Logger;
  /** Who may call routes that name roles; nobody when absent. */
  auth?: TokenAuthenticator;
  /** Larger request bodies get 413; 1 MiB when absent. */
  maxBodyBytes?: number;
  /** How long close() lets requests in flight finish before cutting their connections. */
  closeGraceMs?: number;
}

type Schema = z.ZodType;
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a handler gets: the request's parts, already checked against the route's schemas. */
export interface RouteInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  headers: IncomingHttpHeaders;
  /** The authenticated caller on routes that name roles. */
  caller: Caller | undefined;
}

/** One admin route: its schemas are both the validation and the OpenAPI description. */
export interface AdminRoute<B extends Schema | undefined = undefined, Q extends Schema | undefined = undefined, P extends Schema | undefined = undefined> {
  method: "GET" | "POST" | "DELETE";
  url: string;
  summary: string;
  tags?: string[];
  /** Roles allowed to call; the token is checked before the body is read. Absent: anyone. */
  roles?: readonly Role[];
  /** A JSON body; a request without one is checked as `{}`. */
  body?: B;
  query?: Q;
  params?: P;
  /** Headers the route reads, described in the OpenAPI document; other headers pass through. */
  headers?: z.ZodObject;
  handler(input: RouteInput<Parsed<B>, Parsed<Q>, Parsed<P>>): Promise<AdminResponse>;
}

export interface AdminServer {
  /** Starts listening; resolves with the actual port (useful with port 0). */
  listen(): Promise<number>;
  /** Stops accepting, lets requests in flight finish within the grace, then cuts connections. */
  close(): Promise<void>;
  /** Adds a route; only before listen() or inject(). */
  route<B extends Schema | undefined = undefined, Q extends Schema | undefined = undefined, P extends Schema | undefined = undefined>(
    spec: AdminRoute<B, Q, P>,
  ): void;
  /** Every route as "METHOD /path/:param" (HEAD twins of GET routes left out). */
  routes(): string[];
  /** The OpenAPI description of every route, as served at /v1/openapi.json. */
  openapi(): Promise<Record<string, unknown>>;
  /** Answers a request in process (fastify's inject), for tests. */
  inject: FastifyInstance["inject"];
}

const MIB = 1024 * 1024;
const METHODS = ["DELETE", "GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS"] as const;
export const OPENAPI_PATH = "/v1/openapi.json";

function send(reply: FastifyReply, response: AdminResponse): FastifyReply {
  const { payload, contentType } = encodeBody(response.body);
  if (contentType) reply.header("content-type", contentType);
  for (const [name, value] of Object.entries(response.headers ?? {})) reply.header(name.toLowerCase(), value);
  return reply.code(response.status).send(payload);
}

/** A request that still has a body on the wire: its answer closes the connection rather than read it. */
function hasPendingBody(request: FastifyRequest): boolean {
  const length = Number(request.headers["content-length"] ?? 0);
  return length > 0 || request.headers["transfer-encoding"] !== undefined;
}

function validationText(error: FastifyError): string {
  const where = error.validationContext === "body" ? "" : `${error.validationContext ?? "request"}.`;
  return (error.validation ?? [])
    .map((issue) => `${where}${issue.instancePath.replace(/^\//, "").replaceAll("/", ".") || (where ? where.slice(0, -1) : "body")}: ${issue.message}`)
    .join("; ");
}

function registerProbes(server: AdminServer, options: AdminServerOptions): void {
  // Liveness: the event loop answers. Nothing else, so a Redis outage never restarts pods.
  server.route({ method: "GET", url: "/healthz", summary: "Liveness: the process answers", tags: ["probes"], handler: async () => ({ status: 200, body: { status: "ok" } }) });
  server.route({
    method: "GET",
    url: "/readyz",
    summary: "Readiness: a policy is in force",
    tags: ["probes"],
    handler: async () => {
      const report = await readinessOrFailure(options);
      // Anything but a short code is replaced: a caller's mistake must not turn into a leak.
      const checks = Object.fromEntries(Object.entries(report.checks).map(([name, code]) => [name, SHORT_CODE.test(code) ? code : "error"]));
      const warnings = Object.entries(report.warnings ?? {}).filter(([, count]) => count > 0);
      return {
        status: report.ready ? 200 : 503,
        body: { status: report.ready ? "ok" : "not ok", checks, ...(warnings.length > 0 ? { warnings: Object.fromEntries(warnings) } : {}) },
      };
    },
  });
  server.route({
    method: "GET",
    url: "/metrics",
    summary: "Prometheus metrics",
    tags: ["probes"],
    handler: async () => ({ status: 200, headers: { "content-type": options.metrics.contentType }, body: await options.metrics.metricsText() }),
  });
  server.route({ method: "GET", url: OPENAPI_PATH, summary: "This API's OpenAPI description", tags: ["probes"], handler: async () => ({ status: 200, body: await server.openapi() }) });
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
 * The admin HTTP server on fastify: probes, Prometheus metrics, its own OpenAPI description and
 * the routes features add with `route()`. Routes declare zod schemas, which validate requests
 * and describe the API; routes that name roles check the bearer token in `onRequest`, before
 * any body is read. Every error is an RFC 9457 problem document; a failing handler gets a 500
 * and never takes the server down.
 */
export function createAdminServer(options: AdminServerOptions): AdminServer {
  const auth = options.auth ?? TokenAuthenticator.none();
  const app = Fastify({ logger: false, bodyLimit: options.maxBodyBytes ?? MIB, requestTimeout: 30_000, return503OnClosing: false });
  app.server.headersTimeout = 10_000;
  app.setValidatorCompiler(validatorCompiler);
  app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Palisade admin and analyst API", version: "1" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
    transform: jsonSchemaTransform,
  });
  // A body is JSON whatever its content type says (curl -d sends form encoding); empty is none.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, text, done) => {
    if (typeof text !== "string" || text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error("the body must be a JSON object"), { statusCode: 400 }), undefined);
    }
  });

  // Which methods a path has, for 405 answers with Allow; fastify itself only knows 404.
  const known = FindMyWay();
  const registered: string[] = [];
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      if (!known.find(method as "GET", route.url)) known.on(method as "GET", route.url, () => {});
      if (method !== "HEAD") registered.push(`${method} ${route.url}`);
    }
  });

  let closing = false;
  app.addHook("onSend", async (_request, reply, payload) => {
    // Probe, metrics and API answers are live state; no cache should keep them.
    reply.header("cache-control", "no-store");
    reply.header("x-content-type-options", "nosniff");
    // Once closing, every answer ends its keep-alive connection so close() need not wait for it.
    if (closing) reply.header("connection", "close");
    return payload;
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allow = METHODS.filter((method) => known.find(method, path));
    if (allow.length === 0) return send(reply, problem(404, `no resource at ${path}`));
    return send(reply, problem(405, `${request.method} is not allowed here`)).header("allow", allow.join(", "));
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (request.raw.readableAborted || error.code === "ECONNRESET") {
      // The client went away mid-body: nothing to answer and nothing wrong with the service.
      options.logger.debug({ method: request.method, route: request.routeOptions.url, code: error.code }, "admin request aborted by the client");
      return reply.code(400).header("connection", "close").send();
    }
    if (hasZodFastifySchemaValidationErrors(error)) return send(reply, problem(400, validationText(error)));
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return send(reply, problem(413, error.message)).header("connection", "close");
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return send(reply, problem(status, error.message));
    // The route pattern, not the path: a path parameter may be an identifier an analyst typed.
    options.logger.error({ err: error, method: request.method, route: request.routeOptions.url }, "admin handler failed");
    return send(reply, problem(500, "the request could not be handled; the service log has the details"));
  });

  const callers = new WeakMap<FastifyRequest, Caller>();
  const server: AdminServer = {
    route(spec) {
      const { roles, body } = spec;
      // After the swagger plugin has loaded, so that its onRoute hook sees the route.
      app.after(() => app.route({
        method: spec.method,
        url: spec.url,
        schema: {
          summary: spec.summary,
          ...(spec.tags ? { tags: spec.tags } : {}),
          ...(roles ? { security: [{ bearer: [] }] } : {}),
          ...(body ? { body } : {}),
          ...(spec.query ? { querystring: spec.query } : {}),
          ...(spec.params ? { params: spec.params } : {}),
          ...(spec.headers ? { headers: spec.headers.loose() } : {}),
        },
        onRequest: roles
          ? async (request, reply) => {
              const caller = auth.authenticate(request.headers);
              const refusal = !caller
                ? { ...problem(401, "a valid bearer token is required"), headers: { "content-type": "application/problem+json", "www-authenticate": 'Bearer realm="palisade"' } }
                : !roles.includes(caller.role)
                  ? problem(403, `role ${caller.role} may not do this`)
                  : undefined;
              if (!refusal) return void callers.set(request, caller!);
              // The body is never read: its sender gets the answer and the connection ends.
              if (hasPendingBody(request)) reply.header("connection", "close");
              return send(reply, refusal);
            }
          : undefined,
        preValidation: body
          ? async (request) => {
              request.body ??= {};
            }
          : undefined,
        handler: async (request, reply) => {
          const answer = await spec.handler({
            body: request.body as never,
            query: request.query as never,
            params: request.params as never,
            headers: request.headers,
            caller: callers.get(request),
          });
          return send(reply, answer);
        },
      }));
    },
    routes: () => [...registered],
    listen: () => listen(app, options),
    async close() {
      closing = true;
      await closeWithin(app, options.closeGraceMs ?? 5_000);
    },
    async openapi() {
      await app.ready();
      return app.swagger() as unknown as Record<string, unknown>;
    },
    inject: app.inject.bind(app),
  };
  registerProbes(server, options);
  return server;
}

async function listen(app: FastifyInstance, options: AdminServerOptions): Promise<number> {
  await app.ready();
  // Node's own listen: no host means every interface, IPv6 and IPv4, as before fastify.
  const server: Server = app.server;
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

/**
 * Stops accepting, closes idle keep-alive connections now and every other one after `graceMs`,
 * and again each `graceMs` after that: fastify stops listening only once its close hooks ran,
 * so on a busy machine a connection may still arrive after the first cut.
 */
async function closeWithin(app: FastifyInstance, graceMs: number): Promise<void> {
  const server = app.server;
  const deadline = setInterval(() => server.closeAllConnections(), graceMs);
  try {
    if (server.listening) server.closeIdleConnections();
    await app.close();
  } finally {
    clearInterval(deadline);
  }
}
