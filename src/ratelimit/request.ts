import type { LimitUnit } from "./config.js";

/**
 * The rate-limit vocabulary of the core, free of protobuf: what Envoy asks (a domain and a list
 * of descriptors) and what Palisade answers. The gRPC converter is the only mapping from and to
 * Envoy's RateLimitRequest / RateLimitResponse.
 */

export interface DescriptorEntry {
  key: string;
  value: string;
}

/** A limit Envoy sends with a descriptor (route `limit` override); it replaces the configured one. */
export interface LimitOverride {
  requestsPerUnit: number;
  unit: LimitUnit;
}

export interface RateLimitDescriptor {
  entries: DescriptorEntry[];
  limit?: LimitOverride;
  /** This descriptor's cost when Envoy set one (0 only checks); the request's otherwise. */
  hits?: number;
}

export interface RateLimitRequest {
  domain: string;
  descriptors: RateLimitDescriptor[];
  /** Cost of the request in every descriptor without a cost of its own; 0 means 1, as in Envoy. */
  hits: number;
}

export type RateLimitCode = "OK" | "OVER_LIMIT";

/** The limit a status was decided against, as Envoy shows it in its x-ratelimit headers. */
export interface CurrentLimit {
  name?: string;
  requestsPerUnit: number;
  unit: LimitUnit;
  /** The real window (unit × unit_multiplier), which Envoy's unit alone cannot say. */
  windowMs: number;
}

export interface DescriptorStatus {
  code: RateLimitCode;
  /** Absent when no limit applied: no rule matched, unlimited, replaced, or not evaluated. */
  currentLimit?: CurrentLimit;
  limitRemaining: number;
  durationUntilResetMs?: number;
}

export interface RateLimitDecision {
  overallCode: RateLimitCode;
  /** Exactly one per request descriptor, in order. */
  statuses: DescriptorStatus[];
  /** x-ratelimit-limit / -remaining / -reset for the client, when any limit applied. */
  responseHeaders: [string, string][];
  /** For Envoy's dynamic metadata (`envoy.filters.http.ratelimit`), hence access logs. */
  metadata: DecisionMetadata;
  /** Sent as the dynamic metadata instead of `metadata`: envoyproxy/ratelimit's own, in its compatibility mode. */
  envoyMetadata?: Record<string, unknown>;
}

export interface DecisionMetadata {
  domain: string;
  /** The client risk the limits were scaled by, when the request carried one. */
  risk?: number;
  /** The store could not answer and the domain's failure_mode decided. */
  degraded?: boolean;
  /** A shadow-mode limit would have answered OVER_LIMIT. */
  shadow_over_limit?: boolean;
  /** The configured `metadata` of the descriptors that passed (envoyproxy/ratelimit's, under its own name). */
  metadata?: Record<string, unknown>;
}

/** Descriptors with no limit report this many requests remaining, as envoyproxy/ratelimit does. */
export const UNLIMITED_REMAINING = 0xffff_ffff;

/** The most hits one descriptor may add: Envoy's request-level field is a uint32. */
export const MAX_HITS = 0xffff_ffff;

/** Input the service refuses with INVALID_ARGUMENT rather than answer. */
export class RateLimitRequestError extends Error {
  override readonly name = "RateLimitRequestError";
  readonly code = "ratelimit.invalid_request";
}

/**
 * The store could not answer and the domain's failure_mode is `error`: the service answers gRPC
 * UNAVAILABLE, so that Envoy's failure_mode_deny decides, never an accidental OK.
 */
export class RateLimitUnavailableError extends Error {
  override readonly name = "RateLimitUnavailableError";
  readonly code = "store.unavailable";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
