import { z } from "zod";
import type { CompiledPolicy } from "../../../policy/compile.js";
import type { Pseudonymiser } from "../../../privacy/pseudonymiser.js";
import type { ResponseEngine } from "../../../response/engine.js";
import { createHash, randomUUID } from "node:crypto";
import { tokenActor, type WriteId } from "../../../response/events.js";
import { MAX_IDEMPOTENCY_KEY_LENGTH } from "../../../state/shared-map.js";
import { problem } from "../problem.js";
import type { AdminResponse, AdminRoute, AdminServer, RouteInput } from "../admin.js";
import type { Role } from "../auth.js";
import { guarded, type LookupContext } from "./input.js";

/** viewer reads; analyst and admin also change things (analysts lift, tune, roll back). */
const ROLES: Record<"read" | "write", readonly Role[]> = {
  read: ["viewer", "analyst", "admin"],
  write: ["analyst", "admin"],
};

type Schema = z.ZodType | undefined;
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/**
 * An analyst route: an admin route whose handler also gets the actor (`token:<name>`) and, for
 * writes, the write's id (see `writeIdOf`).
 */
export type AnalystRoute<B extends Schema, Q extends Schema, P extends Schema> = Omit<AdminRoute<B, Q, P>, "roles" | "handler" | "tags"> & {
  handler(input: RouteInput<Parsed<B>, Parsed<Q>, Parsed<P>>, actor: string, write: WriteId): Promise<AdminResponse>;
};

export const IDEMPOTENCY_HEADER = "idempotency-key";

/** The header every write takes, as validated and described in the OpenAPI document. */
const writeHeaders = z.object({
  [IDEMPOTENCY_HEADER]: z
    .string()
    .min(1)
    .max(MAX_IDEMPOTENCY_KEY_LENGTH)
    .regex(/^[\x21-\x7e]+$/)
    .optional()
    .describe("Names this write: a retry with the same key (same token, route and body) answers what the first call did, for a day, without changing anything again"),
});

/**
 * The id of an admin write: from the `Idempotency-Key` header, scoped to the caller and the
 * route with its parameters (two analysts, or two routes, never share a key), with a
 * fingerprint of the body and query so the same key with another request is refused; without
 * the header, a fresh one (the write is still atomic and audited, a retry is a new write).
 * Undefined for a header that is not 1 to 256 visible ASCII characters.
 */
export function writeIdOf(header: string | string[] | undefined, actor: string, route: { method: string; url: string }, input: { params?: unknown; body?: unknown; query?: unknown }): WriteId | undefined {
  if (header === undefined) return { key: randomUUID() };
  if (typeof header !== "string" || header.length === 0 || header.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(header)) return undefined;
  const hash = (text: string) => createHash("sha256").update(text).digest("hex");
  return {
    key: `api:${hash(JSON.stringify([actor, route.method, route.url, input.params ?? null, header]))}`,
    fingerprint: hash(JSON.stringify([input.body ?? null, input.query ?? null])),
  };
}

/** What every group of analyst routes gets. */
export interface AnalystRoutes {
  /** Registers a route behind the bearer tokens of `access`. */
  route<B extends Schema = undefined, Q extends Schema = undefined, P extends Schema = undefined>(access: keyof typeof ROLES, spec: AnalystRoute<B, Q, P>): void;
  engine: ResponseEngine;
  lookup: LookupContext;
  policy: () => CompiledPolicy;
  clock: () => number;
}

export interface AnalystApiDependencies {
  admin: AdminServer;
  engine: ResponseEngine;
  pseudonymiser: Pseudonymiser;
  policy: () => CompiledPolicy;
  clock: () => number;
}

export function analystRoutes(deps: AnalystApiDependencies): AnalystRoutes {
  return {
    route: (access, spec) =>
      deps.admin.route({
        ...spec,
        tags: ["analyst"],
        roles: ROLES[access],
        ...(access === "write" ? { headers: writeHeaders } : {}),
        handler: (input) =>
          guarded(async () => {
            const actor = tokenActor(input.caller!.name);
            const write = writeIdOf(input.headers[IDEMPOTENCY_HEADER], actor, spec, input);
            if (!write) return problem(400, `${IDEMPOTENCY_HEADER}: 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters`);
            return spec.handler(input, actor, write);
          }),
      }),
    engine: deps.engine,
    lookup: { pseudonymiser: deps.pseudonymiser, policy: deps.policy, clock: deps.clock },
    policy: deps.policy,
    clock: deps.clock,
  };
}
