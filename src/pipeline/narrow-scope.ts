import type { Reason, Scope } from "../domain/decision.js";
import type { CompiledRule } from "../policy/compile.js";

/** The reason a narrowed quarantine carries (weight 0): what it was aimed at, and why not any more. */
export const NARROWED = "scope.narrowed";

const ADDRESS_SCOPES: ReadonlySet<Scope> = new Set(["ip", "subnet"]);

/**
 * A quarantine of an address held everyone behind it for one client's evidence: a stolen refresh
 * token flagged on its owner's refresh held the owner's home address, or a carrier's CGNAT and
 * the other phones behind it. Where all of the weighted evidence is about the token
 * (`session.*`), the quarantine is aimed at the request's session instead; a request without one
 * is denied alone, with no lasting quarantine. Anything else keeps the address scope, shared
 * address or not: a crowd behind an address (`ip.shared_by`) is cheap to fake with invented
 * cookies, and a prober who made one would otherwise shed every quarantine he earned.
 */
export function narrowedScope(rule: Pick<CompiledRule, "id" | "action" | "scope">, reasons: readonly Reason[], hasSession: boolean): { scope: Scope; reason: Reason } | undefined {
  const { action, scope } = rule;
  if (action !== "quarantine" || !scope || !ADDRESS_SCOPES.has(scope)) return undefined;
  const evidence = reasons.filter((reason) => reason.weight > 0);
  if (evidence.length === 0 || !evidence.every((reason) => reason.code.startsWith("session."))) return undefined;
  const target = hasSession ? "the session" : "this request alone (no session to hold)";
  return { scope: "session", reason: { code: NARROWED, value: 0, weight: 0, detail: `${rule.id}'s ${scope} quarantine narrowed to ${target}: evidence about the token only` } };
}
