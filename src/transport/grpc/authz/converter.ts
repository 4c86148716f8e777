/**
 * The only mapping between ext_authz protobuf messages and Palisade's domain types.
 * docs/design.md ("The decision") fixes what every CheckResponse must carry.
 */
import { acceptsHtml, chooseLanguage, renderChallengePage } from "../../../challenge/page.js";
import type { IssuedChallenge } from "../../../challenge/proof-of-work.js";
import { challengeRoutes, PASS_HEADER, type CompiledProofOfWork } from "../../../policy/challenge-schema.js";
import type { Action, Decision, Reason } from "../../../domain/decision.js";
import { HEADER_CEILING, type HttpAttributes } from "../../../domain/request.js";
import {
  timestampToMs,
  toValue,
  type AttributeContext,
  type AttributeHttpRequest,
  type CheckRequest,
  type CheckResponse,
  type HeaderValueOption,
  type Metadata,
  type StatusCode,
  type Struct,
  type Value,
} from "../protos.js";
import { METADATA_KEYS } from "./metadata-keys.js";

// ---------------------------------------------------------------------------------------------
// CheckRequest → HttpAttributes
// ---------------------------------------------------------------------------------------------

/**
 * Reads what Palisade needs from a CheckRequest. Never throws: any attribute may be absent or
 * malformed, and what cannot be read is left out for the pipeline to judge.
 */
export function toHttpAttributes(request: CheckRequest | null | undefined): HttpAttributes {
  const attributes = asObject<AttributeContext>(request?.attributes);
  const http = asObject<AttributeHttpRequest>(asObject<{ http?: unknown }>(attributes?.request)?.http);
  const result: HttpAttributes = { headers: readHeaders(http) };
  assignText(result, "requestId", http?.id);
  assignText(result, "method", http?.method);
  assignText(result, "path", http?.path);
  assignText(result, "host", http?.host);
  assignText(result, "scheme", http?.scheme);
  assignText(result, "protocol", http?.protocol);
  const body = readBody(http);
  if (body) result.body = body;
  const peer = readPeerAddress(attributes);
  if (peer) result.peerAddress = peer;
  const timeMs = timestampToMs(asObject(attributes?.request?.time));
  if (timeMs !== undefined) result.timeMs = timeMs;
  const extensions = readContextExtensions(attributes);
  if (extensions.size > 0) result.contextExtensions = extensions;
  return result;
}

type TextAttribute = "requestId" | "method" | "path" | "host" | "scheme" | "protocol";

/** proto3 sends "" for unset strings: both mean "absent". */
function assignText(target: HttpAttributes, key: TextAttribute, value: unknown): void {
  if (typeof value === "string" && value !== "") target[key] = value;
}

/**
 * Counts entries and bytes while headers are read, so that a CheckRequest with 100k headers
 * costs as much as one at the ceiling. `full` only once a ceiling is passed: the entry past it
 * keeps the normaliser's `headers_too_many` / `headers_too_large` anomalies visible.
 */
class HeaderBudget {
  private entries = 0;
  private bytes = 0;
  get full(): boolean {
    return this.entries > HEADER_CEILING.entries || this.bytes > HEADER_CEILING.bytes;
  }
  spend(name: string, value: string): void {
    this.entries += 1;
    this.bytes += name.length + value.length;
  }
}

/** header_map (encode_raw_headers) when Envoy sent one, else the plain headers map. */
function readHeaders(http: AttributeHttpRequest | undefined): Map<string, string> {
  const headerMap = asObject<{ headers?: unknown }>(http?.header_map)?.headers;
  if (Array.isArray(headerMap) && headerMap.length > 0) return readHeaderList(headerMap);
  const headers = new Map<string, string>();
  const budget = new HeaderBudget();
  const plain = asObject<Record<string, unknown>>(http?.headers) ?? {};
  // for…in rather than Object.entries: stopping early must not first copy every entry.
  for (const name in plain) {
    if (budget.full) break;
    const value = plain[name];
    if (typeof value !== "string" || name === "") continue;
    budget.spend(name, value);
    headers.set(name.toLowerCase(), value);
  }
  return headers;
}

