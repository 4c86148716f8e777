import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledWrites, VelocityLimit } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { shortDigest } from "./digests.js";
import { named } from "./entities.js";
import { shapeOf } from "./path-shape.js";
import { clientKey } from "./shared-address.js";
import { NO_PLAN, type PlannedOp, type Signal, type SignalPlan } from "./signal.js";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

interface WriteScope {
  code: string;
  limit: VelocityLimit;
  detail: string;
}

/**
 * Writes (POST, PUT, PATCH, DELETE) of one client to one path shape on the default class, in a
 * burst window and over an hour (`client.writes`, `client.writes_hourly`). A person pays once
 * or twice and asks for one to three codes; a card tester, an SMS pumper or a reset flood
 * writes hundreds of times. Counted per client on its address (`clientOf`), and on the address
 * whatever the cookies (`address.writes`): the client is keyed by cookies the client chooses, so
 * a script sending a new made-up cookie each time is a new client each time.
 */
export function planWrites(request: NormalisedRequest, config: CompiledWrites | undefined, signals: CompiledSignals): SignalPlan {
  if (!config || !WRITES.has(request.method) || !request.ipId) return NO_PLAN;
  const member = clientOf(request, signals);
  const client = `client:${request.ipId}/${member}`;
  const shape = `${request.method} ${shapeOf(request.path).shape}`;
  const name = named("w:", shape);
  const ops: PlannedOp[] = [];
  const scopes: WriteScope[] = [];
  const counts = [
    ["client.writes", client, config.burst],
    ["client.writes_hourly", client, config.hourly],
    ["address.writes", `ip:${request.ipId}`, config.address],
  ] as const;
  for (const [code, entity, limit] of counts) {
    if (!limit) continue;
    ops.push({ entity, op: { op: "window.add", name, windowMs: limit.windowMs, amount: 1 } });
    scopes.push({ code, limit, detail: `writes to ${shape} per ${limit.windowMs / 1000}s` });
  }
  return {
    ops,
    evaluate(results): Signal[] {
      return scopes.map(({ code, limit, detail }, i) => {
        const value = Math.round((results[i] ?? 0) * 100) / 100;
        return { code, value, threshold: limit.threshold, weight: limit.weight, fired: value > limit.threshold, detail, windowMs: limit.windowMs };
      });
    },
  };
}

/**
 * The client on its address: its fingerprint with the cookies `sharedAddress` names, or with its
 * whole Cookie header on a policy that names none (a site nobody described), or its fingerprint
 * alone when it keeps no cookie. Behind a carrier's NAT every phone is then counted on its own,
 * and a script that drops its cookies stays one client on its address. Only digests reach the store.
 */
function clientOf(request: NormalisedRequest, signals: CompiledSignals): string {
  const kept = signals.sharedAddress ? clientKey(request, signals.sharedAddress.cookies) : undefined;
  if (kept) return kept;
  const cookie = signals.sharedAddress ? undefined : request.headers.get("cookie");
  return cookie ? shortDigest("sha256", `${request.fingerprintId ?? ""}\u0000${cookie}`, 22) : `fp:${request.fingerprintId ?? ""}`;
}
