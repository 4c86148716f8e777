import type { Action } from "../../domain/decision.js";
import { attackKindOf, isLegit, LEGIT_NEW_ACCOUNT } from "../lines.js";
import type { Verdict } from "./target.js";

/** Detection and false-positive figures of one scenario (ratios in 0..1, times in seconds). */
export interface ScenarioFigures {
  scenario: string;
  requests: number;
  /**
   * `falsePositives`: legitimate requests denied; `friction`: those given any action but allow
   * (a step-up asks the person for a second factor: friction, though not a denial).
   */
  legit: {
    requests: number;
    falsePositives: number;
    falsePositiveShare: number | null;
    friction: number;
    frictionShare: number | null;
    /** Of those, the shoppers whose account never signed in before (`legit:new-account`; counted in the figures above too). */
    newAccounts: { requests: number; friction: number };
  };
  attack: { requests: number; mitigated: number; mitigatedShare: number | null; byKind: Record<string, { requests: number; mitigated: number }>; goal: GoalFigures };
  /** Recorded traffic carries no labels: only how much of it would have been denied. */
  unlabelled: { requests: number; denied: number };
  actions: Partial<Record<Action, number>>;
  /** From the first attack request to the first one denied. */
  firstMitigationSeconds: number | null;
  /** Attack requests that got through before the first denial (all of them when none was denied). */
  requestsBeforeFirstMitigation: number;
  /** From the first attack request to the start of mitigation that holds to the attack's end. */
  sustainedMitigationSeconds: number | null;
  /** Accounts an attacker signed in to because Palisade let the successful login through (without a step-up). */
  accountsTakenOver: number;
  /** Distinct catalogue resources a scraper was served. */
  resourcesScraped: number;
  /** Follow-ups (takeovers) that never happen because the request they needed was denied. */
  followUpsDropped: number;
}

/**
 * The attack's requests that serve its goal (see GoalEndpoints), apart from its cover traffic
 * (the site's shell, pictures, pages it reads to look like a shopper); `mitigatedShare` is null
 * when the attack has no goal requests or none were told apart.
 */
export interface GoalFigures {
  requests: number;
  mitigated: number;
  mitigatedShare: number | null;
}

/**
 * Which endpoints an attack's goal requests go to: logins (authentication endpoints) for
 * credential stuffing, spraying and checking and for a takeover, catalogue reads (endpoints with
 * a `resource`) for scraping. Other kinds have no goal counted.
 */
export interface GoalEndpoints {
  login: ReadonlySet<string>;
  resource: ReadonlySet<string>;
}

function goalOf(kind: string, goals: GoalEndpoints | undefined): ReadonlySet<string> | undefined {
  if (kind === "credential_stuffing" || kind === "account_takeover") return goals?.login;
  return kind === "scraping" ? goals?.resource : undefined;
}

/**
 * "Sustained": from the start of some 10-second bucket to the end, every bucket with attack
 * traffic had at least 90% of it denied. Short enough to see a burst caught, long enough that
 * one lucky denial is not called mitigation.
 */
const SUSTAINED_BUCKET_MS = 10_000;
const SUSTAINED_SHARE = 0.9;

/** What replay remembers of a decided request until its access-log entry arrives. */
export interface DecidedRequest {
  scenario: string;
  label: string;
  path: string;
  verdict: Verdict;
  /** The decision came from an endpoint the policy marks as a login (authentication: true). */
  login: boolean;
}

export class ScenarioStats {
  readonly #scenario: string;
  #requests = 0;
  readonly #legit = { requests: 0, falsePositives: 0, friction: 0 };
  readonly #newAccounts = { requests: 0, friction: 0 };
  readonly #attack = { requests: 0, mitigated: 0 };
  readonly #goal = { requests: 0, mitigated: 0 };
  readonly #goals: GoalEndpoints | undefined;
  readonly #unlabelled = { requests: 0, denied: 0 };
  readonly #byKind: Record<string, { requests: number; mitigated: number }> = {};
  readonly #actions: Partial<Record<Action, number>> = {};
  readonly #buckets = new Map<number, { requests: number; mitigated: number }>();
  #firstAttackMs: number | undefined;
  #firstMitigationMs: number | undefined;
  #requestsBeforeFirstMitigation = 0;
  readonly #takenOver = new Set<string>();
  readonly #scraped = new Set<string>();
  #followUpsDropped = 0;

  constructor(scenario: string, goals?: GoalEndpoints) {
    this.#scenario = scenario;
    this.#goals = goals;
  }

