import { entitiesOf } from "../detection/entities.js";
import { ItemPlan, type PlannedOp, type Signal, type SignalPlan } from "../detection/signal.js";
import { PASSED_CODE } from "../challenge/passes.js";
import type { Decision, Scope } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import { levelFor, type CompiledChallenge } from "../policy/challenge-schema.js";
import type { EntityOp, Store } from "../state/store.js";
import { entityOf, subjectOf } from "./quarantine-record.js";

/**
 * Friction relief: once a user or session has passed a challenge, or MFA, as the application
 * reports through POST /v1/outcomes, Palisade stops asking again for a while.
 *
 * - A passed challenge proves a person is there: later challenges are waived.
 * - Passed MFA proves it is the account's owner: step-ups and challenges are waived.
 * Heavier answers (throttle, quarantine, block) are about volume and abuse and stay. IPs get no
 * relief: one solved challenge must not open a shared address to everyone behind it.
 */
export type ReliefKind = "challenge" | "mfa";
export const RELIEF_SCOPES = ["username", "session"] as const satisfies readonly Scope[];

const SET: Record<ReliefKind, string> = { challenge: "relief.challenge", mfa: "relief.mfa" };
const MEMBER = "passed";

/** One relief read: the same op, code and detail on every Check, built once. */
interface ReliefCheck {
  scope: (typeof RELIEF_SCOPES)[number];
  op: EntityOp;
  code: string;
  detail: string;
}

const RELIEF_CHECKS: readonly ReliefCheck[] = RELIEF_SCOPES.flatMap((scope) =>
  (Object.keys(SET) as ReliefKind[]).map((kind) => ({ scope, op: { op: "member.check", name: SET[kind], member: MEMBER }, code: `relief.${kind}`, detail: `${kind} passed (${scope})` }) satisfies ReliefCheck),
);

/** Reads both reliefs on the request's username and session, in the Check's batch. */
export function planRelief(request: NormalisedRequest): SignalPlan {
  const entities = entitiesOf(request);
  const ops: PlannedOp[] = [];
  const checks: ReliefCheck[] = [];
  for (const check of RELIEF_CHECKS) {
    if (subjectOf(request, check.scope) === undefined) continue;
    // The entity entityOf(scope, subject) names, from the request's own entities (no second join).
    ops.push({ entity: entities[check.scope]!, op: check.op });
    checks.push(check);
  }
  return new ItemPlan(ops, checks, reliefSignal);
}

function reliefSignal({ code, detail }: ReliefCheck, result: number): Signal | undefined {
  return result === 1 ? { code, value: 1, weight: 0, fired: true, detail } : undefined;
}

/** Remembers a passed challenge or MFA for `reliefMs` on each given username and session. */
export async function recordRelief(
  store: Store,
  kind: ReliefKind,
  subjects: Partial<Record<(typeof RELIEF_SCOPES)[number], string>>,
  nowMs: number,
  reliefMs: number,
): Promise<void> {
  const op = { op: "member.add" as const, name: SET[kind], member: MEMBER, maxMembers: 1, retentionMs: reliefMs };
  await Promise.all(
    RELIEF_SCOPES.flatMap((scope) => {
      const subject = subjects[scope];
      return subject === undefined ? [] : [store.apply(entityOf(scope, subject), [op], nowMs)];
    }),
  );
}

/**
 * The decision with a relieved challenge or step-up turned into an allow that says why. A pass
 * from the built-in challenge waives challenges up to the level it was earned at: when the risk
 * has grown past it, the client pays the higher level.
 */
export function waiveFriction(decision: Decision, challenge: CompiledChallenge): Decision {
  // Most decisions ask for no friction: they build no set of reliefs.
  if (decision.action !== "challenge" && decision.action !== "step_up") return decision;
  const relieved = new Set(decision.reasons.filter((r) => r.code.startsWith("relief.")).map((r) => r.code));
  const waived =
    (decision.action === "challenge" && (relieved.has("relief.challenge") || relieved.has("relief.mfa") || passCovers(decision, challenge))) ||
    (decision.action === "step_up" && relieved.has("relief.mfa"));
  if (!waived) return decision;
  const note = { code: "friction.waived", value: 1, weight: 0, detail: `${decision.action} by ${decision.rule ?? "policy"}` };
  return { ...decision, action: "allow", rule: undefined, scope: undefined, reasons: [...decision.reasons, note] };
}

function passCovers(decision: Decision, challenge: CompiledChallenge): boolean {
  const pass = decision.reasons.find((r) => r.code === PASSED_CODE);
  return pass !== undefined && challenge.proofOfWork !== undefined && pass.value >= levelFor(challenge.proofOfWork.levels, decision.risk).level;
}
