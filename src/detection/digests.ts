import { createHash } from "node:crypto";
import { TwoGenerationCache } from "../domain/two-generation-cache.js";

/**
 * Digests the detectors key their counters by (a probe's path, a search query, a session
 * cookie with the fingerprint), remembered: the same few values come back on most requests,
 * and creating a Hash object costs more than the digest itself (about 2% of replay's CPU for
 * four detectors). Inputs stay in process memory only, as in the request being decided;
 * longer ones are digested every time so an attacker's padding is never remembered.
 */
const cache = new TwoGenerationCache(20_000, 2_000_000);
const MAX_REMEMBERED = 512;

/** The base64url digest of `text`, cut to `chars` characters. */
export function shortDigest(algorithm: "sha1" | "sha256", text: string, chars: number): string {
  if (text.length > MAX_REMEMBERED) return digest(algorithm, text, chars);
  // get and set rather than through(): no closure per call.
  const space = spaceOf(algorithm, chars);
  const known = cache.get(text, space);
  if (known !== undefined) return known;
  const value = digest(algorithm, text, chars);
  cache.set(text, value, space);
  return value;
}

/**
 * One cache space per algorithm and length (a few, fixed by the detectors), the same string
 * each time: a name joined per call was a new string to hash on every look-up.
 */
const SPACES = new Map<number, string>();

function spaceOf(algorithm: "sha1" | "sha256", chars: number): string {
  const key = algorithm === "sha1" ? chars : -chars;
  let space = SPACES.get(key);
  if (space === undefined) SPACES.set(key, (space = `${algorithm}:${chars}`));
  return space;
}

function digest(algorithm: "sha1" | "sha256", text: string, chars: number): string {
  return createHash(algorithm).update(text).digest("base64url").slice(0, chars);
}