/** header_map keeps repeated headers apart; join them as HTTP allows (RFC 9110 §5.3). */
function readHeaderList(list: unknown[]): Map<string, string> {
  const headers = new Map<string, string>();
  const budget = new HeaderBudget();
  for (const item of list) {
    if (budget.full) break;
    const entry = asObject<{ key?: unknown; value?: unknown; raw_value?: unknown }>(item);
    if (typeof entry?.key !== "string" || entry.key === "") continue;
    const value = headerText(entry.value, entry.raw_value);
    if (value === undefined) continue;
    budget.spend(entry.key, value);
    const name = entry.key.toLowerCase();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : previous + joinerFor(name) + value);
  }
  return headers;
}

function headerText(value: unknown, rawValue: unknown): string | undefined {
  if (rawValue instanceof Uint8Array && rawValue.length > 0) return utf8.decode(rawValue);
  return typeof value === "string" ? value : undefined;
}

/** Cookie crumbs are joined with "; " (RFC 9113 §8.2.3); every other header with ",". */
function joinerFor(name: string): string {
  return name === "cookie" ? "; " : ",";
}

function readBody(http: AttributeHttpRequest | undefined): Uint8Array | undefined {
  const raw = http?.raw_body;
  if (raw instanceof Uint8Array && raw.length > 0) return raw;
  const text = http?.body;
  if (typeof text === "string" && text !== "") return utf8Encoder.encode(text);
  return undefined;
}

function readPeerAddress(attributes: AttributeContext | undefined): string | undefined {
  const socket = asObject<{ address?: unknown }>(attributes?.source?.address?.socket_address);
  return typeof socket?.address === "string" && socket.address !== "" ? socket.address : undefined;
}

/**
 * Route context extensions as-is, plus the route's metadata flattened to
 * `<filter>.<key>[.<key>…]` strings. Context extensions win a name clash: they are the
 * operator's explicit per-route settings.
 */
function readContextExtensions(attributes: AttributeContext | undefined): Map<string, string> {
  const result = new Map<string, string>();
  flattenMetadata(asObject<Metadata>(attributes?.route_metadata_context), result);
  for (const [key, value] of Object.entries(asObject<Record<string, unknown>>(attributes?.context_extensions) ?? {})) {
    if (typeof value === "string") result.set(key, value);
  }
  return result;
}

function flattenMetadata(metadata: Metadata | undefined, into: Map<string, string>): void {
  for (const [filter, struct] of Object.entries(asObject<Record<string, unknown>>(metadata?.filter_metadata) ?? {})) {
    flattenStruct(asObject<Struct>(struct), filter, into, 0);
  }
}

/** Bounded depth: metadata comes from operators, but a deep struct must not recurse forever. */
const MAX_METADATA_DEPTH = 8;

function flattenStruct(struct: Struct | undefined, prefix: string, into: Map<string, string>, depth: number): void {
  if (depth > MAX_METADATA_DEPTH) return;
  for (const [key, raw] of Object.entries(asObject<Record<string, unknown>>(struct?.fields) ?? {})) {
    const value = asObject<Record<string, unknown>>(raw);
    const name = `${prefix}.${key}`;
    if (value?.structValue) flattenStruct(asObject<Struct>(value.structValue), name, into, depth + 1);
    else {
      const scalar = scalarText(value);
      if (scalar !== undefined) into.set(name, scalar);
    }
  }
}

function scalarText(value: Record<string, unknown> | undefined): string | undefined {
  if (typeof value?.stringValue === "string") return value.stringValue;
  if (typeof value?.numberValue === "number" || typeof value?.boolValue === "boolean") {
    return String(value.numberValue ?? value.boolValue);
  }
  return undefined;
}

/** Narrows an unknown decoded field to an object, or undefined for null/absent/wrong type. */
function asObject<T extends object>(value: unknown): T | undefined {
  return typeof value === "object" && value !== null ? (value as T) : undefined;
}

const utf8 = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Decision → CheckResponse
// ---------------------------------------------------------------------------------------------

export interface CheckResponseOptions {
  challenge: { wwwAuthenticate: string; url?: string };
  /** The built-in challenge issued with a `challenge` denial (docs/challenge.md). */
  proofOfWork?: ProofOfWorkDenial;
  /**
   * Names of the headers the client sent. Envoy removes headers by exact name, so every
   * client-sent `x-palisade-*` must be listed by name. Pass the raw names
   * (`toHttpAttributes(req).headers.keys()`), not a normalised set that may have dropped some.
   */
  incomingHeaderNames?: Iterable<string>;
}

