import type { CompiledEndpoint, VelocityLimit } from "../policy/compile.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { EntityOp } from "../state/store.js";
import { entitiesOf, named, type LoginEntities } from "./entities.js";
import { ItemPlan, type PlannedOp, type Signal, type SignalPlan } from "./signal.js";

/** One scope an endpoint limits: its op and its signal's fixed parts, the same on every Check. */
interface VelocityScope {
  scope: "ip" | "subnet" | "username";
  code: string;
  limit: VelocityLimit;
  op: EntityOp;
  detail: string;
}

const SCOPES = ["ip", "subnet", "username"] as const;
const CODES = { ip: "velocity.ip", subnet: "velocity.subnet", username: "velocity.username" } as const;

/**
 * Each endpoint's scopes, compiled on its first Check and kept while its compiled policy lives:
 * the op (a counter named after the endpoint) and the signal's detail do not depend on the
 * request, so no Check builds them again. Ops are never changed once planned.
 */
const COMPILED = new WeakMap<CompiledEndpoint, readonly VelocityScope[]>();

function scopesOf(endpoint: CompiledEndpoint): readonly VelocityScope[] {
  let scopes = COMPILED.get(endpoint);
  if (scopes === undefined) {
    scopes = SCOPES.flatMap((scope) => {
      const limit = endpoint.velocity[scope];
      if (!limit) return [];
      const op: EntityOp = { op: "window.add", name: named("ep:", endpoint.name), windowMs: limit.windowMs, amount: 1 };
      return [{ scope, code: CODES[scope], limit, op, detail: `${endpoint.name} per ${limit.windowMs / 1000}s` }];
    });
    COMPILED.set(endpoint, scopes);
  }
  return scopes;
}

/** Requests per window to this endpoint by IP, subnet and username (reason codes `velocity.<scope>`). */
export function planVelocity(request: NormalisedRequest, endpoint: CompiledEndpoint): SignalPlan {
  const entities = entitiesOf(request);
  const compiled = scopesOf(endpoint);
  const ops: PlannedOp[] = [];
  let missing = false;
  for (let i = 0; i < compiled.length; i++) {
    const entity = entities[compiled[i]!.scope];
    if (entity) ops.push({ entity, op: compiled[i]!.op });
    else missing = true;
  }
  // Most Checks have every scope's entity (a username only on logins): the compiled list is then the plan's own.
  const counted = missing ? compiled.filter((scope) => hasEntity(entities, scope)) : compiled;
  return new ItemPlan(ops, counted, velocitySignal);
}

function hasEntity(entities: Readonly<LoginEntities>, scope: VelocityScope): boolean {
  return Boolean(entities[scope.scope]);
}

function velocitySignal({ code, limit, detail }: VelocityScope, result: number): Signal {
  const value = Math.round(result * 100) / 100;
  return { code, value, threshold: limit.threshold, weight: limit.weight, fired: value > limit.threshold, detail, windowMs: limit.windowMs };
}
