import { durationMs } from "../config/duration.js";
import type { CompiledProbing } from "./probes.js";
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
  slowStuffing?: { windowMs: number; minUsernames: number; minFailures: number; weight: number; fingerprint?: { minUsernames: number; weight: number } };
  spraying?: { windowMs: number; threshold: number; weight: number };
  enumeration?: { windowMs: number; threshold: number; weight: number };
  tokenReplay?: { windowMs: number; threshold: number; weight: number };
  tokenBinding?: CompiledTokenBinding;
  sharedAddress?: { windowMs: number; cookies: string[]; minClients: number; logins?: { minSignedIn: number; maxFailureRatio: number } };
  breachedPassword?: { weight: number };
  accountHistory?: {
    retentionMs: number;
    maxPerAccount: number;
    newFingerprint: number;
    newSubnet: number;
    newCountry: number;
    newDevice: number;
    deviceCookies: string[];
  };
  automation?: { weight: number; libraryWeight: number; tlsBrowserFingerprints: string[] };
  scraping?: CompiledScraping;
  cohorts?: {
    windowMs: number;
    sessionCookies: string[];
    minMembers: number;
    browserWithoutSession: number;
    catalogueWalk?: { maxStep: number; withinMs: number; minRun: number; weight: number };
    catalogueSpread?: { windowMs: number; catalogueSize: number; minExpectedRepeats: number; maxRepeatShare: number; session: { minReads: number; firstShare: number; weight: number } };
    sessionAccounts?: { threshold: number; weight: number };
    sessionReads?: { windowMs: number; threshold: number; weight: number; cohortWeight: number; cohortShare: number; firstLoginShare?: number; pagesSkipped?: { param: string; minPage: number; weight: number } };
  };
  sequence?: { windowMs: number; weight: number };
  geo?: {
    countryHeader: string;
    hosting?: { weight: number };
    impossibleTravel?: { maxSpeedKmh: number; minDistanceKm: number; retentionMs: number; weight: number; action: string };
  };
  probing?: CompiledProbing;
  siteEnumeration?: CompiledSiteEnumeration;
}

interface EnumerationLimit {
  windowMs: number;
  statuses: readonly number[];
  threshold: number;
}

export interface CompiledSiteEnumeration {
  paths?: EnumerationLimit;
  signUps?: EnumerationLimit;
  learning: { zScore: number; minSamples: number; learningRate: number };
  weight: number;
}

export interface CompiledTokenBinding {
  companionCookies: string[];
  newDevice: number;
  companionChanged: number;
  companionMissing?: number;
  /** `rememberMs`: how long after two networks took turns every use is flagged (at least `windowMs`). */
  alternation: { windowMs: number; weight: number; rememberMs: number };
  churn: { windowMs: number; maxNetworks: number; weight: number };
  rate: { windowMs: number; max: number; weight: number };
  handoff?: { windowMs: number; weight: number };
  retentionMs: number;
}

export interface CompiledScraping {
  windowMs: number;
  distinctResources: Partial<Record<"ip" | "subnet" | "fingerprint", CountLimit>>;
  sequentialIds?: { threshold: number; maxStep: number; weight: number };
  notFoundRatio?: { minRequests: number; threshold: number; weight: number };
  distinctQueries?: CountLimit;
  noAssets?: { minRequests: number; weight: number };
  regularity?: { minRequests: number; maxVariation: number; minGapMs: number; weight: number };
  velocityBaseline?: NonNullable<NonNullable<SignalsSpec["scraping"]>["velocityBaseline"]>;
  siteAnomaly?: NonNullable<SignalsSpec["siteAnomaly"]>;
}

/** Replaces every `window`/`retention` duration text by milliseconds; `probing` comes compiled (it reads list files). */
export function compileSignals(spec: SignalsSpec, probing?: CompiledProbing): CompiledSignals {
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
    tokenBinding: spec.tokenBinding && compileTokenBinding(spec.tokenBinding),
    sequence: sequence && withWindow(sequence),
    cohorts: spec.cohorts && compileCohorts(spec.cohorts),
    slowStuffing: spec.slowStuffing && withWindow(spec.slowStuffing),
    sharedAddress: spec.sharedAddress && withWindow(spec.sharedAddress),
    scraping: spec.scraping && compileScraping(spec.scraping),
    probing,
    siteEnumeration: spec.siteEnumeration && compileSiteEnumeration(spec.siteEnumeration),
    geo: spec.geo && {
      ...spec.geo,
      impossibleTravel: spec.geo.impossibleTravel && { ...spec.geo.impossibleTravel, retentionMs: durationMs(spec.geo.impossibleTravel.retention) },
    },
    accountHistory: accountHistory && {
      retentionMs: durationMs(accountHistory.retention),
      maxPerAccount: accountHistory.maxPerAccount,
      newFingerprint: accountHistory.newFingerprint,
      newSubnet: accountHistory.newSubnet,
      newCountry: accountHistory.newCountry,
      newDevice: accountHistory.newDevice,
      deviceCookies: accountHistory.deviceCookies,
    },
  };
}

function compileCohorts({ catalogueWalk, sessionReads, catalogueSpread, ...rest }: NonNullable<SignalsSpec["cohorts"]>): NonNullable<CompiledSignals["cohorts"]> {
  const compiled: NonNullable<CompiledSignals["cohorts"]> = {
    ...withWindow(rest),
    ...(sessionReads ? { sessionReads: withWindow(sessionReads) } : {}),
    ...(catalogueSpread ? { catalogueSpread: withWindow(catalogueSpread) } : {}),
  };
  if (!catalogueWalk) return compiled;
  const { within, ...walk } = catalogueWalk;
  return { ...compiled, catalogueWalk: { ...walk, withinMs: durationMs(within) } };
}

function compileTokenBinding({ retention, alternation, churn, rate, handoff, ...rest }: NonNullable<SignalsSpec["tokenBinding"]>): CompiledTokenBinding {
  return {
    ...rest,
    alternation: compileAlternation(alternation),
    churn: withWindow(churn),
    rate: withWindow(rate),
    handoff: handoff && withWindow(handoff),
    retentionMs: durationMs(retention),
  };
}

function compileAlternation({ remember, ...rest }: NonNullable<SignalsSpec["tokenBinding"]>["alternation"]): CompiledTokenBinding["alternation"] {
  const alternation = withWindow(rest);
  return { ...alternation, rememberMs: Math.max(alternation.windowMs, remember === undefined ? 0 : durationMs(remember)) };
}

function compileSiteEnumeration({ paths, signUps, learning, weight }: NonNullable<SignalsSpec["siteEnumeration"]>): CompiledSiteEnumeration {
  return {
    paths: paths && { windowMs: durationMs(paths.window), statuses: paths.statuses, threshold: paths.missingIds },
    signUps: signUps && { windowMs: durationMs(signUps.window), statuses: signUps.statuses, threshold: signUps.existingAccounts },
    learning,
    weight,
  };
}

function compileScraping(spec: NonNullable<SignalsSpec["scraping"]>): CompiledScraping {
  const { regularity, ...rest } = withWindow(spec);
  return {
    ...rest,
    regularity: regularity && {
      minRequests: regularity.minRequests,
      maxVariation: regularity.maxVariation,
      minGapMs: durationMs(regularity.minGap),
      weight: regularity.weight,
    },
  };
}

function withWindow<T extends { window: string }>(block: T): Omit<T, "window"> & { windowMs: number } {
  const { window, ...rest } = block;
  return { ...rest, windowMs: durationMs(window) };
}
