import type { CompiledEndpoint, CompiledPolicy } from "../policy/compile.js";
import type { CompiledSignals, CompiledSiteEnumeration } from "../policy/signals.js";
import { cookieValue } from "../domain/cookies.js";
import { headerKnown, type NormalisedRequest } from "../domain/request.js";
import type { BaselineState, EntityOp, Store } from "../state/store.js";
import { Cadence } from "./cadence.js";
import { shortDigest } from "./digests.js";
import { shapeOf } from "./path-shape.js";
import { STATIC_ASSET } from "./probes.js";
import type { Signal } from "./signal.js";
// Merged and learned at the pace of the other site-wide figures, and forgotten after as long.
import { BASELINE_RETENTION_MS, FLUSH_EVERY_MS, MINUTE_MS } from "./site-activity.js";

/**
 * Targets (path shapes and sign-up endpoints) followed at once per replica. A miss on a new
 * target beyond this evicts the one that missed least recently and is not surging: a flood of
 * random paths costs a bounded map, and a surge in progress is never forgotten for it.
 */
const MAX_TARGETS = 64;
/** Missing ids of one target added to the shared count per merge; a flood past it is counted from its first ones. */
const MAX_PENDING_IDS = 256;

type Kind = "path" | "signup";

interface Target {
  kind: Kind;
  /** Path shape, or the sign-up endpoint's name: what the reason names. */
  label: string;
  entity: string;
  /** Missing ids (or accounts answered as registered) since the last merge, hashed. */
  pending: Set<string>;
  /** Ids (or accounts) denied on `site.enumeration` since the last merge, hashed. */
  pendingDenied: Set<string>;
  /** Distinct missing ids over the window, site-wide, as of the last merge: the site's own answers only. */
  distinct: number;
  /** Distinct denied ids over the window, site-wide, as of the last merge. */
  denied: number;
  /** The last merge at which the site's own answers alone surged: denials hold the surge for one window after it. */
  surgedAtMs?: number;
  /** The figure learned from this target's calm minutes (shared through the store), once read. */
  baseline?: BaselineState;
  /** The last minute folded into (or read from) the baseline. */
  learnedMinute: number;
}

type Limit = NonNullable<CompiledSiteEnumeration["paths"]>;

/**
 * Enumeration spread over many addresses, judged site-wide (docs/default-endpoint.md, site-wide
 * enumeration). Each proxy asks for two to four ids, so no per-client count ever speaks; what
 * shows is the site's answers: one path shape (its id-like segments as `{id}`) answering a 404 for
 * far more different ids than the shop's own traffic ever asks for on it, or a sign-up endpoint
 * answering "already registered" for far more different addresses than people who forgot they had
 * an account. The misses come from Envoy's access log; every replica merges its own into the
 * store once a second and reads back the site's count over the window, so all replicas say the
 * same. While a target surges, its requests from clients with no standing on the site (no
 * session cookie, no credentials) are `site.enumeration`: a person who signed in to track their
 * own order, or loaded the sign-up page before registering, is never among them.
 */
export class SiteEnumeration {
  readonly #targets = new Map<string, Target>();
  readonly #cadence = new Cadence();
  #flushing: Promise<void> | undefined;

  constructor(private readonly store: Store) {}

  /** The site answered a miss (`paths.statuses`, from the access log) for `path`, which no endpoint names. */
  recordMissingPath(path: string): void {
    // A missing picture or script is a broken link every reader of its page trips over.
    if (STATIC_ASSET.test(path)) return;
    // A fixed path is one resource, not a range of ids (a crawler's old links and a scanner's fixed paths are left to the per-client evidence).
    const { shape, replaced } = shapeOf(path);
    if (replaced) this.#miss("path", shape, path);
  }

  /** The registration endpoint answered a sign-up for `usernameId` with "already registered" (`signUps.statuses`). */
  recordExistingAccount(endpoint: string, usernameId: string): void {
    this.#miss("signup", endpoint, usernameId);
  }

  /**
   * A request denied on `site.enumeration`: its id (or account) counts towards its target's surge.
   * The denial stopped the answer the site would have given, and without it the surge would
   * lapse a window into its mitigation, let the enumeration through until its misses showed
   * again, and so on. Denials count only within one window after the site's own answers last
   * surged: the shop's app users sign up without a session too, and their denials alone must
   * never keep a short probe's surge going.
   */
  recordDenied(request: NormalisedRequest, endpoint: CompiledEndpoint, policy: CompiledPolicy): void {
    const named = targetOf(request, endpoint, policy);
    const id = named?.kind === "path" ? request.path : request.usernameId;
    if (named && id !== undefined) this.#miss(named.kind, named.label, id, true);
  }

