import type { IncomingHttpHeaders } from "node:http";

export interface AdminRequest {
  method: string;
  /** Path without the query string, as sent (not percent-decoded). */
  path: string;
  /** Values of `:name` segments of the route pattern, percent-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The whole request body, at most the server's body limit. */
  body: Buffer;
}

export interface AdminResponse {
  status: number;
  headers?: Record<string, string>;
  /** Sent as is when a string or Buffer, otherwise serialised as JSON. */
  body?: unknown;
}

export type AdminHandler = (request: AdminRequest) => Promise<AdminResponse>;

export type RouteMatch =
  | { kind: "found"; pattern: string; handler: AdminHandler; params: Record<string, string> }
  | { kind: "method-not-allowed"; allow: string[] }
  | { kind: "not-found" };

interface Route {
  pattern: string;
  segments: string[];
  handlers: Map<string, AdminHandler>;
}

function splitPath(path: string): string[] {
  return path.split("/").slice(1);
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Params when `path` fits the route's segments (`:name` matches any one segment), else undefined. */
function matchSegments(route: Route, path: string[]): Record<string, string> | undefined {
  if (route.segments.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, expected] of route.segments.entries()) {
    const actual = path[index]!;
    if (expected.startsWith(":")) {
      const decoded = decodeSegment(actual);
      if (decoded === undefined || decoded === "") return undefined;
      params[expected.slice(1)] = decoded;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

/** HEAD is answered by the GET handler (Node sends the headers and drops the body). */
function allowedMethods(route: Route): string[] {
  const methods = new Set(route.handlers.keys());
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}

/**
 * Method and path routing for the admin server. Patterns are exact paths whose segments may be
 * `:name` parameters; a route with literal segments only is preferred over a parameterised one.
 */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: AdminHandler): void {
    const upper = method.toUpperCase();
    let route = this.routes.find((candidate) => candidate.pattern === pattern);
    if (!route) {
      route = { pattern, segments: splitPath(pattern), handlers: new Map() };
      this.routes.push(route);
      this.routes.sort((a, b) => parameterCount(a) - parameterCount(b));
    }
    if (route.handlers.has(upper)) throw new Error(`route ${upper} ${pattern} is already registered`);
    route.handlers.set(upper, handler);
  }

  match(method: string, path: string): RouteMatch {
    const segments = splitPath(path);
    const allow = new Set<string>();
    for (const route of this.routes) {
      const params = matchSegments(route, segments);
      if (!params) continue;
      const handler = route.handlers.get(method) ?? (method === "HEAD" ? route.handlers.get("GET") : undefined);
      if (handler) return { kind: "found", pattern: route.pattern, handler, params };
      for (const allowed of allowedMethods(route)) allow.add(allowed);
    }
    return allow.size > 0 ? { kind: "method-not-allowed", allow: [...allow].sort() } : { kind: "not-found" };
  }
}

function parameterCount(route: Route): number {
  return route.segments.filter((segment) => segment.startsWith(":")).length;
}