export interface ProofOfWorkDenial {
  issued: IssuedChallenge;
  settings: CompiledProofOfWork;
  decisionId: string;
  /** The client's Accept and Accept-Language: a page for browsers, in their language. */
  accept?: string;
  acceptLanguage?: string;
}

/**
 * google.rpc codes. Envoy only checks whether the code is OK; the denial codes are chosen so
 * that gRPC-level logs and metrics read sensibly: PERMISSION_DENIED for every denial except
 * throttle, which is RESOURCE_EXHAUSTED (the gRPC equivalent of HTTP 429).
 */
const GRPC_OK = 0;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_RESOURCE_EXHAUSTED = 8;

export const PALISADE_HEADER_PREFIX = "x-palisade-";

export const PALISADE_HEADERS = {
  action: "x-palisade-action",
  risk: "x-palisade-risk",
  reasons: "x-palisade-reasons",
  decisionId: "x-palisade-decision-id",
  stepUp: "x-palisade-step-up",
} as const;

/**
 * What a CheckResponse says, told in the order its protobuf fields are written: the status,
 * then either the denied response (its HTTP status, headers, body) or the ok response (headers,
 * then the names to remove), then the dynamic metadata's fields. One description of the answer
 * (`describeCheckResponse`) feeds both the message object (`toCheckResponse`, for the replay and
 * the tests) and the bytes a Check is answered with (check-response-encoder.ts), which are then
 * written without building the object first.
 */
export interface CheckResponseSink {
  status(code: number): void;
  beginDenied(httpStatus: number): void;
  beginOk(): void;
  /** A header set with OVERWRITE_IF_EXISTS_OR_ADD (see `overwrite`), to the upstream or the client. */
  header(key: string, value: string): void;
  /** Ok responses only, after their headers. */
  headerToRemove(name: string): void;
  /** Denied responses only, after their headers. */
  body(text: string): void;
  endResponse(): void;
  /** The metadata's fields follow, then `endMetadata`. */
  beginMetadata(): void;
  text(key: string, value: string): void;
  /** A number, or null when it is not finite (toValue's rule). */
  number(key: string, value: number): void;
  bool(key: string, value: boolean): void;
  /** A list of the reasons' codes. */
  reasonCodes(key: string, reasons: readonly Reason[]): void;
  endMetadata(): void;
}

export function toCheckResponse(decision: Decision, options: CheckResponseOptions): CheckResponse {
  const sink = new CheckResponseObject();
  describeCheckResponse(decision, options, sink);
  return sink.response;
}

/** Tells `sink` the CheckResponse that answers `decision`. */
export function describeCheckResponse(decision: Decision, options: CheckResponseOptions, sink: CheckResponseSink): void {
  const action: Action = decision.action;
  switch (action) {
    case "allow":
    case "step_up":
      sink.status(GRPC_OK);
      okResponse(decision, options, sink);
      break;
    case "challenge":
    case "quarantine":
    case "block":
      sink.status(GRPC_PERMISSION_DENIED);
      deniedResponse(action, decision, options, sink);
      break;
    case "throttle":
      sink.status(GRPC_RESOURCE_EXHAUSTED);
      deniedResponse(action, decision, options, sink);
      break;
    default:
      assertNever(action);
  }
  decisionMetadata(decision, sink);
}

/**
 * Envoy copies this into the ext_authz filter's dynamic metadata, hence into access logs.
 * `risk_text` repeats the risk as a string because Envoy's `metadata` rate-limit action reads
 * string values only: it is how a descriptor carries the risk to risk-adaptive rate limits.
 * Absent fields are left out; the order is the Struct's.
 */
function decisionMetadata(decision: Decision, sink: CheckResponseSink): void {
  sink.beginMetadata();
  sink.text(METADATA_KEYS.action, decision.action);
  sink.number("risk", decision.risk);
  sink.text("risk_text", String(decision.risk));
  sink.reasonCodes("reasons", decision.reasons);
  setText(sink, "rule", decision.rule);
  sink.text("policy_version", decision.policyVersion);
  sink.text("decision_id", decision.decisionId);
  setText(sink, "subject", decision.subject);
  sink.bool("degraded", decision.degraded);
  setText(sink, METADATA_KEYS.endpoint, decision.endpoint);
  const attribution = decision.attribution;
  if (attribution) {
    setText(sink, METADATA_KEYS.ipId, attribution.ipId);
    setText(sink, METADATA_KEYS.subnet, attribution.subnet);
    setText(sink, METADATA_KEYS.usernameId, attribution.usernameId);
    setText(sink, METADATA_KEYS.fingerprintId, attribution.fingerprintId);
    setText(sink, METADATA_KEYS.deviceId, attribution.deviceId);
    setText(sink, METADATA_KEYS.headerShape, attribution.headerShape);
    setText(sink, METADATA_KEYS.country, attribution.country);
    setText(sink, METADATA_KEYS.place, attribution.place);
  }
  sink.endMetadata();
}

