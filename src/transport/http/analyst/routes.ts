import type { CompiledPolicy } from "../../../policy/compile.js";
import type { Pseudonymiser } from "../../../privacy/pseudonymiser.js";
import type { ResponseEngine } from "../../../response/engine.js";
import { tokenActor } from "../../../response/events.js";
import type { AdminServer } from "../admin.js";
import type { Role, TokenAuthenticator } from "../auth.js";
import type { AdminRequest, AdminResponse } from "../router.js";
import { guarded, type LookupContext } from "./input.js";

/** viewer reads; analyst and admin also change things (DESIGN.md: analysts lift, tune, roll back). */
const ROLES: Record<"read" | "write", readonly Role[]> = {
  read: ["viewer", "analyst", "admin"],
  write: ["analyst", "admin"],
};

export type AnalystHandler = (request: AdminRequest, actor: string) => Promise<AdminResponse>;

/** What every group of analyst routes gets. */
export interface AnalystRoutes {
  /** Registers a route behind the bearer tokens of `access`; the handler gets the actor (`token:<name>`). */
  route(method: string, path: string, access: keyof typeof ROLES, handler: AnalystHandler): void;
  engine: ResponseEngine;
  lookup: LookupContext;
  policy: () => CompiledPolicy;
  clock: () => number;
}

export interface AnalystApiDependencies {
  admin: AdminServer;
  auth: TokenAuthenticator;
  engine: ResponseEngine;
  pseudonymiser: Pseudonymiser;
  policy: () => CompiledPolicy;
  clock: () => number;
}

export function analystRoutes(deps: AnalystApiDependencies): AnalystRoutes {
  return {
    route: (method, path, access, handler) =>
      deps.admin.route(method, path, deps.auth.require(ROLES[access], (request, caller) => guarded(() => handler(request, tokenActor(caller.name))))),
    engine: deps.engine,
    lookup: { pseudonymiser: deps.pseudonymiser, policy: deps.policy, clock: deps.clock },
    policy: deps.policy,
    clock: deps.clock,
  };
}
