/**
 * Risk-adaptive limits. Envoy puts the client's risk, as Palisade's ext_authz decision scored it,
 * into a descriptor entry with this key (a `metadata` rate-limit action reading the ext_authz
 * filter's dynamic metadata). The entry is read and removed before matching: it is an input to
 * the limit, not part of what is counted, or a client's counter would restart whenever its risk
 * changed.
 */
export const RISK_ENTRY_KEY = "palisade_risk";

/** A risk score 0-100 from an entry value; undefined when it is not a number. */
export function parseRisk(value: string): number | undefined {
  const trimmed = value.trim();
  const risk = trimmed === "" ? Number.NaN : Number(trimmed);
  if (!Number.isFinite(risk)) return undefined;
  return Math.min(100, Math.max(0, risk));
}

/**
 * The limit for a client at `risk`: all of `limit` at risk 0, falling linearly to `floor` × limit
 * at risk 100, rounded down (a risky client never gets more than its share). The epsilon keeps
 * binary fractions from rounding an exact result down: 100 × (1 − 0.9) is 9.999…98 in doubles.
 */
export function riskScaledLimit(limit: number, floor: number, risk: number): number {
  return Math.floor(limit * (1 - ((1 - floor) * risk) / 100) + 1e-9);
}
