import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import type { NormalisedRequest } from "../domain/request.js";
import { entitiesOf, COUNTER_NAMES, pageViewWindowMs } from "./entities.js";
import type { PlannedOp, SignalPlan } from "./signal.js";

/**
 * Session-level signals outside the login form: a session or refresh token used from more IPs
 * than a person moves between (`session.token_replay`), and page views that a later browser
 * login is expected to follow (counted here, read by the login plan).
 */
export function planSession(request: NormalisedRequest, endpoint: CompiledEndpoint, signals: CompiledSignals): SignalPlan {
  const entities = entitiesOf(request);
  const ops: PlannedOp[] = [];
  const replay = signals.tokenReplay;
  const replayAt = replay && entities.session && request.ipId ? ops.length : -1;
  if (replayAt >= 0) {
    ops.push({ entity: entities.session!, op: { op: "distinct.add", name: COUNTER_NAMES.sessionIps, windowMs: replay!.windowMs, member: request.ipId! } });
  }
  const pageWindow = pageViewWindowMs(signals);
  if (pageWindow && endpoint.pageView && entities.ip) {
    ops.push({ entity: entities.ip, op: { op: "window.add", name: COUNTER_NAMES.pageViews, windowMs: pageWindow, amount: 1 } });
  }
  return {
    ops,
    evaluate(results) {
      if (replayAt < 0) return [];
      const ips = results[replayAt] ?? 0;
      return [
        {
          code: "session.token_replay",
          value: ips,
          threshold: replay!.threshold,
          weight: replay!.weight,
          fired: ips > replay!.threshold,
          detail: "IPs using this session or token",
        },
      ];
    },
  };
}
