import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { LRUCache } from "lru-cache";
import type { CompiledSignals } from "../policy/signals.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { Signal } from "./signal.js";

/** A locally mounted list of breached-password SHA-1 hashes; nothing is fetched at run time. */
export interface BreachedPasswordList {
  contains(sha1Hex: string): Promise<boolean>;
}

const HASH = /^[0-9A-F]{40}$/;

/** A file of full SHA-1 hashes, one per line (`HASH` or `HASH:count`), held in memory. */
export async function loadHashFile(path: string): Promise<BreachedPasswordList> {
  const hashes = new Set<string>();
  for (const line of (await readFile(path, "utf8")).split(/\r?\n/)) {
    const hash = line.split(":", 1)[0]!.trim().toUpperCase();
    if (HASH.test(hash)) hashes.add(hash);
  }
  return { contains: async (sha1Hex) => hashes.has(sha1Hex.toUpperCase()) };
}

/** Prefix files kept in memory at once (each is a few hundred suffixes). */
const MAX_CACHED_PREFIXES = 4096;

/**
 * The k-anonymity layout of Have I Been Pwned's range files: one file per five-hex-digit prefix
 * (`ABCDE` or `ABCDE.txt`) holding `SUFFIX:count` lines. Only the file of the password's prefix
 * is read, and cached, so a full list of hundreds of millions of hashes costs little memory.
 */
export function prefixDirectory(dir: string): BreachedPasswordList {
  const cache = new LRUCache<string, Promise<Set<string>>>({ max: MAX_CACHED_PREFIXES });
  const suffixes = (prefix: string) => {
    let loaded = cache.get(prefix);
    if (!loaded) {
      loaded = readPrefixFile(dir, prefix);
      cache.set(prefix, loaded);
    }
    return loaded;
  };
  return {
    contains: async (sha1Hex) => {
      const hash = sha1Hex.toUpperCase();
      return (await suffixes(hash.slice(0, 5))).has(hash.slice(5));
    },
  };
}

async function readPrefixFile(dir: string, prefix: string): Promise<Set<string>> {
  for (const name of [prefix, `${prefix}.txt`]) {
    try {
      const text = await readFile(join(dir, name), "utf8");
      return new Set(text.split(/\r?\n/).map((line) => line.split(":", 1)[0]!.trim().toUpperCase()).filter(Boolean));
    } catch {
      // Try the other naming; a prefix with no file has no breached passwords.
    }
  }
  return new Set();
}

/** `password.breached`: the SHA-1 is looked up in memory and forgotten with the request. */
export function breachedPasswordSignals(
  request: NormalisedRequest,
  signals: CompiledSignals,
  list: BreachedPasswordList | undefined,
): Signal[] | Promise<Signal[]> {
  // Nothing to look up (most Checks): answered at once, no promise.
  if (!signals.breachedPassword || !list || !request.passwordSha1) return [];
  return lookUp(list, request.passwordSha1, signals.breachedPassword.weight);
}

async function lookUp(list: BreachedPasswordList, passwordSha1: string, weight: number): Promise<Signal[]> {
  const breached = await list.contains(passwordSha1).catch(() => false);
  return breached ? [{ code: "password.breached", value: 1, weight, fired: true }] : [];
}
