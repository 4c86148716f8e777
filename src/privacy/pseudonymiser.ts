import { createHmac } from "node:crypto";

/**
 * Kinds of raw identifier; the kind is part of the MAC so one value gets unrelated pseudonyms per
 * kind. `ratelimit` is a whole rate-limit descriptor (domain and entries), which may hold any of
 * the others.
 */
export type IdentifierKind = "ip" | "username" | "session" | "fingerprint" | "token" | "ratelimit";

/** Replaces raw identifiers by keyed pseudonyms before they reach the store, logs, traces or metrics. */
export interface Pseudonymiser {
  /** The pseudonym under the current key. */
  pseudonymise(kind: IdentifierKind, value: string): string;
  /** Pseudonyms under every key still valid at `nowMs` (current first), for analyst look-ups. */
  candidates(kind: IdentifierKind, value: string, nowMs: number): string[];
}

export interface KeyRing {
  current: Buffer;
  /** The key before the last rotation, accepted for look-ups until `validUntilMs`. */
  previous?: { key: Buffer; validUntilMs: number };
}

/** HMAC-SHA-256 truncated to 128 bits (22 base64url characters): collision-free at any realistic scale. */
function mac(key: Buffer, kind: IdentifierKind, value: string): string {
  return createHmac("sha256", key).update(kind).update("\u0000").update(value).digest("base64url").slice(0, 22);
}

export class HmacPseudonymiser implements Pseudonymiser {
  constructor(private keys: KeyRing) {}

  /** Swaps keys after a Secret rotation; pseudonyms under the new key start at once. */
  rotate(keys: KeyRing): void {
    this.keys = keys;
  }

  pseudonymise(kind: IdentifierKind, value: string): string {
    return mac(this.keys.current, kind, value);
  }

  candidates(kind: IdentifierKind, value: string, nowMs: number): string[] {
    const all = [mac(this.keys.current, kind, value)];
    const previous = this.keys.previous;
    if (previous && nowMs < previous.validUntilMs) all.push(mac(previous.key, kind, value));
    return all;
  }
}
