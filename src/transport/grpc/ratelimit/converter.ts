/**
 * The only mapping between Envoy's rate-limit service messages (RLS v3) and the rate-limit core.
 */
import type { LimitUnit } from "../../../ratelimit/config.js";
import type {
  DecisionMetadata,
  DescriptorEntry,
  DescriptorStatus,
  LimitOverride,
  RateLimitDecision,
  RateLimitDescriptor,
  RateLimitRequest,
} from "../../../ratelimit/request.js";
import {
  toStruct,
  type DescriptorStatus as DescriptorStatusMessage,
  type Duration,
  type RateLimitDescriptor as DescriptorMessage,
  type RateLimitRequest as RequestMessage,
  type RateLimitResponse,
  type RateLimitUnit,
} from "../protos.js";

// ---------------------------------------------------------------------------------------------
// RateLimitRequest → RateLimitRequest (core)
// ---------------------------------------------------------------------------------------------

/**
 * Reads what the core needs. Never throws: a missing or malformed field becomes an empty one,
 * and the core decides what an empty domain or descriptor list gets.
 */
export function toRateLimitRequest(message: RequestMessage | null | undefined): RateLimitRequest {
  const messages = Array.isArray(message?.descriptors) ? message.descriptors : [];
  // Loops rather than map/flatMap: this runs for every descriptor of every ShouldRateLimit.
  const descriptors: RateLimitDescriptor[] = [];
  for (const descriptor of messages) descriptors.push(toDescriptor(descriptor));
  return {
    domain: typeof message?.domain === "string" ? message.domain : "",
    descriptors,
    hits: wholeNumber(message?.hits_addend) ?? 0,
  };
}

function toDescriptor(message: DescriptorMessage | null | undefined): RateLimitDescriptor {
  const descriptor: RateLimitDescriptor = { entries: Array.isArray(message?.entries) ? toEntries(message.entries) : [] };
  if (message?.limit) {
    const limit = toOverride(message.limit);
    if (limit) descriptor.limit = limit;
  }
  // A UInt64Value: present (even 0) means the descriptor has a cost of its own.
  const hits = message?.hits_addend ? wholeNumber(message.hits_addend.value ?? 0) : undefined;
  if (hits !== undefined) descriptor.hits = hits;
  return descriptor;
}

type EntryMessage = { key?: unknown; value?: unknown } | null | undefined;

/**
 * The entries with a text key and value. The core only reads them, so when all are (as decoded,
 * always) the decoded list is the core's, without a copy per request.
 */
function toEntries(messages: readonly EntryMessage[]): DescriptorEntry[] {
  let all = true;
  for (const entry of messages) if (!whole(entry)) all = false;
  if (all) return messages as DescriptorEntry[];
  const entries: DescriptorEntry[] = [];
  for (const entry of messages) if (whole(entry)) entries.push({ key: entry.key, value: entry.value });
  return entries;
}

function whole(entry: EntryMessage): entry is DescriptorEntry {
  return typeof entry?.key === "string" && typeof entry.value === "string";
}

const OVERRIDE_UNITS: Readonly<Partial<Record<string, LimitUnit>>> = {
  SECOND: "second",
  MINUTE: "minute",
  HOUR: "hour",
  DAY: "day",
  WEEK: "week",
  MONTH: "month",
  YEAR: "year",
};

/** An override without a unit Palisade knows (UNKNOWN, or one newer than these protos) is ignored. */
function toOverride(limit: DescriptorMessage["limit"]): LimitOverride | undefined {
  const unit = typeof limit?.unit === "string" && Object.hasOwn(OVERRIDE_UNITS, limit.unit) ? OVERRIDE_UNITS[limit.unit] : undefined;
  const requestsPerUnit = wholeNumber(limit?.requests_per_unit);
  return unit && requestsPerUnit !== undefined ? { requestsPerUnit, unit } : undefined;
}

/** uint32 / uint64 fields: numbers, or decimal strings for 64-bit values; anything else is absent. */
function wholeNumber(value: unknown): number | undefined {
  const number = typeof value === "string" ? Number(value) : value;
  return typeof number === "number" && Number.isFinite(number) && number >= 0 ? Math.floor(number) : undefined;
}

// ---------------------------------------------------------------------------------------------
// RateLimitDecision → RateLimitResponse
// ---------------------------------------------------------------------------------------------

const UNIT_NAMES: Readonly<Record<LimitUnit, RateLimitUnit>> = {
  second: "SECOND",
  minute: "MINUTE",
  hour: "HOUR",
  day: "DAY",
  week: "WEEK",
  month: "MONTH",
  year: "YEAR",
};

const UINT32_MAX = 0xffff_ffff;

/**
 * overall_code is always OK or OVER_LIMIT: Envoy treats anything but OVER_LIMIT as OK, so an
 * UNKNOWN would silently let traffic through and bypass failure_mode_deny. Headers go as plain
 * HeaderValue (RLS, unlike ext_authz, has no append options); Envoy adds them to the response.
 */
export function toRateLimitResponse(decision: RateLimitDecision): RateLimitResponse {
  return {
    overall_code: decision.overallCode,
    statuses: decision.statuses.map(toStatusMessage),
    response_headers_to_add: decision.responseHeaders.map(([key, value]) => ({ key, value })),
    // toStruct only reads the metadata's own fields: no copy of it.
    dynamic_metadata: toStruct(decision.envoyMetadata ?? (decision.metadata as Readonly<DecisionMetadata> & Record<string, unknown>)),
  };
}

function toStatusMessage(status: DescriptorStatus): DescriptorStatusMessage {
  const limit = status.currentLimit;
  let currentLimit: NonNullable<DescriptorStatusMessage["current_limit"]> | null = null;
  if (limit) {
    currentLimit = { requests_per_unit: clampUint32(limit.requestsPerUnit), unit: UNIT_NAMES[limit.unit] };
    if (limit.name !== undefined) currentLimit.name = limit.name;
  }
  return {
    code: status.code,
    current_limit: currentLimit,
    limit_remaining: clampUint32(status.limitRemaining),
    duration_until_reset: status.durationUntilResetMs === undefined ? null : toDuration(status.durationUntilResetMs),
  };
}

function toDuration(ms: number): Duration {
  const whole = Math.max(0, Math.round(ms));
  return { seconds: Math.floor(whole / 1000), nanos: (whole % 1000) * 1_000_000 };
}

function clampUint32(value: number): number {
  return Number.isFinite(value) ? Math.min(UINT32_MAX, Math.max(0, Math.floor(value))) : 0;
}