  check(label: string, timeMs: number, verdict: Verdict): void {
    this.#requests++;
    this.#actions[verdict.action] = (this.#actions[verdict.action] ?? 0) + 1;
    const kind = attackKindOf(label);
    if (isLegit(label)) {
      this.#legit.requests++;
      if (verdict.denied) this.#legit.falsePositives++;
      if (verdict.action !== "allow") this.#legit.friction++;
      if (label === LEGIT_NEW_ACCOUNT) {
        this.#newAccounts.requests++;
        if (verdict.action !== "allow") this.#newAccounts.friction++;
      }
    } else if (kind === undefined) {
      this.#unlabelled.requests++;
      if (verdict.denied) this.#unlabelled.denied++;
    } else {
      this.#attackCheck(kind, timeMs, verdict.denied);
      if (verdict.endpoint !== undefined && goalOf(kind, this.#goals)?.has(verdict.endpoint)) {
        this.#goal.requests++;
        if (verdict.denied) this.#goal.mitigated++;
      }
    }
  }

  #attackCheck(kind: string, timeMs: number, denied: boolean): void {
    this.#attack.requests++;
    const perKind = (this.#byKind[kind] ??= { requests: 0, mitigated: 0 });
    perKind.requests++;
    this.#firstAttackMs ??= timeMs;
    const bucket = this.#buckets.get(Math.floor(timeMs / SUSTAINED_BUCKET_MS)) ?? { requests: 0, mitigated: 0 };
    bucket.requests++;
    this.#buckets.set(Math.floor(timeMs / SUSTAINED_BUCKET_MS), bucket);
    if (!denied) {
      if (this.#firstMitigationMs === undefined) this.#requestsBeforeFirstMitigation++;
      return;
    }
    this.#attack.mitigated++;
    perKind.mitigated++;
    bucket.mitigated++;
    this.#firstMitigationMs ??= timeMs;
  }

  /** The application's answer to a request Palisade decided; `appStatus` as if it had been allowed. */
  outcome(request: DecidedRequest, appStatus: number | undefined): void {
    const kind = attackKindOf(request.label);
    if (!kind || request.verdict.denied || appStatus === undefined || appStatus < 200 || appStatus >= 300) return;
    // A step-up makes the application ask for a second factor the attacker, holding only the
    // password, does not have: the account is not his (the password is, and stays a finding).
    if (request.login && request.verdict.action !== "step_up") this.#takenOver.add(request.verdict.subject ?? request.path);
    if (kind === "scraping" && request.verdict.endpoint !== undefined) this.#scraped.add(request.path);
  }

  followUpDropped(): void {
    this.#followUpsDropped++;
  }

  figures(): ScenarioFigures {
    const ratio = (part: number, whole: number) => (whole === 0 ? null : part / whole);
    return {
      scenario: this.#scenario,
      requests: this.#requests,
      legit: {
        ...this.#legit,
        falsePositiveShare: ratio(this.#legit.falsePositives, this.#legit.requests),
        frictionShare: ratio(this.#legit.friction, this.#legit.requests),
        newAccounts: { ...this.#newAccounts },
      },
      attack: {
        ...this.#attack,
        mitigatedShare: ratio(this.#attack.mitigated, this.#attack.requests),
        byKind: this.#byKind,
        goal: { ...this.#goal, mitigatedShare: ratio(this.#goal.mitigated, this.#goal.requests) },
      },
      unlabelled: { ...this.#unlabelled },
      actions: { ...this.#actions },
      firstMitigationSeconds: this.#sinceFirstAttack(this.#firstMitigationMs),
      requestsBeforeFirstMitigation: this.#requestsBeforeFirstMitigation,
      sustainedMitigationSeconds: this.#sinceFirstAttack(this.#sustainedFromMs()),
      accountsTakenOver: this.#takenOver.size,
      resourcesScraped: this.#scraped.size,
      followUpsDropped: this.#followUpsDropped,
    };
  }

  #sinceFirstAttack(timeMs: number | undefined): number | null {
    return timeMs === undefined || this.#firstAttackMs === undefined ? null : Math.max(0, timeMs - this.#firstAttackMs) / 1000;
  }

  /** Walks the buckets backwards while each holds the line; the last one that does is the start. */
  #sustainedFromMs(): number | undefined {
    const buckets = [...this.#buckets].sort(([a], [b]) => a - b);
    let from: number | undefined;
    for (let i = buckets.length - 1; i >= 0; i--) {
      const [index, bucket] = buckets[i]!;
      if (bucket.mitigated / bucket.requests < SUSTAINED_SHARE) break;
      from = index * SUSTAINED_BUCKET_MS;
    }
    return from === undefined ? undefined : Math.max(from, this.#firstMitigationMs ?? from);
  }
}
