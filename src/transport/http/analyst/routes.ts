import type { z } from "zod";
import type { CompiledPolicy } from "../../../policy/compile.js";
import type { Pseudonymiser } from "../../../privacy/pseudonymiser.js";
import type { ResponseEngine } from "../../../response/engine.js";
import { tokenActor } from "../../../response/events.js";
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

/** An analyst route: an admin route whose handler also gets the actor (`token:<name>`). */
export type AnalystRoute<B extends Schema, Q extends Schema, P extends Schema> = Omit<AdminRoute<B, Q, P>, "roles" | "handler" | "tags"> & {
  handler(input: RouteInput<Parsed<B>, Parsed<Q>, Parsed<P>>, actor: string): Promise<AdminResponse>;
};

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
        handler: (input) => guarded(() => spec.handler(input, tokenActor(input.caller!.name))),
      }),
    engine: deps.engine,
    lookup: { pseudonymiser: deps.pseudonymiser, policy: deps.policy, clock: deps.clock },
    policy: deps.policy,
    clock: deps.clock,
  };
}