  /**
   * `site.enumeration` for this request, when its target surges and the client has no standing.
   * A target this replica does not follow yet is followed from here, so that the next merge reads
   * the site's count: a replica Envoy sends no access log to sees no miss of its own.
   */
  signalsFor(request: NormalisedRequest, endpoint: CompiledEndpoint, policy: CompiledPolicy): Signal[] {
    const config = policy.signals.siteEnumeration;
    const named = config && targetOf(request, endpoint, policy);
    const limit = named && limitOf(config, named.kind);
    if (!named || !limit || !withoutStanding(request, policy.signals)) return [];
    const target = this.#targets.get(entityOf(named.kind, named.label));
    if (!target) {
      this.#follow(named.kind, named.label);
      return [];
    }
    const threshold = thresholdOf(limit, config.learning, target.baseline);
    const held = target.surgedAtMs !== undefined && request.timeMs - target.surgedAtMs <= limit.windowMs;
    const distinct = held ? target.distinct + target.denied : target.distinct;
    if (distinct <= threshold.value) return [];
    const what = target.kind === "path" ? `different ids answered ${limit.statuses.join("/")} on ${target.label}` : `different accounts answered ${limit.statuses.join("/")} (already registered) on ${target.label}`;
    return [{
      code: "site.enumeration",
      value: distinct,
      threshold: threshold.value,
      weight: config.weight,
      fired: true,
      detail: `${what} over the window, site-wide, threshold from ${threshold.source === "prior" ? "the policy's prior" : `the learned baseline (${target.baseline!.samples} calm minutes)`}; a client with no session`,
      windowMs: limit.windowMs,
    }];
  }

  /**
   * Merges this replica's misses and reads the site's counts back once per second of event time;
   * concurrent callers share one merge. `ahead`: the keeper's call (Cadence.dueAhead), so that
   * the misses of a replica no Check asks are merged too, and its next Check waits for none.
   */
  maybeFlush(policy: CompiledPolicy, nowMs: number, ahead = false): Promise<void> | undefined {
    const config = policy.signals.siteEnumeration;
    if (!config || this.#targets.size === 0) return undefined;
    if (!(ahead ? this.#cadence.dueAhead(nowMs, FLUSH_EVERY_MS) : this.#cadence.due(nowMs, FLUSH_EVERY_MS))) return undefined;
    this.#flushing ??= this.#flush(config, nowMs).finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #flush(config: CompiledSiteEnumeration, nowMs: number): Promise<void> {
    await Promise.all(
      [...this.#targets.values()].map(async (target) => {
        const limit = limitOf(config, target.kind);
        if (!limit) return void this.#targets.delete(target.entity);
        const answered = addOps(target.pending, "ids", limit.windowMs);
        const ops = [...answered, ...addOps(target.pendingDenied, "denied", limit.windowMs)];
        target.pending.clear();
        target.pendingDenied.clear();
        const results = await this.store.apply(target.entity, ops, nowMs).catch(() => undefined);
        // The store unreachable: the last figures stand until it answers again.
        if (results) {
          target.distinct = results[answered.length - 1] ?? 0;
          target.denied = results.at(-1) ?? 0;
          if (target.distinct > thresholdOf(limit, config.learning, target.baseline).value) target.surgedAtMs = nowMs;
        }
        const minute = Math.floor(nowMs / MINUTE_MS);
        if (results && minute > target.learnedMinute) await this.#learn(target, limit, config.learning, minute);
        if (isIdle(target)) this.#targets.delete(target.entity);
      }),
    );
  }

  /**
   * Once a minute, a calm target's figure is folded into its baseline, shared by the replicas (the
   * first to fold a minute wins it). A surging minute is not learned: an enumeration never
   * becomes the shop's own traffic. The surge's figure is not read either: without a baseline
   * yet, the prior decides.
   */
  async #learn(target: Target, limit: Limit, learning: CompiledSiteEnumeration["learning"], minute: number): Promise<void> {
    target.learnedMinute = minute;
    if (target.distinct > thresholdOf(limit, learning, target.baseline).value) return;
    const observation = { period: minute, value: target.distinct, alpha: learning.learningRate, retentionMs: BASELINE_RETENTION_MS };
    target.baseline = await this.store.observeBaseline(target.entity, "ids", observation).catch(() => target.baseline);
  }

  #miss(kind: Kind, label: string, id: string, denied = false): void {
    const target = this.#follow(kind, label);
    const pending = denied ? target?.pendingDenied : target?.pending;
    if (pending && pending.size < MAX_PENDING_IDS) pending.add(shortDigest("sha1", id, 16));
  }

