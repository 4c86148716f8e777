import { z } from "zod";

/**
 * One rate-limit configuration file, in envoyproxy/ratelimit's format (one domain per file; with
 * domain merging, several files may add to one domain), with every key that project reads, plus
 * Palisade's extensions, all optional: `unit_multiplier`, `algorithm`, `burst`, `risk_floor` on a
 * rate limit and `failure_mode` on the domain. Every object is strict, so `ratelimit:` typed for
 * `rate_limit:` is an error instead of a descriptor that silently limits nothing.
 */

/** The units of Envoy's RateLimitResponse.RateLimit.Unit, which envoyproxy/ratelimit accepts in files. */
export const UNITS = ["second", "minute", "hour", "day", "week", "month", "year"] as const;
export const ALGORITHMS = ["fixed_window", "sliding_window"] as const;
export const FAILURE_MODES = ["error", "open", "closed", "local"] as const;

/** envoyproxy/ratelimit reads units case-insensitively (`SECOND` and `second`). */
const unit = z
  .string()
  .transform((text) => text.toLowerCase())
  .pipe(z.enum(UNITS))
  .describe("The window: second, minute, hour, day, week, month (30 days) or year (365 days), times unit_multiplier");

/** A request count; Envoy's proto carries it as uint32. */
const requestCount = z.number().int().min(0).max(0xffff_ffff);

/** Fields shared by a rate limit and its burst limit: one counted window. */
const windowFields = {
  unit: unit.optional(),
  requests_per_unit: requestCount.optional().describe("Requests allowed per window"),
  unit_multiplier: z.number().int().min(1).optional().describe("Window length in units, e.g. 5 with unit: minute; default 1"),
  algorithm: z
    .enum(ALGORITHMS)
    .optional()
    .describe("fixed_window (default, as envoyproxy/ratelimit counts) or sliding_window (no double quota at a window edge)"),
};

const burst = z
  .object(windowFields)
  .strict()
  .describe("A second limit on the same key, usually short (e.g. 20 per second beside 600 per minute); both must hold");

const rateLimit = z
  .object({
    name: z.string().min(1).optional().describe("Names the limit for replaces and for Envoy's x-ratelimit headers"),
    replaces: z
      // envoyproxy/ratelimit reads `- name:` as an empty name and refuses it; so does the compiler, more clearly.
      .array(z.object({ name: z.string().nullish() }).strict())
      .nullish()
      .describe("Limits (by name) that do not apply to a request this limit applies to"),
    unlimited: z.boolean().optional().describe("Counts nothing and always answers OK, with statistics"),
    ...windowFields,
    burst: burst.optional(),
    risk_floor: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("Scale the limit by the client's risk: the whole limit at risk 0, this fraction of it at risk 100"),
  })
  .strict();

/** Values are matched as text; YAML reads `value: 500` as a number. `value:` (empty) means no value. */
const descriptorValue = z.union([z.string(), z.number(), z.boolean(), z.null()]).transform((value) => (value === null ? "" : String(value)));

/** Free-form metadata, sent back to Envoy as dynamic metadata when the descriptor passes. */
const metadata = z.record(z.string(), z.unknown());

export const descriptorSchema = z
  .object({
    key: z.string().min(1),
    value: descriptorValue
      .optional()
      .describe("Matches only this value, where each * matches any text; absent: any value (the default for the key)"),
    rate_limit: rateLimit.nullish(),
    shadow_mode: z.boolean().optional().describe("Count and report, but always answer OK"),
    quota_mode: z
      .boolean()
      .optional()
      .describe("A quota: over it, the request is denied only when every quota descriptor of the request is over too"),
    detailed_metric: z.boolean().optional().describe("Statistics per request value, not rolled up into the key"),
    value_to_metric: z.boolean().optional().describe("Statistics name the request's value where this level matched by key or wildcard"),
    share_threshold: z
      .boolean()
      .optional()
      .describe("Every value matching this wildcard counts against one shared limit, not one limit per value"),
    metadata: metadata.nullish().describe("Returned in Envoy's dynamic metadata (envoy.filters.http.ratelimit) when the descriptor passes"),
    get descriptors() {
      return z.array(descriptorSchema).nullish();
    },
  })
  .strict();

export const domainFileSchema = z
  .object({
    domain: z.string().min(1),
    descriptors: z.array(descriptorSchema).nullish(),
    failure_mode: z
      .enum(FAILURE_MODES)
      .optional()
      .describe(
        "When the store cannot answer: error (default) = gRPC UNAVAILABLE, so Envoy's failure_mode_deny decides; " +
          "open = OK; closed = OVER_LIMIT; local = count on this replica's local state",
      ),
  })
  .strict();

export type DomainFile = z.output<typeof domainFileSchema>;
export type DescriptorSpec = z.output<typeof descriptorSchema>;
export type RateLimitSpec = NonNullable<DescriptorSpec["rate_limit"]>;
export type WindowSpec = z.output<typeof burst>;
export type Unit = (typeof UNITS)[number];
export type FailureMode = (typeof FAILURE_MODES)[number];
