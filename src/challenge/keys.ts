import { hkdfSync, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";

/** Fewer bytes than this would let an attacker forge pass tokens by brute force. */
const MIN_KEY_BYTES = 32;

/**
 * The secrets of the built-in challenge, each derived from one key (HKDF-SHA-256) so that a
 * challenge signature can never be replayed as a pass token or the other way round.
 */
export interface ChallengeKeys {
  /** Signs the challenge parameters (altcha-lib takes its secrets as text). */
  challengeSecret: string;
  /** Signs the expected answer, so a solution is checked with one HMAC instead of re-solving. */
  answerSecret: string;
  /** Signs pass tokens and the client binding inside them. */
  pass: Buffer;
}

export function deriveChallengeKeys(key: Buffer): ChallengeKeys {
  const derive = (label: string) => Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), `palisade challenge ${label}`, 32));
  return {
    challengeSecret: derive("parameters").toString("base64"),
    answerSecret: derive("answer").toString("base64"),
    pass: derive("pass"),
  };
}

export interface LoadedChallengeKey {
  keys: ChallengeKeys;
  /** True when no key file was configured and a random key was made for this process. */
  generated: boolean;
}

/**
 * Reads the key file as bytes, exactly as mounted: a binary key from `openssl rand 48` is not
 * text, and trimming or decoding it would change it on some replicas and not others.
 */
export async function loadChallengeKey(file: string | undefined): Promise<LoadedChallengeKey> {
  if (!file) return { keys: deriveChallengeKeys(randomBytes(MIN_KEY_BYTES)), generated: true };
  const key = await readFile(file);
  if (key.length < MIN_KEY_BYTES) {
    throw new Error(`challenge key file holds ${key.length} bytes; use at least ${MIN_KEY_BYTES} (e.g. openssl rand 48)`);
  }
  return { keys: deriveChallengeKeys(key), generated: false };
}