function setText(sink: CheckResponseSink, key: string, value: string | undefined): void {
  if (value !== undefined) sink.text(key, value);
}

/** The message object of a CheckResponse, as proto-loader's serializer takes it. */
class CheckResponseObject implements CheckResponseSink {
  readonly response: CheckResponse = {};
  #headers: HeaderValueOption[] = [];
  #fields: Record<string, Value> = {};

  status(code: number): void {
    this.response.status = { code };
  }
  beginDenied(httpStatus: number): void {
    this.#headers = [];
    // Every status an action maps to (401, 403, 429, 503) is one of Envoy's StatusCode values.
    this.response.denied_response = { status: { code: httpStatus as StatusCode }, headers: this.#headers };
  }
  beginOk(): void {
    this.#headers = [];
    this.response.ok_response = { headers: this.#headers, headers_to_remove: [] };
  }
  header(key: string, value: string): void {
    this.#headers.push(overwrite(key, value));
  }
  headerToRemove(name: string): void {
    this.response.ok_response!.headers_to_remove!.push(name);
  }
  body(text: string): void {
    this.response.denied_response!.body = text;
  }
  endResponse(): void {}
  beginMetadata(): void {
    this.#fields = {};
    this.response.dynamic_metadata = { fields: this.#fields };
  }
  text(key: string, value: string): void {
    this.#fields[key] = { stringValue: value };
  }
  number(key: string, value: number): void {
    this.#fields[key] = toValue(value)!;
  }
  bool(key: string, value: boolean): void {
    this.#fields[key] = { boolValue: value };
  }
  reasonCodes(key: string, reasons: readonly Reason[]): void {
    this.#fields[key] = { listValue: { values: reasons.map((reason) => ({ stringValue: reason.code })) } };
  }
  endMetadata(): void {}
}

// --- allowed -------------------------------------------------------------------------------

function okResponse(decision: Decision, options: CheckResponseOptions, sink: CheckResponseSink): void {
  sink.beginOk();
  const reasons = reasonList(decision);
  // Bit i: UPSTREAM_HEADERS[i] not set, hence removed after the headers (each value computed once).
  let unset = 0;
  for (let i = 0; i < UPSTREAM_HEADERS.length; i++) {
    const header = UPSTREAM_HEADERS[i]!;
    const value = header.value(decision, reasons);
    if (value === undefined) unset |= 1 << i;
    else sink.header(header.name, value);
  }
  forgeableHeaderNames(options.incomingHeaderNames, unset, sink);
  sink.endResponse();
}

function reasonList(decision: Decision): string {
  const reasons = decision.reasons;
  if (reasons.length === 0) return "";
  let list = reasons[0]!.code;
  for (let i = 1; i < reasons.length; i++) list += `,${reasons[i]!.code}`;
  return list;
}

type UpstreamValue = (decision: Decision, reasons: string) => string | undefined;

/**
 * What an allowed request carries upstream, in the order written: each of Palisade's headers
 * (a Record, so none is forgotten) with its value, or undefined when it is not set, in which case
 * it is removed instead. The one list okResponse both sets and removes from.
 */
const UPSTREAM_VALUES: Record<keyof typeof PALISADE_HEADERS, UpstreamValue> = {
  action: (decision) => decision.action,
  risk: (decision) => String(decision.risk),
  decisionId: (decision) => decision.decisionId,
  reasons: (_decision, reasons) => (reasons === "" ? undefined : reasons),
  stepUp: (decision) => (decision.action === "step_up" ? "mfa" : undefined),
};

const UPSTREAM_HEADERS: readonly { name: string; value: UpstreamValue }[] = Object.entries(UPSTREAM_VALUES).map(([key, value]) => ({
  name: PALISADE_HEADERS[key as keyof typeof PALISADE_HEADERS],
  value,
}));

const PALISADE_HEADER_NAMES: readonly string[] = Object.values(PALISADE_HEADERS);

/**
 * Every x-palisade-* name the client may have sent (Palisade's own first, then the client's
 * others in its order, each once), but those set upstream (`unset` says which were not, by their
 * index in UPSTREAM_HEADERS): Envoy applies `headers` before `headers_to_remove`, so a header
 * just set would be removed again (it is overwritten anyway).
 */
function forgeableHeaderNames(incoming: Iterable<string> | undefined, unset: number, sink: CheckResponseSink): void {
  for (let i = 0; i < UPSTREAM_HEADERS.length; i++) if (unset & (1 << i)) sink.headerToRemove(UPSTREAM_HEADERS[i]!.name);
  let others: string[] | undefined;
  for (const name of incoming ?? []) {
    if (typeof name !== "string") continue;
    const lower = name.toLowerCase();
    if (!lower.startsWith(PALISADE_HEADER_PREFIX) || PALISADE_HEADER_NAMES.includes(lower) || others?.includes(lower)) continue;
    (others ??= []).push(lower);
    sink.headerToRemove(lower);
  }
}

// --- denied --------------------------------------------------------------------------------

type DeniedAction = Exclude<Action, "allow" | "step_up">;

const HTTP_STATUS: Record<DeniedAction, number> = { challenge: 401, throttle: 429, quarantine: 403, block: 403 };

/** RFC 9457 problem types and wording: what happened, never why (no reasons, risk or rule). */
const PROBLEMS: Record<DeniedAction, { type: string; title: string; detail: string }> = {
  challenge: {
    type: "urn:palisade:problem:challenge-required",
    title: "Challenge required",
    detail: "Complete the challenge, then retry the request.",
  },
  throttle: {
    type: "urn:palisade:problem:too-many-requests",
    title: "Too many requests",
    detail: "Slow down and retry after the time given in Retry-After.",
  },
  quarantine: {
    type: "urn:palisade:problem:temporarily-blocked",
    title: "Temporarily blocked",
    detail: "Requests are temporarily blocked. Retry later, or quote the decision id to appeal.",
  },
  block: {
    type: "urn:palisade:problem:blocked",
    title: "Forbidden",
    detail: "This request is not allowed. Quote the decision id to appeal.",
  },
};

function deniedResponse(action: DeniedAction, decision: Decision, options: CheckResponseOptions, sink: CheckResponseSink): void {
  const status = HTTP_STATUS[action];
  const page = action === "challenge" ? challengePage(options.proofOfWork) : undefined;
  sink.beginDenied(status);
  sink.header(PALISADE_HEADERS.action, action);
  sink.header(PALISADE_HEADERS.decisionId, decision.decisionId);
  sink.header("content-type", page ? "text/html; charset=utf-8" : "application/problem+json");
  // A denial is about this client at this moment: no cache may replay it to anyone else.
  sink.header("cache-control", "no-store");
  if (page) {
    sink.header("content-security-policy", page.securityPolicy);
    sink.header("vary", "accept, accept-language");
  }
  actionHeaders(action, decision, options, sink);
  sink.body(page?.html ?? problemText(action, status, decision, options));
  sink.endResponse();
}

/** The challenge page for a browser; API clients get the problem document instead. */
function challengePage(denial: ProofOfWorkDenial | undefined): { html: string; securityPolicy: string } | undefined {
  if (!denial || !acceptsHtml(denial.accept)) return undefined;
  const language = chooseLanguage(denial.acceptLanguage, denial.settings.texts);
  return renderChallengePage({
    challenge: denial.issued.challenge,
    language,
    text: denial.settings.texts.get(language)!,
    scriptUrl: challengeRoutes(denial.settings.path).script,
    verifyUrl: challengeRoutes(denial.settings.path).verify,
    supportUrl: denial.settings.supportUrl,
    decisionId: denial.decisionId,
  });
}

function actionHeaders(action: DeniedAction, decision: Decision, options: CheckResponseOptions, sink: CheckResponseSink): void {
  switch (action) {
    case "challenge":
      sink.header("www-authenticate", options.challenge.wwwAuthenticate);
      return;
    case "throttle":
      retryAfter(decision.retryAfterSeconds ?? decision.rateLimit?.resetSeconds, sink);
      rateLimitHeaders(decision, sink);
      return;
    case "quarantine":
      retryAfter(decision.retryAfterSeconds, sink);
      return;
    case "block":
      return;
    default:
      assertNever(action);
  }
}

/** Retry-After in whole seconds (RFC 9110 §10.2.3), never 0: "retry now" invites a hot loop. */
function retryAfter(seconds: number | undefined, sink: CheckResponseSink): void {
  if (seconds === undefined || !Number.isFinite(seconds)) return;
  sink.header("retry-after", String(Math.max(1, Math.ceil(seconds))));
}

/**
 * draft-ietf-httpapi-ratelimit-headers, structured-field form:
 * `RateLimit-Policy: "default";q=<limit>;w=<window>` and `RateLimit: "default";r=<remaining>;t=<reset>`.
 */
function rateLimitHeaders(decision: Decision, sink: CheckResponseSink): void {
  const limit = decision.rateLimit;
  if (!limit) return;
  sink.header("ratelimit-policy", `"default";q=${wholeNumber(limit.limit)};w=${wholeNumber(limit.windowSeconds, Math.ceil)}`);
  sink.header("ratelimit", `"default";r=${wholeNumber(limit.remaining)};t=${wholeNumber(limit.resetSeconds, Math.ceil)}`);
}

/** Structured-field integers must be non-negative whole numbers here. */
function wholeNumber(value: number, round: (n: number) => number = Math.floor): number {
  return Number.isFinite(value) ? Math.max(0, round(value)) : 0;
}

interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  decision_id: string;
  instance: string;
  challenge_url?: string;
  proof_of_work?: {
    algorithm: string;
    level: number;
    expires: string;
    /** The challenge as altcha-lib signed it: solve it and POST `{ payload }` to verify_url. */
    challenge: unknown;
    verify_url: string;
    /** Send the token from verify_url in this header (or the cookie it sets). */
    pass_header: string;
    support_url?: string;
  };
}

/**
 * The problem document's JSON. A denial without a challenge's links is the action's constant
 * fields and the decision id: JSON.stringify's text with the constant part made once per action
 * (JSON.stringify of the whole document was a third of writing a denial's answer).
 */
function problemText(action: DeniedAction, status: number, decision: Decision, options: CheckResponseOptions): string {
  if (action === "challenge" && (options.challenge.url || options.proofOfWork)) return JSON.stringify(problemDocument(action, status, decision, options));
  const id = decision.decisionId;
  return `${PROBLEM_HEADS[action]},"decision_id":${JSON.stringify(id)},"instance":${JSON.stringify(`urn:palisade:decision:${id}`)}}`;
}

/** Each action's problem document up to its decision id: JSON.stringify's text without the closing brace. */
const PROBLEM_HEADS = Object.fromEntries(
  (Object.keys(PROBLEMS) as DeniedAction[]).map((action) => [action, JSON.stringify({ ...PROBLEMS[action], status: HTTP_STATUS[action] }).slice(0, -1)]),
) as Record<DeniedAction, string>;

function problemDocument(action: DeniedAction, status: number, decision: Decision, options: CheckResponseOptions): ProblemDocument {
  const document: ProblemDocument = {
    ...PROBLEMS[action],
    status,
    decision_id: decision.decisionId,
    instance: `urn:palisade:decision:${decision.decisionId}`,
  };
  if (action === "challenge" && options.challenge.url) document.challenge_url = options.challenge.url;
  const pow = action === "challenge" ? options.proofOfWork : undefined;
  if (pow) {
    document.proof_of_work = {
      algorithm: pow.issued.challenge.parameters.algorithm,
      level: pow.issued.level,
      expires: new Date(pow.issued.expiresMs).toISOString(),
      challenge: pow.issued.challenge,
      verify_url: challengeRoutes(pow.settings.path).verify,
      pass_header: PASS_HEADER,
      ...(pow.settings.supportUrl ? { support_url: pow.settings.supportUrl } : {}),
    };
  }
  return document;
}

// --- shared --------------------------------------------------------------------------------

/**
 * OVERWRITE_IF_EXISTS_OR_ADD replaces a client-sent header of the same name instead of
 * appending to it. The deprecated `append` field is left unset: when set it wins over
 * append_action (and older Envoys read an unset `append` as "overwrite" too).
 */
function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" };
}

function assertNever(value: never): never {
  throw new Error(`Unhandled action: ${String(value)}`);
}