  /** The target, followed from now on and moved to the newest end; undefined when every followed one surges. */
  #follow(kind: Kind, label: string): Target | undefined {
    const entity = entityOf(kind, label);
    let target = this.#targets.get(entity);
    if (target) this.#targets.delete(entity);
    else {
      if (this.#targets.size >= MAX_TARGETS && !this.#evictOne()) return undefined;
      target = { kind, label, entity, pending: new Set(), pendingDenied: new Set(), distinct: 0, denied: 0, learnedMinute: 0 };
    }
    // Re-inserted: the map's order is the order of the latest misses and look-ups.
    this.#targets.set(entity, target);
    return target;
  }

  /** Forgets the target that missed least recently and does not surge; false when every one surges. */
  #evictOne(): boolean {
    for (const [entity, target] of this.#targets) {
      if (target.distinct === 0 || target.pending.size > 0 || target.pendingDenied.size > 0) {
        this.#targets.delete(entity);
        return true;
      }
    }
    return false;
  }
}

/** Adds each of `members` to the set `name` and counts it once, last. */
function addOps(members: Set<string>, name: string, windowMs: number): EntityOp[] {
  const ops: EntityOp[] = [...members].map((member) => ({ op: "distinct.add", name, windowMs, member, count: false }));
  ops.push({ op: "distinct.add", name, windowMs });
  return ops;
}

/** Nothing counted over the window and nothing waiting for the next merge. */
function isIdle(target: Target): boolean {
  return target.distinct === 0 && target.denied === 0 && target.pending.size === 0 && target.pendingDenied.size === 0;
}

/** The path shape a request on the default class belongs to, or the sign-up endpoint it names. */
function targetOf(request: NormalisedRequest, endpoint: CompiledEndpoint, policy: CompiledPolicy): { kind: Kind; label: string } | undefined {
  if (endpoint.registration) return { kind: "signup", label: endpoint.name };
  if (endpoint !== policy.defaultEndpoint) return undefined;
  const { shape, replaced } = shapeOf(request.path);
  return replaced ? { kind: "path", label: shape } : undefined;
}

function limitOf(config: CompiledSiteEnumeration, kind: Kind): Limit | undefined {
  return kind === "path" ? config.paths : config.signUps;
}

/**
 * The policy's prior, or the learned baseline's mean plus `zScore` deviations once it saw
 * `minSamples` minutes and only where that is higher: the prior is what no shop's own traffic
 * reaches, a site whose people make more misses on one shape raises it by learning.
 */
function thresholdOf(limit: Limit, learning: CompiledSiteEnumeration["learning"], baseline: BaselineState | undefined): { value: number; source: "prior" | "baseline" } {
  if (!baseline || baseline.samples < learning.minSamples) return { value: limit.threshold, source: "prior" };
  const learned = Math.round((baseline.mean + learning.zScore * Math.sqrt(baseline.variance)) * 100) / 100;
  return learned > limit.threshold ? { value: learned, source: "baseline" } : { value: limit.threshold, source: "prior" };
}

/** One store entity per target, the same on every replica; hashed, so a path's braces or length never reach a key. */
function entityOf(kind: Kind, label: string): string {
  return `site:enum:${kind}:${shortDigest("sha1", label, 16)}`;
}

/**
 * No standing on the site: the request carries none of its session cookies (`cohorts.sessionCookies`;
 * no cookie at all when none are named) and no credentials. An imported log that never recorded
 * cookies proves nothing, so nobody is without standing there.
 */
function withoutStanding(request: NormalisedRequest, signals: CompiledSignals): boolean {
  if (!headerKnown(request, "cookie") || request.headers.has("authorization")) return false;
  const cookies = request.headers.get("cookie");
  const named = signals.cohorts?.sessionCookies ?? [];
  return named.length === 0 ? cookies === undefined : !named.some((name) => cookieValue(cookies, name) !== undefined);
}
