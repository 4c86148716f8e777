import type { CheckEvent } from "./events.js";
import { table } from "./report.js";
import type { Verdict } from "./target.js";

export interface Transition {
  from: string;
  to: string;
  count: number;
  /** Request ids and pseudonyms only: never a raw address or username. */
  examples: { requestId: string; line: number; endpoint?: string; subject?: string; ruleBefore?: string; ruleAfter?: string }[];
}

/**
 * Tallies, request by request, how the candidate policy's action differs from the current
 * one's. Both see the same traffic, each with its own state, so later differences include the
 * knock-on effects of earlier ones (a client throttled sooner stays throttled).
 */
export class DecisionDiff {
  readonly #transitions = new Map<string, Transition>();
  #compared = 0;

  constructor(private readonly examplesPerTransition: number) {}

  record(event: CheckEvent, [candidate, current]: Verdict[]): void {
    if (!candidate || !current) return;
    this.#compared++;
    if (candidate.action === current.action) return;
    const key = `${current.action}→${candidate.action}`;
    let transition = this.#transitions.get(key);
    if (!transition) this.#transitions.set(key, (transition = { from: current.action, to: candidate.action, count: 0, examples: [] }));
    transition.count++;
    if (transition.examples.length < this.examplesPerTransition) {
      transition.examples.push({
        requestId: event.request.attributes?.request?.http?.id ?? `line-${event.line}`,
        line: event.line,
        endpoint: candidate.endpoint,
        subject: candidate.subject,
        ruleBefore: current.rule,
        ruleAfter: candidate.rule,
      });
    }
  }

  summary(): { compared: number; changed: number; transitions: Transition[] } {
    const transitions = [...this.#transitions.values()].sort((a, b) => b.count - a.count);
    return { compared: this.#compared, changed: transitions.reduce((sum, t) => sum + t.count, 0), transitions };
  }

  text(current: string, candidate: string): string {
    const { compared, changed, transitions } = this.summary();
    const lines = [`decisions that change from ${current} to ${candidate}: ${changed} of ${compared}`];
    if (transitions.length === 0) return lines.join("\n");
    lines.push("", ...table([["current → new", "requests"], ...transitions.map((t) => [`${t.from} → ${t.to}`, String(t.count)])]), "", "examples (request id, line, endpoint, pseudonymous subject, rule before → after):");
    for (const t of transitions) {
      for (const e of t.examples) {
        const id = e.requestId === `line-${e.line}` ? "-" : e.requestId;
        lines.push(`  ${t.from} → ${t.to}  ${id}  line ${e.line}  ${e.endpoint ?? "-"}  ${e.subject ?? "-"}  ${e.ruleBefore ?? "-"} → ${e.ruleAfter ?? "-"}`);
      }
    }
    return lines.join("\n");
  }
}
