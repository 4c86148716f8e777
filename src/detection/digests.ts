import { hash } from "node:crypto";
import { TwoGenerationCache } from "../domain/two-generation-cache.js";

/**
 * Digests the detectors key their counters by (a probe's path, a search query, a session
 * cookie with the fingerprint), remembered: the same few values come back on most requests,
 * and hashing a fresh string into a Map costs less than digesting it (about 2% of replay's CPU
 * for four detectors before the memo). Inputs stay in process memory only, as in the request
 * being decided; longer ones are digested every time so an attacker's padding is never
 * remembered.
 */
const cache = new TwoGenerationCache(20_000, 2_000_000);
const MAX_REMEMBERED = 512;

/** The base64url digest of `text`, cut to `chars` characters. */
export function shortDigest(algorithm: "sha1" | "sha256", text: string, chars: number): string {
  if (text.length > MAX_REMEMBERED) return digest(algorithm, text, chars);
  const space = spaceOf(algorithm, chars);
  const known = cache.get(text, space);
  if (known !== undefined) return known;
  const digested = digest(algorithm, text, chars);
  cache.set(text, digested, space);
  return digested;
}

/**
 * One cache space per algorithm and length (a few, fixed by the detectors), each named once:
 * a name built per call is a fresh string to hash at every look-up.
 */
const SPACES = { sha1: [] as string[], sha256: [] as string[] };

function spaceOf(algorithm: "sha1" | "sha256", chars: number): string {
  return (SPACES[algorithm][chars] ??= `${algorithm}:${chars}`);
}

/** One call, no Hash object: crypto.hash is about a quarter of createHash().update().digest(). */
function digest(algorithm: "sha1" | "sha256", text: string, chars: number): string {
  return hash(algorithm, text, "base64url").slice(0, chars);
}
