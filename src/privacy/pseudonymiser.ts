import { TwoGenerationCache } from "../domain/two-generation-cache.js";
import { HmacSha256 } from "./hmac-sha256.js";

/**
 * Kinds of raw identifier; the kind is part of the MAC so one value gets unrelated pseudonyms per
 * kind. `ratelimit` is a whole rate-limit descriptor (domain and entries), which may hold any of
 * the others; `companion` the values of the cookies that travel with a session token (token
 * binding), so that replicas sharing a binding hash them alike; `neighbour` the names one
 * character from a username (username-neighbourhood.ts).
 */
export type IdentifierKind = "ip" | "username" | "session" | "fingerprint" | "token" | "ratelimit" | "companion" | "neighbour";

/** Replaces raw identifiers by keyed pseudonyms before they reach the store, logs, traces or metrics. */
export interface Pseudonymiser {
  /** The pseudonym under the current key. */
  pseudonymise(kind: IdentifierKind, value: string): string;
  /** The same, not remembered: for values that no other Check derives, which would only crowd out those that are. */
  pseudonymiseOnce(kind: IdentifierKind, value: string): string;
  /** Pseudonyms under every key still valid at `nowMs` (current first), for analyst look-ups. */
  candidates(kind: IdentifierKind, value: string, nowMs: number): string[];
}

export interface KeyRing {
  current: Buffer;
  /** The key before the last rotation, accepted for look-ups until `validUntilMs`. */
  previous?: { key: Buffer; validUntilMs: number };
}

/** HMAC-SHA-256 truncated to 128 bits (22 base64url characters): collision-free at any realistic scale. */
function mac(key: HmacSha256, kind: IdentifierKind, value: string): string {
  return key.digest(kind, value).slice(0, 22);
}

/**
 * Pseudonyms remembered (see TwoGenerationCache). A Check computes three to six (address,
 * subnet, fingerprint, username…) and most clients come back within minutes, while one HMAC
 * costs about a microsecond (hmac-sha256.ts; createHmac's took twice that): profiles of the
 * bench put them at a tenth of the pipeline before. The bounds keep the memory to some 20 MB.
 */
export const PSEUDONYM_CACHE_ENTRIES = 25_000;
/** Characters of raw values one generation may hold (UTF-16: twice as many bytes). */
const PSEUDONYM_CACHE_CHARS = 4_000_000;
/**
 * Longer values are hashed every time. A fingerprint source (user agent and accept headers)
 * runs to a few hundred characters; an attacker's 8 KB usernames are never remembered.
 */
export const PSEUDONYM_CACHE_MAX_VALUE = 1024;

export class HmacPseudonymiser implements Pseudonymiser {
  /** Raw identifiers live here only in process memory, as they do in the request being decided. */
  readonly #cache = new TwoGenerationCache(PSEUDONYM_CACHE_ENTRIES, PSEUDONYM_CACHE_CHARS);

  #current: HmacSha256;
  #previous?: { key: HmacSha256; validUntilMs: number };

  constructor(keys: KeyRing) {
    this.#current = this.#useKeys(keys);
  }

  /** Swaps keys after a Secret rotation; pseudonyms under the new key start at once. */
  rotate(keys: KeyRing): void {
    this.#current = this.#useKeys(keys);
    this.#cache.clear();
  }

  /** Sets the previous key and returns the current one's MAC (the constructor must assign #current itself). */
  #useKeys(keys: KeyRing): HmacSha256 {
    this.#previous = keys.previous && { key: new HmacSha256(keys.previous.key), validUntilMs: keys.previous.validUntilMs };
    return new HmacSha256(keys.current);
  }

  pseudonymise(kind: IdentifierKind, value: string): string {
    if (value.length > PSEUDONYM_CACHE_MAX_VALUE) return mac(this.#current, kind, value);
    const cached = this.#cache.get(value, kind);
    if (cached !== undefined) return cached;
    const pseudonym = mac(this.#current, kind, value);
    this.#cache.set(value, pseudonym, kind);
    return pseudonym;
  }

  pseudonymiseOnce(kind: IdentifierKind, value: string): string {
    return mac(this.#current, kind, value);
  }

  candidates(kind: IdentifierKind, value: string, nowMs: number): string[] {
    const all = [mac(this.#current, kind, value)];
    const previous = this.#previous;
    if (previous && nowMs < previous.validUntilMs) all.push(mac(previous.key, kind, value));
    return all;
  }
}
