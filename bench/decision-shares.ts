import type { EnvoyCheckResponse } from "../test/support/envoy-client.js";
import { storefrontKind, type StorefrontKind } from "./traffic.js";

/** How the answers to a run's Checks split, overall and per kind of request: the mix a figure stands for. */
export interface DecisionSharesSummary {
  checks: number;
  /** Share of all Checks (0–1) per answer: Palisade's action, or `allow` / `denied <status>` without one. */
  answers: Record<string, number>;
  kinds: Partial<Record<StorefrontKind, { checks: number; answers: Record<string, number> }>>;
}

/** The action an answer carries in its dynamic metadata; a no-op server's answers carry none. */
export function answerAction(response: EnvoyCheckResponse): string {
  const action = response.dynamic_metadata?.fields?.action?.stringValue;
  if (action) return action;
  return response.status.code === 0 ? "allow" : `denied ${response.denied_response?.status.code ?? response.status.code}`;
}

/** Counts the answers to the storefront mix's Checks by the kind of request (bench/traffic.ts) and action. */
export class DecisionShares {
  readonly #counts = new Map<StorefrontKind, Map<string, number>>();

  /** The answer to Check `index` of the mix. */
  record(index: number, action: string): void {
    const kind = storefrontKind(index);
    let answers = this.#counts.get(kind);
    if (!answers) this.#counts.set(kind, (answers = new Map()));
    answers.set(action, (answers.get(action) ?? 0) + 1);
  }

  summary(): DecisionSharesSummary {
    const share = (count: number, of: number) => Math.round((count / of) * 1000) / 1000;
    const total = new Map<string, number>();
    let checks = 0;
    for (const answers of this.#counts.values()) {
      for (const [action, count] of answers) {
        total.set(action, (total.get(action) ?? 0) + count);
        checks += count;
      }
    }
    const shares = (answers: Map<string, number>, of: number) => Object.fromEntries([...answers].sort((a, b) => b[1] - a[1]).map(([action, count]) => [action, share(count, of)]));
    const kinds: DecisionSharesSummary["kinds"] = {};
    for (const [kind, answers] of this.#counts) {
      const count = [...answers.values()].reduce((sum, n) => sum + n, 0);
      kinds[kind] = { checks: count, answers: shares(answers, count) };
    }
    return { checks, answers: shares(total, checks), kinds };
  }
}

/** One line: `allow 92.1%, throttle 6.0% …; asset: allow 100%; product: …` over `checks` answers. */
export function sharesLine({ checks, answers, kinds }: DecisionSharesSummary): string {
  const percent = (shares: Record<string, number>) => Object.entries(shares).map(([action, share]) => `${action} ${(share * 100).toFixed(1)}%`).join(", ");
  const perKind = Object.entries(kinds).map(([kind, { checks: n, answers: a }]) => `${kind} (${n}): ${percent(a)}`).join("; ");
  return `decisions over ${checks} Checks: ${percent(answers)}; ${perKind}`;
}
