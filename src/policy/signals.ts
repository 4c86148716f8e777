import { durationMs } from "./duration.js";
import type { SignalsSpec } from "./schema.js";

export interface CountLimit {
  threshold: number;
  weight: number;
}

type Scoped<S extends string> = { windowMs: number } & Partial<Record<S, CountLimit>>;

/** The signal settings with durations in milliseconds; absent blocks are off. */
export interface CompiledSignals {
  failures?: Scoped<"ip" | "subnet" | "username" | "fingerprint">;
  failureRatio?: { windowMs: number; minAttempts: number; threshold: number; weight: number };
  distinctUsernames?: Scoped<"ip" | "subnet" | "fingerprint">;
  distinctIps?: Scoped<"username">;
  siteAnomaly?: NonNullable<SignalsSpec["siteAnomaly"]>;
  newUsername?: { weight: number };
  spraying?: { windowMs: number; threshold: number; weight: number };
  enumeration?: { windowMs: number; threshold: number; weight: number };
  tokenReplay?: { windowMs: number; threshold: number; weight: number };
  breachedPassword?: { weight: number };
  accountHistory?: {
    retentionMs: number;
    maxPerAccount: number;
    newFingerprint: number;
    newSubnet: number;
    newCountry: number;
  };
  automation?: { weight: number };
  sequence?: { windowMs: number; weight: number };
  geo?: { countryHeader: string };
}

/** Replaces every `window`/`retention` duration text by milliseconds. */
export function compileSignals(spec: SignalsSpec): CompiledSignals {
  const { failures, failureRatio, distinctUsernames, distinctIps, spraying, enumeration, tokenReplay, accountHistory, sequence } = spec;
  return {
    ...spec,
    failures: failures && withWindow(failures),
    failureRatio: failureRatio && withWindow(failureRatio),
    distinctUsernames: distinctUsernames && withWindow(distinctUsernames),
    distinctIps: distinctIps && withWindow(distinctIps),
    spraying: spraying && withWindow(spraying),
    enumeration: enumeration && withWindow(enumeration),
    tokenReplay: tokenReplay && withWindow(tokenReplay),
    sequence: sequence && withWindow(sequence),
    accountHistory: accountHistory && {
      retentionMs: durationMs(accountHistory.retention),
      maxPerAccount: accountHistory.maxPerAccount,
      newFingerprint: accountHistory.newFingerprint,
      newSubnet: accountHistory.newSubnet,
      newCountry: accountHistory.newCountry,
    },
  };
}

function withWindow<T extends { window: string }>(block: T): Omit<T, "window"> & { windowMs: number } {
  const { window, ...rest } = block;
  return { ...rest, windowMs: durationMs(window) };
}
