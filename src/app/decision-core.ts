import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Challenges } from "../challenge/challenges.js";
import { loadHashFile, prefixDirectory, type BreachedPasswordList } from "../detection/breached-passwords.js";
import { LoginOutcomeRecorder } from "../detection/login-outcomes.js";
import { systemClock, type Clock } from "../domain/clock.js";
import { createDetectionState, createPipeline, type DetectionState, type Pipeline, type PipelineDependencies } from "../pipeline/pipeline.js";
import type { Store } from "../state/store.js";
import { PolicySource } from "../policy/policy-source.js";
import { resolvePolicyFile } from "../policy/policy-file.js";
import type { Pseudonymiser } from "../privacy/pseudonymiser.js";
import { ResponseEngine, type ResponseObserver, type TrailListener } from "../response/engine.js";
import type { ResponseListener } from "../response/events.js";
import type { PipelineResponder } from "../response/responder.js";
import type { Settings } from "../settings/settings.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { openChallenges } from "./challenge.js";
import { startPseudonymiser } from "./pseudonymiser.js";
import { openStores, type Stores } from "./stores.js";
import { ReputationFeeds } from "./reputation-feeds.js";
import { GeoDatabases } from "./geoip.js";

/**
 * Everything that decides, built once for the server, offline replay, the benchmarks and the
 * tests alike, so that each of them is about the same product: the policy in force, the
 * stores, replica-local detection state, the response engine (quarantines, overrides) and
 * the pipeline and outcome path over them.
 */
export interface DecisionCore {
  policy: PolicySource;
  pseudonymiser: Pseudonymiser;
  stores: Stores;
  detection: DetectionState;
  engine: ResponseEngine;
  pipeline: Pipeline;
  outcomes: LoginOutcomeRecorder;
  /** Reputation feeds the policy names, loaded and refreshed in the background. */
  feeds: ReputationFeeds;
  /** The built-in proof-of-work challenge: issues challenges and checks pass tokens. */
  challenges: Challenges;
  /**
   * The same pipeline over another store with fresh detection state and no responder (nothing
   * quarantined, audited or counted): what warm-up decisions run on. Warm-up may hand it a
   * responder of its own (a response engine on memory) so that the responder's code runs too.
   */
  pipelineOn(store: Store, responder?: PipelineResponder): Pipeline;
  /** Stops reloading and background work, then closes the stores. */
  stop(): Promise<void>;
}

export interface DecisionCoreOptions {
  logger: Logger;
  clock?: Clock;
  /** Counts reloads, rule errors, outcomes and store trouble; absent in replay. */
  metrics?: Metrics;
  /**
   * Hooks of the response engine (its metrics), further receivers of its events, and followers
   * of its audit trail (webhooks; see ResponseEngineDependencies.trailListeners).
   */
  /** `replicaCheckMs`: see ResponseEngineDependencies (tests that must see announcements work set it far off). */
  response?: { observer?: ResponseObserver; listeners?: ResponseListener[]; trailListeners?: TrailListener[]; replicaCheckMs?: number };
  /** false reads the policy once (replay): no file watch, no polling. */
  watchPolicy?: boolean;
  /** Policy reloads parse on a worker thread (default); false keeps them on the event loop (tests, replay). */
  policyReloadOffThread?: boolean;
  /**
   * Wall-clock budget of rule evaluation per Check; none when absent, so replay results never
   * depend on how busy the machine was. The server sets RULE_EVALUATION_BUDGET_MS.
   */
  ruleBudgetMs?: number;
  /** A pseudonymiser the caller keyed (replay keyed like the server); built from the settings when absent. */
  pseudonymiser?: Pseudonymiser;
  /** Stores the caller owns (tests, benchmarks); opened from the settings, and closed on stop, when absent. */
  stores?: Stores;
  /**
   * false in offline replay: the responder keeps no decision records, counts or flagged
   * decisions (see ResponderDependencies.bookkeeping); the same decisions, for less CPU.
   */
  bookkeeping?: boolean;
}

/** A new quarantine's shared write may take this many store budgets before a Check stops waiting. */
const QUARANTINE_BUDGET_FACTOR = 2;
/** Polling for a policy that is never reloaded: the longest interval a timer takes (24.8 days). */
const NO_POLL_MS = 2 ** 31 - 1;

