/**
 * The logger's safety net for secrets and raw identifiers logged by mistake: settings, Node or
 * gRPC headers, Envoy CheckRequests and access-log entries. The rest of the code logs only
 * pseudonyms, so a hit here is a bug to fix at the call site.
 *
 * Why not pino's `redact` paths: each wildcard path is a separate walk (the same names as
 * `key`, `*.key`, `*.*.key` paths made a small line cost ~45 µs instead of ~1.5 µs) and
 * wildcards reach a fixed depth. One walk matching keys by name covers every depth (~4 µs a line).
 */

/**
 * Names compared after lower-casing and dropping `-` and `_`, so `accessToken`, `access_token`
 * and `access-token` are one entry. Pseudonym fields (`ipId`, `usernameId`, `sessionId`,
 * `fingerprintId`, `subject`) are deliberately absent.
 */
const SENSITIVE_NAMES = new Set(
  [
    // secrets
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "x-api-key",
    "credentials",
    "private_key",
    "pseudonym_key",
    "pseudonym_previous_key",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    // raw identifiers and raw request data
    "ip",
    "client_ip",
    "peer_address",
    "remote_address",
    "x-forwarded-for",
    "x-real-ip",
    "x-envoy-external-address",
    "forwarded",
    "forwarded_for",
    "downstream_remote_address",
    "downstream_direct_remote_address",
    "request_headers",
    "response_headers",
    "username",
    "email",
    "body",
    "raw_body",
    "query",
  ].map(normalise),
);

/**
 * Names sensitive only under a given parent (normalised `parent>name`): Envoy's client address,
 * and the arguments ioredis attaches to its errors (an AUTH failure carries the password).
 */
const SENSITIVE_CHILDREN = new Set(["socketaddress>address", "command>args"]);

/** Connection URLs: only their user-info part is secret, the host helps debugging. */
const URL_NAMES = new Set(["redis_url", "url", "uri"].map(normalise));

/** Deeper than any object Palisade handles (a wrapped CheckRequest header is 6 levels down). */
const MAX_DEPTH = 12;

export const CENSORED = "[Redacted]";

function normalise(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}

function isSensitive(name: string, parent = ""): boolean {
  const normalised = normalise(name);
  return SENSITIVE_NAMES.has(normalised) || SENSITIVE_CHILDREN.has(`${normalise(parent)}>${normalised}`);
}

function isUrl(name: string): boolean {
  return URL_NAMES.has(normalise(name));
}

function stripUserInfo(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

function censor(value: unknown): unknown {
  return value === undefined ? value : CENSORED;
}

/** Plain objects and arrays only: class instances (sockets, Maps, Errors) have their own serialisers. */
function isWalkable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Envoy's HeaderValue (`{ key, value }` or `raw_value`) names the header in a field, not a key. */
function isSensitiveHeaderValue(object: Record<string, unknown>): boolean {
  return typeof object.key === "string" && isSensitive(object.key);
}

const URL_NAME = 1;
const SENSITIVE_NAME = 2;

/**
 * What a field name under a parent is (URL_NAME, SENSITIVE_NAME, both or neither), remembered:
 * the same few names come with every line (a Check's `decided` line has a dozen), and working it
 * out lower-cases and rewrites the name and its parent each time (about half of a line's
 * redaction). Bounded: names from data logged by mistake cannot grow it past MAX_REMEMBERED.
 */
const kinds = new Map<string, Map<string, number>>();
let remembered = 0;
const MAX_REMEMBERED = 4_096;

function kindOf(name: string, parent: string): number {
  let byName = kinds.get(parent);
  let kind = byName?.get(name);
  if (kind !== undefined) return kind;
  kind = (isUrl(name) ? URL_NAME : 0) | (isSensitive(name, parent) ? SENSITIVE_NAME : 0);
  if (remembered >= MAX_REMEMBERED) {
    kinds.clear();
    remembered = 0;
    byName = undefined;
  }
  if (byName === undefined) kinds.set(parent, (byName = new Map()));
  byName.set(name, kind);
  remembered++;
  return kind;
}

function redactField(object: Record<string, unknown>, name: string, parent: string, depth: number): unknown {
  const original = object[name];
  if (name !== "key" && isSensitiveHeaderValue(object)) return censor(original);
  const kind = kindOf(name, parent);
  if ((kind & URL_NAME) !== 0 && typeof original === "string") return stripUserInfo(original);
  if ((kind & SENSITIVE_NAME) !== 0) return censor(original);
  return redactSensitive(original, depth + 1, name);
}

/**
 * A copy of `value` with sensitive fields censored at any depth; `value` itself when nothing
 * needed censoring (no allocation on the common path). The input is never mutated.
 */
export function redactSensitive<T>(value: T, depth = 0, parent = ""): T {
  if (depth > MAX_DEPTH || !isWalkable(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const name of Object.keys(value)) {
    const replaced = redactField(value, name, parent, depth);
    if (replaced !== value[name]) {
      copy ??= (Array.isArray(value) ? [...value] : { ...value }) as Record<string, unknown>;
      copy[name] = replaced;
    }
  }
  return (copy ?? value) as T;
}
