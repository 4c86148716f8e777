import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import type { KeyRing } from "./pseudonymiser.js";
import { readSecretFile } from "./secret-file.js";

export interface KeySettings {
  /** Key material given inline (an environment variable from a Secret). */
  key?: string;
  /** Path of a file holding the key (a mounted Secret); wins over `key`. */
  keyFile?: string;
  previousKey?: string;
  previousKeyFile?: string;
  /** How long the previous key stays valid after the current key appeared. */
  graceMs: number;
}

/** Fewer bytes than this make an HMAC key guessable by brute force over the small space of IPs. */
const MIN_KEY_BYTES = 32;

export interface LoadedKeys {
  ring: KeyRing;
  /** True when no key was configured and a random one was made for this process. */
  generated: boolean;
}

/**
 * Reads the key ring. The grace period of the previous key runs from the modification time of
 * the current key file (when the Secret was rotated), or from now for inline keys.
 */
export async function loadKeyRing(settings: KeySettings, nowMs: number): Promise<LoadedKeys> {
  const current = await readKey(settings.keyFile, settings.key, "pseudonymisation key");
  if (!current) return { ring: { current: randomBytes(MIN_KEY_BYTES) }, generated: true };
  const previous = await readKey(settings.previousKeyFile, settings.previousKey, "previous pseudonymisation key");
  const rotatedAt = settings.keyFile ? (await stat(settings.keyFile)).mtimeMs : nowMs;
  return {
    ring: { current, previous: previous ? { key: previous, validUntilMs: rotatedAt + settings.graceMs } : undefined },
    generated: false,
  };
}

async function readKey(file: string | undefined, inline: string | undefined, what: string): Promise<Buffer | undefined> {
  const key = file ? await readSecretFile(file) : Buffer.from(inline?.trim() ?? "", "utf8");
  if (key.length === 0) return undefined;
  if (key.length < MIN_KEY_BYTES) {
    throw new Error(`${what} is ${key.length} bytes; use at least ${MIN_KEY_BYTES} (e.g. openssl rand -base64 48)`);
  }
  return key;
}
