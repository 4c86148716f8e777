import { createHmac, randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { CompiledSignals } from "../policy/signals.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { Signal } from "./signal.js";

/** Passwords tracked at once; the least recently tried are forgotten first. */
const MAX_PASSWORDS = 50_000;
/** Usernames remembered per password: enough to pass any sensible threshold. */
const MAX_USERNAMES_PER_PASSWORD = 256;

/**
 * Password spraying: one password tried against many accounts. Passwords are keyed hashes under
 * a key that exists only in this process's memory and are kept for one window only, so nothing
 * here could be matched against a password list even from a heap dump of another replica.
 * Detection is per replica: the hashes never go to the shared store.
 */
export class SprayingDetector {
  readonly #key = randomBytes(32);
  readonly #usernames = new LRUCache<string, Map<string, number>>({ max: MAX_PASSWORDS });

  observe(request: NormalisedRequest, signals: CompiledSignals): Signal[] {
    const config = signals.spraying;
    if (!config || !request.passwordSha1 || !request.usernameId) return [];
    const password = createHmac("sha256", this.#key).update(request.passwordSha1).digest("base64url");
    const seen = this.#usernames.get(password) ?? new Map<string, number>();
    const since = request.timeMs - config.windowMs;
    for (const [username, at] of seen) if (at < since) seen.delete(username);
    seen.delete(request.usernameId);
    if (seen.size < MAX_USERNAMES_PER_PASSWORD) seen.set(request.usernameId, request.timeMs);
    this.#usernames.set(password, seen, { ttl: config.windowMs });
    return [
      {
        code: "password.spraying",
        value: seen.size,
        threshold: config.threshold,
        weight: config.weight,
        fired: seen.size > config.threshold,
        detail: "accounts tried with this password",
      },
    ];
  }
}