export async function createDecisionCore(settings: Settings, options: DecisionCoreOptions): Promise<DecisionCore> {
  const { logger, metrics } = options;
  const clock = options.clock ?? systemClock;
  const watch = options.watchPolicy ?? true;
  const pseudonymiser = options.pseudonymiser
    ? { instance: options.pseudonymiser, stop: () => {} }
    : await startPseudonymiser(settings, clock, logger);
  let feeds: ReputationFeeds | undefined;
  const policy = new PolicySource({
    location: settings.policy,
    fileRoots: settings.policyFileRoots,
    reloadOffThread: options.policyReloadOffThread ?? watch,
    logger,
    ...(watch ? {} : { watch: false, pollIntervalMs: NO_POLL_MS }),
    onReload: (result) => {
      metrics?.policyReloads.inc({ result: result.ok ? "success" : "rejected" });
      if (result.ok) metrics?.setActivePolicy(result.policy);
      if (result.ok) void feeds?.reconcile(result.policy);
    },
  });
  const cleanup: (() => Promise<void> | void)[] = [() => pseudonymiser.stop()];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  try {
    const first = await policy.start();
    metrics?.setActivePolicy(first);
    cleanup.push(() => policy.stop());
    feeds = new ReputationFeeds({ logger: logger.child({ component: "reputation-feeds" }), metrics, baseDir: dirname(await resolvePolicyFile(settings.policy)), fileRoots: settings.policyFileRoots });
    cleanup.push(() => feeds?.stop());
    await feeds.reconcile(first);
    const breached = await openBreachedPasswords(settings.breachedPasswords, logger);
    const geo = await GeoDatabases.open(settings, logger);
    const stores = options.stores ?? (await openStores(settings, { logger, clock, metrics }));
    if (!options.stores) cleanup.push(() => stores.close());
    const engine = await ResponseEngine.start({
      backend: stores.shared,
      store: stores.store,
      source: policy,
      log: logger.child({ component: "response" }),
      clock: () => clock.now(),
      budgetMs: settings.storeTimeout * QUARANTINE_BUDGET_FACTOR,
      quarantineCopyMax: settings.quarantineCopyMax,
      replicaCheckMs: options.response?.replicaCheckMs,
      listeners: options.response?.listeners ?? [],
      trailListeners: options.response?.trailListeners ?? [],
      observer: options.response?.observer,
      bookkeeping: options.bookkeeping,
    });
    cleanup.push(() => engine.stop());
    const challenges = await openChallenges({ settings, store: stores.store, events: engine.events, metrics, logger, clock });
    const detection = createDetectionState(stores.store, breached, pseudonymiser.instance, stores.bindingMemory);
    detection.feeds = feeds;
    detection.geo = geo;
    const outcomes = new LoginOutcomeRecorder({
      store: stores.store,
      policy: () => policy.current(),
      recent: detection.recent,
      site: detection.site,
      enumeration: detection.enumeration,
      pseudonymiser: pseudonymiser.instance,
      clock,
      onRecorded: (outcome) => metrics?.loginOutcomes.inc({ outcome }),
      onIgnored: (reason) => metrics?.loginOutcomes.inc({ outcome: `ignored_${reason}` }),
      onSignUp: (outcome) => metrics?.loginOutcomes.inc({ outcome: `signup_${outcome}` }),
    });
    const pipelineWith = (parts: Pick<PipelineDependencies, "store" | "detection"> & Partial<PipelineDependencies>) =>
      createPipeline({
        pseudonymiser: pseudonymiser.instance,
        policy: () => policy.current(),
        clock,
        eventTime: { maxSkewMs: settings.maxClockSkew, trust: settings.trustEventTime },
        ruleBudgetMs: options.ruleBudgetMs,
        passes: challenges.passes,
        ...parts,
      });
    const pipeline = pipelineWith({
      store: stores.store,
      detection,
      onRuleError: (rule) => metrics?.ruleErrors.inc({ rule }),
      onRuleBudgetExceeded: () => metrics?.ruleBudgetExceeded.inc(),
      responder: engine.responder,
    });
    const pipelineOn = (store: Store, responder?: PipelineResponder) =>
      pipelineWith({ store, detection: Object.assign(createDetectionState(store, breached, pseudonymiser.instance), { feeds, geo }), ...(responder ? { responder } : {}) });
    return { policy, pseudonymiser: pseudonymiser.instance, stores, detection, engine, pipeline, pipelineOn, outcomes, feeds, challenges, stop: undo };
  } catch (error) {
    await undo();
    throw error;
  }
}

/** The breached-password list is data mounted beside the service, never fetched at run time. */
async function openBreachedPasswords(path: string | undefined, logger: Logger): Promise<BreachedPasswordList | undefined> {
  if (!path) return undefined;
  const list = (await stat(path)).isDirectory() ? prefixDirectory(path) : await loadHashFile(path);
  logger.info({ path }, "breached-password list loaded");
  return list;
}
