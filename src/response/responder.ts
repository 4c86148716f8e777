import { LRUCache } from "lru-cache";
import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import type { AnomalyTracker } from "./anomalies.js";
import type { DecisionRecords } from "./decision-records.js";
import type { DecisionStatistics } from "./decision-stats.js";
import type { Enforcement, ResponseEvents, ResponseLog } from "./events.js";
import type { FlaggedDecisions } from "./flagged.js";
import { subjectOf, type QuarantineMark } from "./quarantine-record.js";
import type { Quarantines } from "./quarantines.js";
import { waiveFriction } from "./relief.js";

/** A decision taken before detection, as the pipeline's decide() would shape it. */
export type HeldDecision = Omit<Decision, "decisionId" | "policyVersion" | "endpoint" | "subject" | "eventTimeMs">;

/** What the pipeline asks of the response engine, around detection. */
export interface PipelineResponder {
  /**
   * An active quarantine on one of the request's scopes: decided at once, with no store round
   * trip while the replica's copy holds every active quarantine (else a promise: see Quarantines.find).
   */
  held(request: NormalisedRequest): HeldDecision | undefined | Promise<HeldDecision | undefined>;
  /** Carries a decision out (quarantines, friction relief, records) and returns the answer to give. */
  settle(decision: Decision, request: NormalisedRequest, policy: CompiledPolicy): Promise<Decision>;
}

export interface ResponderDependencies {
  quarantines: Quarantines;
  events: ResponseEvents;
  flagged: FlaggedDecisions;
  anomalies: AnomalyTracker;
  /** Counts every decision for the console and the report; absent in tests that need no counts. */
  stats?: Pick<DecisionStatistics, "observe">;
  /** The shared record of every enforcement; absent in tests that need none. */
  records?: Pick<DecisionRecords, "record">;
  log: ResponseLog;
  /** Counts requests denied by an active quarantine (too many to audit one by one). */
  onHeld?: (quarantine: QuarantineMark) => void;
  /**
   * false (offline replay): no decision records, counts, flagged decisions, anomaly reports or
   * block and shadow announcements. Nothing reads them after a replay and none of them feeds a
   * decision; together they were a tenth of replay's CPU. Quarantines are imposed all the same.
   */
  bookkeeping?: boolean;
}

const HELD_CODE = "quarantine.active";
/**
 * A block or shadow match repeats on every request of a client; one record per rule, client
 * and minute tells the story without letting a flood push older records out of the trail.
 */
const RECORD_EVERY_MS = 60_000;

export class Responder implements PipelineResponder {
  readonly #deps: ResponderDependencies;
  readonly #recent = new LRUCache<string, true>({ max: 10_000, ttl: RECORD_EVERY_MS });

  constructor(deps: ResponderDependencies) {
    this.#deps = deps;
  }

  held(request: NormalisedRequest): HeldDecision | undefined | Promise<HeldDecision | undefined> {
    const found = this.#deps.quarantines.find(request);
    return found instanceof Promise ? found.then((quarantine) => this.#hold(quarantine, request)) : this.#hold(found, request);
  }

  #hold(quarantine: QuarantineMark | undefined, request: NormalisedRequest): HeldDecision | undefined {
    if (!quarantine) return undefined;
    this.#deps.onHeld?.(quarantine);
    return {
      action: "quarantine",
      risk: 100,
      reasons: [{ code: HELD_CODE, value: 1, weight: 100, detail: quarantine.id }],
      rule: quarantine.rule,
      scope: quarantine.scope,
      retryAfterSeconds: secondsUntil(quarantine, request.timeMs),
      degraded: false,
      shadowed: [],
    };
  }

  async settle(decision: Decision, request: NormalisedRequest, policy: CompiledPolicy): Promise<Decision> {
    let answer = waiveFriction(decision, policy.challenge);
    // Recorded before the quarantine so that the quarantine and the audit trail carry the same id.
    const bookkeeping = this.#deps.bookkeeping ?? true;
    if (bookkeeping && this.#deps.records && answer.action !== "allow") {
      const subject = answer.scope ? subjectOf(request, answer.scope) : answer.subject;
      answer = { ...answer, decisionId: this.#deps.records.record(answer, subject, request.subnet) };
    }
    const fromRule = answer.action === "quarantine" && !answer.reasons.some((r) => r.code === HELD_CODE);
    if (fromRule) answer = await this.#quarantine(answer, request, policy);
    if (bookkeeping) this.#record(answer, request, policy);
    return answer;
  }

  async #quarantine(decision: Decision, request: NormalisedRequest, policy: CompiledPolicy): Promise<Decision> {
    try {
      const quarantine = await this.#deps.quarantines.impose(decision, request, policy);
      if (!quarantine) return decision; // no value for the rule's scope: a one-off denial
      const note = { code: "quarantine.imposed", value: quarantine.offence, weight: 0, detail: quarantine.id };
      return { ...decision, retryAfterSeconds: secondsUntil(quarantine, request.timeMs), reasons: [...decision.reasons, note] };
    } catch (error) {
      // The request is denied anyway; only the lasting quarantine failed.
      this.#deps.log.error({ err: error, decisionId: decision.decisionId }, "quarantine could not be imposed");
      return decision;
    }
  }

  #record(decision: Decision, request: NormalisedRequest, policy: CompiledPolicy): void {
    this.#deps.flagged.add(decision);
    this.#deps.stats?.observe(decision);
    this.#deps.anomalies.observe(decision);
    if (decision.action === "block" && decision.rule && this.#firstInMinute("block", enforcementOf(decision, request, decision.rule, decision.scope))) {
      this.#deps.events.publish({ type: "enforcement.block", ...enforcementOf(decision, request, decision.rule, decision.scope) });
    }
    for (const { rule, action } of decision.shadowed) {
      if (action !== "quarantine" && action !== "block") continue;
      const scope = policy.rules.find((r) => r.id === rule)?.scope ?? decision.scope;
      if (this.#firstInMinute("shadow", enforcementOf(decision, request, rule, scope))) this.#deps.events.publish({ type: "shadow.would_have", action, ...enforcementOf(decision, request, rule, scope) });
    }
  }

  #firstInMinute(kind: string, enforcement: Enforcement): boolean {
    const key = `${kind}\u0000${enforcement.rule}\u0000${enforcement.scope ?? ""}\u0000${enforcement.subject ?? ""}`;
    if (this.#recent.has(key)) return false;
    this.#recent.set(key, true);
    return true;
  }
}

/**
 * A rule's enforcement of `decision` in `scope`. A module function rather than a closure made in
 * #record: every Check comes through there, and under tsx (`npm start`, the benches) a named
 * closure costs an Object.defineProperty each time it is made.
 */
function enforcementOf(decision: Decision, request: NormalisedRequest, rule: string, scope: Decision["scope"]): Enforcement {
  return {
    rule,
    scope,
    subject: scope && subjectOf(request, scope),
    reasons: decision.reasons,
    policyVersion: decision.policyVersion,
    decisionId: decision.decisionId,
    endpoint: decision.endpoint,
  };
}

function secondsUntil(quarantine: QuarantineMark, nowMs: number): number {
  return Math.max(1, Math.ceil((quarantine.expiresMs - nowMs) / 1000));
}
