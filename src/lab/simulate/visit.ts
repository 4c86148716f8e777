import type { ClientProfile } from "./clients.js";
import type { Random } from "./random.js";
import type { SimRequest } from "./wire.js";
import type { World } from "./world.js";

/** What every actor knows: the world, its scenario's time span and its own random stream. */
export interface ActorContext {
  world: World;
  scenario: string;
  startMs: number;
  endMs: number;
  random: Random;
}

/** One client on one connection: who it looks like, where it comes from and what it carries. */
export interface Visit {
  client: ClientProfile;
  ip: string;
  port: number;
  label: string;
  cookie?: string;
  bearer?: string;
  referer?: string;
  causedBy?: string;
}

export function openVisit(ctx: ActorContext, client: ClientProfile, ip: string, label: string): Visit {
  return { client, ip, port: ctx.random.int(32_768, 60_999), label };
}

export type RequestKind = "static" | "api" | "login";

export interface RequestSpec {
  timeMs: number;
  method: string;
  path: string;
  status: number;
  kind: RequestKind;
  /** JSON bodies are serialised; strings are sent as they are (forms). */
  body?: string | Record<string, unknown>;
  responseBytes?: number;
  /** Headers the application answers with that Envoy logs (lower-case names). */
  responseHeaders?: Record<string, string>;
}

/** How long the application takes: files are quick, logins hash a password. */
const LATENCY_MS: Record<RequestKind, [number, number]> = { static: [2, 20], api: [15, 120], login: [120, 380] };

export function makeRequest(ctx: ActorContext, visit: Visit, spec: RequestSpec): SimRequest {
  const { random } = ctx;
  const headers: [string, string][] = [...visit.client.headers];
  let body: string | undefined;
  if (spec.body !== undefined) {
    const form = typeof spec.body === "string";
    body = form ? (spec.body as string) : JSON.stringify(spec.body);
    headers.push(["content-type", form ? "application/x-www-form-urlencoded" : "application/json"]);
    headers.push(["content-length", String(Buffer.byteLength(body))]);
  }
  if (visit.referer) headers.push(["referer", visit.referer]);
  if (visit.cookie) headers.push(["cookie", visit.cookie]);
  if (visit.bearer) headers.push(["authorization", `Bearer ${visit.bearer}`]);
  const [low, high] = LATENCY_MS[spec.kind];
  return {
    id: requestId(random),
    timeMs: Math.round(spec.timeMs),
    method: spec.method,
    path: spec.path,
    clientIp: visit.ip,
    clientPort: visit.port,
    headers,
    body,
    http2: visit.client.http2,
    status: spec.status,
    responseBytes: spec.responseBytes ?? (spec.status >= 400 ? random.int(60, 300) : random.int(400, 24_000)),
    durationMs: random.int(low, high),
    scenario: ctx.scenario,
    label: visit.label,
    causedBy: visit.causedBy,
    responseHeaders: spec.responseHeaders,
  };
}

/** A UUID v4, like the x-request-id Envoy generates, from the actor's own stream. */
export function requestId(random: Random): string {
  const hex = random.hex(32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${"89ab"[random.int(0, 3)]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}
