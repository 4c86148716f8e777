import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Challenges } from "../../challenge/challenges.js";
import type { FailureReason } from "../../challenge/proof-of-work.js";
import { MAX_PAYLOAD_LENGTH } from "../../challenge/proof-of-work.js";
import { clientSubnet } from "../../pipeline/normalise.js";
import type { HttpAttributes } from "../../domain/request.js";
import { challengeRoutes, PASS_COOKIE, PASS_HEADER } from "../../policy/challenge-schema.js";
import type { CompiledPolicy } from "../../policy/compile.js";
import type { Logger } from "../../telemetry/logger.js";

/**
 * The challenge listener: the one Palisade port a client reaches, through an Envoy route with
 * ext_authz turned off (a challenged client must be able to answer). It serves the ALTCHA widget
 * script and the verify endpoint under the policy's `proofOfWork.path`, nothing else — metrics
 * and the admin API stay on the admin port, which Envoy never routes to.
 */
export interface ChallengeServerOptions {
  host: string;
  port: number;
  challenges: Challenges;
  policy: () => CompiledPolicy;
  logger: Logger;
}

export interface ChallengeServer {
  listen(): Promise<number>;
  close(): Promise<void>;
  /** For tests: fastify's in-process request injection. */
  readonly fastify: FastifyInstance;
}

/** HTTP status per failure: never 200, and 400 only for what was not a solution at all. */
const FAILURE_STATUS: Record<FailureReason, number> = {
  malformed: 400,
  forged: 403,
  expired: 403,
  wrong_answer: 403,
  replayed: 403,
  foreign_network: 403,
};

const FAILURE_DETAIL: Record<FailureReason, string> = {
  malformed: "The body must be JSON with the widget's payload: {\"payload\": \"…\"}.",
  forged: "This challenge was not issued here.",
  expired: "This challenge has expired. Retry the original request for a new one.",
  wrong_answer: "The solution is not correct.",
  replayed: "This challenge was already solved once. Retry the original request for a new one.",
  foreign_network: "The challenge was issued to another network. Retry the original request for a new one.",
};

export async function createChallengeServer(options: ChallengeServerOptions): Promise<ChallengeServer> {
  const script = await widgetScript();
  const fastify = Fastify({ bodyLimit: MAX_PAYLOAD_LENGTH * 2, logger: false, return503OnClosing: true });
  fastify.setErrorHandler((error: { statusCode?: number }, _request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) options.logger.error({ err: error }, "challenge listener failed");
    return sendProblem(reply, status, "urn:palisade:problem:bad-request", "Bad request", status === 413 ? "The body is too large." : "The request could not be read.");
  });
  fastify.setNotFoundHandler((_request, reply) => sendProblem(reply, 404, "urn:palisade:problem:not-found", "Not found", "No such challenge resource."));

  fastify.get("/*", async (request, reply) => {
    if (pathOf(request) !== routesOf(options).script) return reply.callNotFound();
    const gzip = /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""));
    reply
      .header("content-type", "text/javascript; charset=utf-8")
      .header("cache-control", "public, max-age=86400")
      .header("vary", "accept-encoding")
      .header("x-content-type-options", "nosniff")
      .header("etag", script.etag);
    if (gzip) reply.header("content-encoding", "gzip");
    return reply.send(gzip ? script.gzip : script.plain);
  });

  fastify.post("/*", async (request, reply) => {
    if (pathOf(request) !== routesOf(options).verify) return reply.callNotFound();
    const policy = options.policy();
    const payload = (request.body as { payload?: unknown } | undefined)?.payload;
    if (typeof payload !== "string") return failure(reply, "malformed");
    const network = clientSubnet(attributesOf(request), policy);
    const redemption = await options.challenges.redeem(payload, network, policy);
    if (!redemption.ok) return failure(reply, redemption.reason);
    const maxAgeSeconds = Math.max(1, Math.floor((policy.challenge.proofOfWork?.passMs ?? 0) / 1000));
    const secure = request.headers["x-forwarded-proto"] === "https" ? "; Secure" : "";
    return reply
      .code(201)
      .header("cache-control", "no-store")
      .header("set-cookie", `${PASS_COOKIE}=${redemption.token}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure}`)
      .send({ token: redemption.token, header: PASS_HEADER, expires: new Date(redemption.expiresMs).toISOString(), level: redemption.level });
  });

  return {
    fastify,
    async listen() {
      await fastify.listen({ host: options.host, port: options.port });
      const address = fastify.server.address();
      return typeof address === "object" && address ? address.port : options.port;
    },
    async close() {
      await fastify.close();
    },
  };
}

function routesOf(options: ChallengeServerOptions): { script: string; verify: string } {
  const pow = options.policy().challenge.proofOfWork;
  return pow ? challengeRoutes(pow.path) : { script: "", verify: "" };
}

function pathOf(request: FastifyRequest): string {
  const url = request.url;
  const query = url.indexOf("?");
  return query >= 0 ? url.slice(0, query) : url;
}

/** What the Check path would read of this request, for the same client-address rules. */
function attributesOf(request: FastifyRequest): HttpAttributes {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (Array.isArray(value)) headers.set(name, value.join(","));
  }
  return { headers, peerAddress: request.socket.remoteAddress };
}

function failure(reply: FastifyReply, reason: FailureReason): FastifyReply {
  return sendProblem(reply, FAILURE_STATUS[reason], `urn:palisade:problem:challenge-${reason.replace(/_/g, "-")}`, "Challenge not passed", FAILURE_DETAIL[reason], { reason });
}

function sendProblem(reply: FastifyReply, status: number, type: string, title: string, detail: string, extra: Record<string, unknown> = {}): FastifyReply {
  return reply
    .code(status)
    .header("content-type", "application/problem+json")
    .header("cache-control", "no-store")
    .send(JSON.stringify({ type, title, status, detail, ...extra }));
}

/** The widget bundle with its workers and styles inlined (one file, one request), served as is. */
async function widgetScript(): Promise<{ plain: Buffer; gzip: Buffer; etag: string }> {
  const main = fileURLToPath(import.meta.resolve("altcha"));
  const plain = await readFile(main.replace(/altcha\.js$/, "altcha.min.js"));
  const { version } = JSON.parse(await readFile(new URL("../../package.json", import.meta.resolve("altcha")), "utf8")) as { version: string };
  return { plain, gzip: gzipSync(plain), etag: `"altcha-${version}"` };
}
