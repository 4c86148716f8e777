import type { CompiledEndpoint } from "../policy/compile.js";
import type { NormalisedRequest } from "../domain/request.js";
import { entitiesOf, named } from "./entities.js";
import type { Signal, SignalPlan } from "./signal.js";

const SCOPES = ["ip", "subnet", "username"] as const;
const CODES = { ip: "velocity.ip", subnet: "velocity.subnet", username: "velocity.username" } as const;

/** Requests per window to this endpoint by IP, subnet and username (reason codes `velocity.<scope>`). */
export function planVelocity(request: NormalisedRequest, endpoint: CompiledEndpoint): SignalPlan {
  const entities = entitiesOf(request);
  const scopes = SCOPES.flatMap((scope) => {
    const limit = endpoint.velocity[scope];
    const entity = entities[scope];
    return limit && entity ? [{ scope, limit, entity }] : [];
  });
  return {
    ops: scopes.map(({ entity, limit }) => ({
      entity,
      op: { op: "window.add", name: named("ep:", endpoint.name), windowMs: limit.windowMs, amount: 1 },
    })),
    evaluate(results) {
      return scopes.map(({ scope, limit }, index): Signal => {
        const value = Math.round((results[index] ?? 0) * 100) / 100;
        return {
          code: CODES[scope],
          value,
          threshold: limit.threshold,
          weight: limit.weight,
          fired: value > limit.threshold,
          detail: `${endpoint.name} per ${limit.windowMs / 1000}s`,
          windowMs: limit.windowMs,
        };
      });
    },
  };
}
