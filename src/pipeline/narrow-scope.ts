import type { Reason, Scope } from "../domain/decision.js";
import type { Signal } from "../detection/signal.js";
import type { CompiledRule } from "../policy/compile.js";

/** The reason a narrowed quarantine carries (weight 0): what it was aimed at, and why not any more. */
export const NARROWED = "scope.narrowed";

const ADDRESS_SCOPES: ReadonlySet<Scope> = new Set(["ip", "subnet"]);

/**
 * Evidence about the address itself (its counts, lists and network) rather than about the one
 * client that sent this request: `ip.*`, `subnet.*`, `network.*`, `*.ip`, `*.subnet`.
 */
function aboutTheAddress(code: string): boolean {
  return code.startsWith("ip.") || code.startsWith("subnet.") || code.startsWith("network.") || code.endsWith(".ip") || code.endsWith(".subnet");
}

/**
 * A quarantine of an address held everyone behind it for one client's evidence: a stolen refresh
 * token flagged on its owner's refresh held the owner's home address, or a carrier's CGNAT and
 * the other phones behind it. Where none of the weighted evidence is about the address and
 * either all of it is about the token (`session.*`) or the address is shared by a crowd of
 * clients (`ip.shared_by`), the quarantine is aimed at the request's session instead; a request
 * without one is denied alone, with no lasting quarantine. Anything the address did itself (its
 * login counts, probes, failure ratio, lists) keeps the address scope.
 */
export function narrowedScope(rule: Pick<CompiledRule, "id" | "action" | "scope">, signals: readonly Signal[], reasons: readonly Reason[], hasSession: boolean): { scope: Scope; reason: Reason } | undefined {
  const { action, scope } = rule;
  if (action !== "quarantine" || !scope || !ADDRESS_SCOPES.has(scope)) return undefined;
  const evidence = reasons.filter((reason) => reason.weight > 0);
  if (evidence.length === 0 || evidence.some((reason) => aboutTheAddress(reason.code))) return undefined;
  const shared = signals.find((signal) => signal.code === "ip.shared_by" && signal.fired);
  const tokenOnly = evidence.every((reason) => reason.code.startsWith("session."));
  if (!shared && !tokenOnly) return undefined;
  const why = shared ? `an address shared by ${shared.value} clients` : "evidence about the token only";
  const target = hasSession ? "the session" : "this request alone (no session to hold)";
  return { scope: "session", reason: { code: NARROWED, value: shared?.value ?? 0, weight: 0, detail: `${rule.id}'s ${scope} quarantine narrowed to ${target}: ${why}` } };
}
