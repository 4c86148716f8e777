/**
 * A small HTTP front that plays Envoy for browser and HTTP tests: every request is checked
 * through ext_authz (a CheckRequest built from Envoy's own protos, sent over gRPC); denials are
 * answered as Envoy would answer them, allowed requests reach a tiny "upstream". Requests under
 * the challenge path go to Palisade's challenge listener with ext_authz off, as the route in
 * examples/envoy.yaml does. The client address Envoy would append to X-Forwarded-For is
 * `clientIp`, which a test may change to move the "browser" between networks.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { envoyAuthzClient, httpStatus, type EnvoyAuthzClient } from "./envoy-client.js";

export interface EnvoyFront {
  url: string;
  /** The address the next requests come from. */
  clientIp: string;
  /** Requests the upstream served (allowed by Palisade). */
  upstreamHits: string[];
  close(): Promise<void>;
}

export async function startEnvoyFront(options: { grpcPort: number; challengePort: number; challengePath: string; clientIp?: string }): Promise<EnvoyFront> {
  const authz: EnvoyAuthzClient = envoyAuthzClient(`127.0.0.1:${options.grpcPort}`);
  const front = { clientIp: options.clientIp ?? "203.0.113.10", upstreamHits: [] as string[] };
  const server: Server = createServer((request, response) => {
    const handle = (request.url ?? "/").startsWith(`${options.challengePath}/`) ? toChallengeListener : throughExtAuthz;
    handle(request, response).catch((error: unknown) => {
      response.writeHead(502, { "content-type": "text/plain" }).end(`front failed: ${String(error)}`);
    });
  });

  async function throughExtAuthz(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readAll(request);
    const answer = await authz.check({
      method: request.method,
      path: request.url,
      ip: front.clientIp,
      headers: plainHeaders(request),
      body: body.length > 0 ? body : undefined,
    });
    const denied = answer.denied_response;
    if (denied) {
      const headers = Object.fromEntries(denied.headers.map((option) => [option.header.key, option.header.value]));
      response.writeHead(httpStatus(answer) ?? 403, headers).end(denied.body);
      return;
    }
    front.upstreamHits.push(request.url ?? "/");
    response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    response.end(`<!doctype html><html lang="en"><title>Shop</title><h1>Welcome to the shop</h1><p>${escape(request.url ?? "/")}</p></html>`);
  }

  async function toChallengeListener(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readAll(request);
    const headers: Record<string, string> = { ...plainHeaders(request), "x-forwarded-for": front.clientIp, "x-forwarded-proto": "http" };
    delete headers["content-length"];
    const upstream = await fetch(`http://127.0.0.1:${options.challengePort}${request.url}`, {
      method: request.method,
      headers,
      body: body.length > 0 ? body : undefined,
    });
    const passed: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!["content-encoding", "content-length", "transfer-encoding", "connection"].includes(name)) passed[name] = value;
    });
    response.writeHead(upstream.status, passed).end(Buffer.from(await upstream.arrayBuffer()));
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(front, {
    url: `http://127.0.0.1:${port}`,
    async close() {
      authz.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

function plainHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === "string") headers[name] = value;
    else if (Array.isArray(value)) headers[name] = value.join(name === "cookie" ? "; " : ",");
  }
  return headers;
}

async function readAll(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
