import { z } from "zod";
import { durationMs } from "../config/duration.js";

/**
 * The policy's `spec.response` block and the rules' adaptive `limit`: how Palisade carries out
 * what the rules decide. Kept apart from schema.ts, which passes in its duration type (taking it
 * as a parameter avoids an import cycle between the two files).
 */
type Duration = z.ZodType<string>;

export function responseSpec(duration: Duration) {
  const quarantine = z
    .object({
      duration: duration.default("15m").describe("Quarantine length for a rule that gives no retryAfter"),
      escalation: z
        .object({
          factor: z.number().min(1).max(10).default(2).describe("Each repeat offence multiplies the duration by this"),
          max: duration.default("24h").describe("No quarantine lasts longer than this"),
          memory: duration.default("7d").describe("Offences are forgotten after this long without one"),
        })
        .strict()
        .prefault({}),
    })
    .strict()
    .prefault({});
  return z
    .object({
      quarantine,
      friction: z
        .object({ relief: duration.default("30m").describe("A passed challenge or MFA waives them this long") })
        .strict()
        .prefault({}),
      audit: z
        .object({
          retention: duration.default("30d"),
          maxEntries: z.number().int().positive().max(10_000_000).default(100_000),
        })
        .strict()
        .prefault({}),
      decisions: z
        .object({
          retention: duration.default("7d").describe("Decision records (every enforcement, aggregated per minute) are kept this long"),
          perMinute: z
            .number()
            .int()
            .min(10)
            .max(100_000)
            .default(500)
            .describe("Distinct records a minute holds fleet-wide; further clients are counted per rule without their subject"),
        })
        .strict()
        .prefault({}),
      overrides: z
        .object({ maxDuration: duration.default("30d").describe("Runtime overrides without an expiry lapse after this") })
        .strict()
        .prefault({}),
      history: z
        .object({ versions: z.number().int().min(1).max(100).default(10).describe("Policy versions kept for rollback") })
        .strict()
        .prefault({}),
    })
    .strict()
    .describe("Quarantine escalation, friction relief, audit and decision-record retention, runtime overrides and rollback history");
}

/**
 * Adaptive limit of a rule: the rule acts only on requests beyond the limit, and the limit
 * shrinks linearly from `requests` at risk 0 to `floor` at risk 100.
 */
export function adaptiveLimitSpec(duration: Duration) {
  return z
    .object({
      requests: z.number().int().positive().describe("Requests per window per scope at risk 0"),
      window: duration.default("1m"),
      floor: z.number().int().min(1).default(1).describe("Requests per window at risk 100"),
    })
    .strict()
    .refine((limit) => limit.floor <= limit.requests, { message: "floor must not exceed requests" })
    .describe("Act only beyond this many requests per window, fewer the riskier the client");
}

export type ResponseSpec = z.output<ReturnType<typeof responseSpec>>;
export type AdaptiveLimitSpec = z.output<ReturnType<typeof adaptiveLimitSpec>>;

/** The response block with durations in milliseconds. */
export interface CompiledResponse {
  quarantine: { durationMs: number; escalation: { factor: number; maxMs: number; memoryMs: number } };
  friction: { reliefMs: number };
  audit: { maxAgeMs: number; maxEntries: number };
  decisions: { retentionMs: number; perMinute: number };
  overrides: { maxDurationMs: number };
  history: { versions: number };
}

export interface CompiledLimit {
  requests: number;
  windowMs: number;
  floor: number;
}

export function compileResponse(spec: ResponseSpec): CompiledResponse {
  const { escalation } = spec.quarantine;
  return {
    quarantine: {
      durationMs: durationMs(spec.quarantine.duration),
      escalation: { factor: escalation.factor, maxMs: durationMs(escalation.max), memoryMs: durationMs(escalation.memory) },
    },
    friction: { reliefMs: durationMs(spec.friction.relief) },
    audit: { maxAgeMs: durationMs(spec.audit.retention), maxEntries: spec.audit.maxEntries },
    decisions: { retentionMs: durationMs(spec.decisions.retention), perMinute: spec.decisions.perMinute },
    overrides: { maxDurationMs: durationMs(spec.overrides.maxDuration) },
    history: { versions: spec.history.versions },
  };
}

export function compileLimit(spec: AdaptiveLimitSpec): CompiledLimit {
  return { requests: spec.requests, windowMs: durationMs(spec.window), floor: spec.floor };
}
