import type { HTTPAccessLogEntry } from "../../transport/grpc/protos.js";
import { TimeOrder } from "./reorder.js";
import { isProblem, problem, type AccessLogEvent, type CheckEvent, type HistoryEvent, type Problem, type ReplayEvent } from "./events.js";
import { ScenarioStats, type DecidedRequest, type GoalEndpoints, type ScenarioFigures } from "./stats.js";
import type { ReplayTarget, Verdict } from "./target.js";

export interface ReplayOptions {
  /** Every target decides every request; the first one's decisions make the figures. */
  targets: ReplayTarget[];
  /** Endpoint names the policy marks as logins (authentication: true). */
  loginEndpoints: ReadonlySet<string>;
  /** Endpoint names with a `resource` (catalogue reads): with the logins, what attacks' goal requests are counted by (GoalEndpoints); none when absent. */
  resourceEndpoints?: ReadonlySet<string>;
  /**
   * Events are put back in time order within this much event time; one older than that has
   * missed its windows and is skipped (see reorder.ts).
   */
  maxDisorderMs: number;
  /** Told after each event (for the progress bar). */
  onEvent?: (eventsDone: number) => void;
  /** Told every decided request with every target's verdict (for --compare). */
  onDecided?: (event: CheckEvent, verdicts: Verdict[]) => void;
}

export interface ReplayResult {
  scenarios: ScenarioFigures[];
  events: { checks: number; accessLogs: number; history: number };
  problems: Problem[];
  /** Told by targets when closing (a server without the access-log service…). */
  notes: string[];
  elapsedMs: number;
}

/** Requests waiting for their access-log entry; Envoy logs within seconds of the Check. */
const MAX_PENDING = 200_000;

/**
 * Feeds events through the targets in input order. Each access-log entry is joined to its
 * Check by request id: when Palisade denied the Check the application never saw the request,
 * so the entry is rewritten to what Envoy logs then (Palisade's status, the UAEX flag) before
 * it reaches the outcome path, and the application's answer only counts when it was allowed.
 */
export async function replay(events: AsyncIterable<ReplayEvent | Problem>, options: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const state = new ReplayState(options);
  const order = new TimeOrder(options.maxDisorderMs);
  for await (const item of events) {
    const ready = isProblem(item) ? item : order.push(item);
    if (isProblem(ready)) state.problems.push(ready);
    else for (const event of ready) await state.handle(event);
    options.onEvent?.(++state.read);
  }
  for (const event of order.drain()) await state.handle(event);
  const reordered = order.summary();
  if (reordered) state.problems.push(reordered);
  const notes = (await Promise.all(options.targets.map((target) => target.close()))).flat();
  if (state.counts.history > 0) {
    for (const target of options.targets.filter((t) => !t.history)) {
      notes.push(`${target.name}: ${state.counts.history} history lines skipped (a live server learns account history only from traffic)`);
    }
  }
  return {
    scenarios: [...state.stats.values()].map((stats) => stats.figures()),
    events: state.counts,
    problems: state.problems,
    notes,
    elapsedMs: performance.now() - started,
  };
}

class ReplayState {
  readonly stats = new Map<string, ScenarioStats>();
  readonly problems: Problem[] = [];
  readonly counts = { checks: 0, accessLogs: 0, history: 0 };
  /** Input items read so far, for progress. */
  read = 0;
  readonly #pending = new BoundedMap<{ request: DecidedRequest; verdicts: Verdict[] }>(MAX_PENDING);
  readonly #deniedIds = new BoundedMap<true>(MAX_PENDING);

  readonly #goals: GoalEndpoints;

  constructor(private readonly options: ReplayOptions) {
    this.#goals = { login: options.loginEndpoints, resource: options.resourceEndpoints ?? new Set() };
  }

  async handle(event: ReplayEvent): Promise<void> {
    const stats = this.#statsFor(event.scenario);
    if (event.causedBy && this.#deniedIds.has(event.causedBy)) {
      // The attacker never learnt what this request needed: it would not have been sent.
      if (event.kind === "check") stats.followUpDropped();
      return;
    }
    if (event.kind === "check") await this.#check(event, stats);
    else if (event.kind === "history") await this.#history(event);
    else await this.#log(event, stats);
  }

  #statsFor(scenario: string): ScenarioStats {
    let stats = this.stats.get(scenario);
    if (!stats) this.stats.set(scenario, (stats = new ScenarioStats(scenario, this.#goals)));
    return stats;
  }

  async #check(event: CheckEvent, stats: ScenarioStats): Promise<void> {
    this.counts.checks++;
    const verdicts = await Promise.all(this.options.targets.map((target) => target.check(event.request, event.timeMs)));
    const verdict = verdicts[0]!;
    stats.check(event.label, event.timeMs, verdict);
    const id = event.request.attributes?.request?.http?.id;
    const request: DecidedRequest = {
      scenario: event.scenario,
      label: event.label,
      path: event.request.attributes?.request?.http?.path ?? "",
      verdict,
      login: verdict.endpoint !== undefined && this.options.loginEndpoints.has(verdict.endpoint),
    };
    if (id) {
      this.#pending.set(id, { request, verdicts });
      if (verdict.denied) this.#deniedIds.set(id, true);
    }
    this.options.onDecided?.(event, verdicts);
  }

  async #history(event: HistoryEvent): Promise<void> {
    this.counts.history++;
    await Promise.all(this.options.targets.map((target) => target.history?.(event.request, event.timeMs)));
  }

  async #log(event: AccessLogEvent, stats: ScenarioStats): Promise<void> {
    this.counts.accessLogs++;
    const id = event.entry.request?.request_id;
    const decided = id ? this.#pending.take(id) : undefined;
    if (!decided) {
      this.problems.push(problem(event.line, "unmatched", `access-log entry for ${id ? `request ${id}` : "a request without an id"} has no Check before it: passed on as logged`, false));
    } else {
      stats.outcome(decided.request, Number(event.entry.response?.response_code?.value) || undefined);
    }
    await Promise.all(
      this.options.targets.map((target, i) => target.log(asLogged(event.entry, decided?.verdicts[i]))),
    );
  }
}

/**
 * Insertion-ordered and bounded: the oldest entries go first. (lru-cache resets its whole
 * preallocated store whenever it becomes empty, which a queue of one or two pending requests
 * does on nearly every event.)
 */
class BoundedMap<V> {
  readonly #map = new Map<string, V>();
  constructor(private readonly max: number) {}

  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value!);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  take(key: string): V | undefined {
    const value = this.#map.get(key);
    this.#map.delete(key);
    return value;
  }
}

/** What Envoy logs for a request its ext_authz filter denied: the denial, flagged UAEX. */
export function asLogged(entry: HTTPAccessLogEntry, verdict: Verdict | undefined): HTTPAccessLogEntry {
  if (!verdict?.denied) return entry;
  return {
    ...entry,
    common_properties: {
      ...entry.common_properties,
      response_flags: { ...entry.common_properties?.response_flags, unauthorized_details: { reason: "EXTERNAL_SERVICE" } },
    },
    response: {
      ...entry.response,
      response_code: { value: verdict.status ?? 403 },
      response_code_details: "ext_authz_denied",
      response_body_bytes: 0,
    },
  };
}
