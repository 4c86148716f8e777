import type { Decision } from "../domain/decision.js";
import type { NormalisedRequest } from "../domain/request.js";
import { levelFor } from "../policy/challenge-schema.js";
import type { CompiledPolicy } from "../policy/compile.js";
import type { Store } from "../state/store.js";
import type { ChallengeKeys } from "./keys.js";
import { clientBinding, newPassId, signPass, type EndpointClass } from "./pass-token.js";
import { PassChecker, type PassOutcome } from "./passes.js";
import { issueChallenge, verifyPayload, type FailureReason, type IssuedChallenge } from "./proof-of-work.js";
import { SolutionClaims } from "./replay.js";

/** What telemetry and the audit trail hear about challenges; every hook is optional. */
export interface ChallengeObserver {
  issued?(level: number): void;
  solved?(solved: { level: number; solveMs?: number; network: string; endpointClass: EndpointClass; decisionId: string }): void;
  failed?(failed: { reason: FailureReason; level?: number; network?: string }): void;
  pass?(outcome: PassOutcome): void;
}

export interface ChallengesDependencies {
  keys: ChallengeKeys;
  /** Where solutions are claimed, so one is accepted once across replicas. */
  store: Store;
  clock: () => number;
  observer?: ChallengeObserver;
}

export type Redemption = { ok: true; token: string; expiresMs: number; level: number } | { ok: false; reason: FailureReason };

/** Network stand-in when no client address could be read: such clients share one binding. */
const UNKNOWN_NETWORK = "unknown";

/**
 * The built-in challenge: issues proof-of-work challenges with `challenge` denials, redeems
 * solutions for pass tokens, and checks those tokens at Check time (`passes`).
 */
export class Challenges {
  readonly passes: PassChecker;
  readonly #deps: ChallengesDependencies;
  readonly #claims: SolutionClaims;

  constructor(deps: ChallengesDependencies) {
    this.#deps = deps;
    this.#claims = new SolutionClaims(deps.store);
    this.passes = new PassChecker(() => deps.keys.pass, (outcome) => deps.observer?.pass?.(outcome));
  }

  /** A challenge for a `challenge` decision, at the level its risk calls for; none without a built-in challenge. */
  issue(decision: Decision, request: NormalisedRequest, policy: CompiledPolicy): IssuedChallenge | undefined {
    const pow = policy.challenge.proofOfWork;
    if (!pow || decision.action !== "challenge") return undefined;
    const level = levelFor(pow.levels, decision.risk);
    const subject = {
      network: request.subnet ?? UNKNOWN_NETWORK,
      client: clientBinding(request.headers, pow.bindHeaders, this.#deps.keys.pass),
      endpointClass: endpointClassOf(request, policy),
      level,
      decisionId: decision.decisionId,
    };
    const issued = issueChallenge(subject, this.#deps.keys, this.#deps.clock(), pow.expiresMs);
    this.#deps.observer?.issued?.(level.level);
    return issued;
  }

  /** Exchanges a solved challenge for a pass token bound to what the challenge was issued for. */
  async redeem(payload: string, network: string | undefined, policy: CompiledPolicy): Promise<Redemption> {
    const pow = policy.challenge.proofOfWork;
    if (!pow) return { ok: false, reason: "malformed" };
    const nowMs = this.#deps.clock();
    const verification = await verifyPayload(payload, { keys: this.#deps.keys, claims: this.#claims, network: network ?? UNKNOWN_NETWORK, nowMs });
    if (!verification.ok) {
      this.#deps.observer?.failed?.({ reason: verification.reason, level: verification.level, network });
      return { ok: false, reason: verification.reason };
    }
    const { subject, solveMs } = verification;
    const expiresMs = nowMs + pow.passMs;
    const token = signPass(
      { id: newPassId(), issuedMs: nowMs, expiresMs, network: subject.network, client: subject.client, endpointClass: subject.endpointClass, level: subject.level },
      this.#deps.keys.pass,
    );
    this.#deps.observer?.solved?.({ level: subject.level, solveMs, network: subject.network, endpointClass: subject.endpointClass, decisionId: subject.decisionId });
    return { ok: true, token, expiresMs, level: subject.level };
  }
}

function endpointClassOf(request: NormalisedRequest, policy: CompiledPolicy): EndpointClass {
  if (request.endpoint === undefined) return "none";
  return policy.endpoints.find((e) => e.name === request.endpoint)?.sensitivity ?? "none";
}
