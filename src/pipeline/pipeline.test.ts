import { describe, expect, it } from "vitest";
import { minimalPolicyDocument, policyFrom } from "../../test/support/policies.js";
import type { BreachedPasswordList } from "../detection/breached-passwords.js";
import type { Decision } from "../domain/decision.js";
import type { HttpAttributes } from "../domain/request.js";
import type { CompiledPolicy } from "../policy/compile.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import type { HeldDecision, PipelineResponder } from "../response/responder.js";
import { MemoryStore } from "../state/memory-store.js";
import { downStore } from "../../test/support/down-store.js";
import type { PassChecker, PassContext } from "../challenge/passes.js";
import type { Signal } from "../detection/signal.js";
import { SiteActivity } from "../detection/site-activity.js";
import type { CompiledProofOfWork } from "../policy/challenge-schema.js";
import type { EntityBatch, Store } from "../state/store.js";
import { createDetectionState, createPipeline, DecisionUnavailableError, type PipelineDependencies } from "./pipeline.js";
import { collectSignals } from "./signals.js";

const T0 = Date.UTC(2026, 11, 6, 9);
const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 5) });

const LOGIN = (minimalPolicyDocument().spec as { endpoints: Record<string, unknown>[] }).endpoints[0]!;
/** The minimal login endpoint, declared an authentication endpoint (its outcomes are learned). */
const AUTH_LOGIN = { ...LOGIN, authentication: true };
const HOME = { name: "home", match: { methods: ["GET"], path: "/" } };
const PRODUCT = { name: "product", match: { methods: ["GET"], path: "/p/{id}" }, resource: { param: "id" } };

const policyWith = (spec: Record<string, unknown>) => policyFrom(minimalPolicyDocument(spec));

/** The pipeline on an in-memory store over `policy`, on a clock stopped at T0, with its detection state. */
function pipelineOver(policy: CompiledPolicy, deps: Partial<PipelineDependencies> = {}, breached?: BreachedPasswordList) {
  const store = deps.store ?? new MemoryStore();
  const detection = createDetectionState(store, breached);
  const pipeline = createPipeline({ store, pseudonymiser, policy: () => policy, clock: { now: () => T0 }, eventTime: { maxSkewMs: 60_000, trust: true }, detection, ...deps });
  return { pipeline, detection };
}

function login(ip: string, username: string | undefined, requestId?: string, password?: string): HttpAttributes {
  return {
    method: "POST",
    path: "/login",
    headers: new Map([["x-forwarded-for", ip]]),
    body: new TextEncoder().encode(JSON.stringify({ username, password })),
    timeMs: T0,
    requestId,
  };
}

const get = (ip: string, path: string, requestId?: string): HttpAttributes => ({ method: "GET", path, headers: new Map([["x-forwarded-for", ip]]), timeMs: T0, requestId });

describe("what a decision carries for its outcome", () => {
  it("attributes a login to the client and account in pseudonyms and keeps it until the outcome arrives", async () => {
    const { pipeline, detection } = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN] }));
    const { decision, request } = await pipeline.evaluate(login("192.0.2.10", "alice", "req-1"));
    expect(request.usernameId).toBeDefined();
    expect(decision.subject).toBe(request.usernameId);
    expect(decision.attribution).toEqual({
      ipId: request.ipId,
      subnet: request.subnet,
      usernameId: request.usernameId,
      fingerprintId: request.fingerprintId,
      headerShape: request.headerShape,
      country: undefined,
      place: undefined,
    });
    expect(decision.attribution?.ipId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(decision)).not.toMatch(/alice|192\.0\.2\.10/);
    expect(detection.recent.take("req-1")).toMatchObject({ endpoint: "login", ipId: request.ipId, usernameId: request.usernameId, timeMs: T0, allowed: true, steppedUp: false });
  });

  it("names the address as the subject of a login without a username", async () => {
    const { pipeline } = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN] }));
    const { decision, request } = await pipeline.evaluate(login("192.0.2.11", undefined));
    expect(request.usernameId).toBeUndefined();
    expect(decision.subject).toBe(request.ipId);
    expect(decision.attribution).toMatchObject({ ipId: request.ipId, usernameId: undefined });
  });

  it("remembers a denied login as not allowed, a challenged one as challenged and a stepped-up one as stepped up", async () => {
    const blocking = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN], rules: [{ id: "no", when: "true", action: "block" }] }));
    expect((await blocking.pipeline.evaluate(login("192.0.2.12", "bob", "req-2"))).decision.action).toBe("block");
    expect(blocking.detection.recent.take("req-2")).toMatchObject({ allowed: false, steppedUp: false, challenged: false });
    const challenging = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN], rules: [{ id: "prove", when: "true", action: "challenge" }] }));
    expect((await challenging.pipeline.evaluate(login("192.0.2.12", "bob", "req-8"))).decision.action).toBe("challenge");
    expect(challenging.detection.recent.take("req-8")).toMatchObject({ allowed: false, challenged: true });
    const stepping = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN], rules: [{ id: "check", when: "true", action: "step_up" }] }));
    expect((await stepping.pipeline.evaluate(login("192.0.2.12", "bob", "req-3"))).decision.action).toBe("step_up");
    expect(stepping.detection.recent.take("req-3")).toMatchObject({ allowed: true, steppedUp: true });
  });

  it("attributes a catalogue request but keeps no login attempt for it", async () => {
    const { pipeline, detection } = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN, PRODUCT] }));
    const { decision, request } = await pipeline.evaluate(get("192.0.2.13", "/p/42", "req-4"));
    expect(decision.endpoint).toBe("product");
    expect(decision.attribution).toMatchObject({ ipId: request.ipId, subnet: request.subnet });
    expect(detection.recent.take("req-4")).toBeUndefined();
  });

  it("leaves a request with no outcome to wait for unattributed, unless the policy counts missing paths", async () => {
    const plain = pipelineOver(policyWith({ endpoints: [LOGIN, HOME] }));
    for (const attrs of [get("192.0.2.14", "/", "req-5"), login("192.0.2.14", "carol", "req-6")]) {
      const { decision } = await plain.pipeline.evaluate(attrs);
      expect(decision.attribution).toBeUndefined();
    }
    expect(plain.detection.recent.take("req-6")).toBeUndefined();
    const probing = pipelineOver(policyWith({ endpoints: [LOGIN, HOME], signals: { probing: { missingPaths: { threshold: 10 } } } }));
    const { decision, request } = await probing.pipeline.evaluate(get("192.0.2.14", "/", "req-7"));
    expect(decision.attribution).toMatchObject({ ipId: request.ipId });
    expect(probing.detection.recent.take("req-7")).toBeUndefined();
  });
});

/** A responder holding every request in a quarantine and marking what it settles. */
function quarantining(): PipelineResponder & { settled: Decision[]; asked: number } {
  const held: HeldDecision = { action: "quarantine", risk: 90, reasons: [{ code: "quarantine.ip", value: 1, weight: 0 }], rule: "held", retryAfterSeconds: 60, degraded: false, shadowed: [] };
  return {
    settled: [],
    asked: 0,
    held() {
      this.asked++;
      return held;
    },
    async settle(decision) {
      this.settled.push(decision);
      return { ...decision, risk: 77 };
    },
  };
}

describe("the decision's object", () => {
  it("has the same keys in the same order whether a rule acted or none did (one object shape for every decided Check)", async () => {
    const { pipeline } = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN, HOME], rules: [{ id: "no", endpoints: ["login"], when: "true", action: "block" }] }));
    const allowed = (await pipeline.evaluate(get("192.0.2.30", "/"))).decision;
    const blocked = (await pipeline.evaluate(login("192.0.2.31", "carol"))).decision;
    expect([allowed.action, blocked.action]).toEqual(["allow", "block"]);
    expect(Object.keys(allowed)).toEqual(Object.keys(blocked));
    // The keys a decision had before, in their order, so its JSON reads as it did.
    expect(Object.keys(allowed)).toEqual(["risk", "reasons", "degraded", "shadowed", "action", "rule", "scope", "retryAfterSeconds", "rateLimit", "decisionId", "policyVersion", "endpoint", "subject", "eventTimeMs", "attribution"]);
  });
});

describe("quarantines and standing verdicts", () => {
  const listed = {
    endpoints: [AUTH_LOGIN],
    reputation: {
      lists: [
        { name: "blocked", effect: "block", cidrs: ["198.51.100.0/24"] },
        { name: "partners", effect: "allow", cidrs: ["203.0.113.0/28"] },
      ],
    },
  };

  it("answers a quarantined client from the quarantine without touching the store, even on an allow list", async () => {
    const responder = quarantining();
    const { pipeline } = pipelineOver(policyWith(listed), { store: downStore, responder });
    for (const ip of ["192.0.2.20", "203.0.113.3"]) {
      const { decision } = await pipeline.evaluate(login(ip, "dave"));
      expect(decision).toMatchObject({ action: "quarantine", rule: "held", risk: 77 });
      expect(decision.degraded).toBeFalsy();
    }
    expect(responder.settled.map((d) => d.action)).toEqual(["quarantine", "quarantine"]);
  });

  it("lets a standing block win over a quarantine without asking for one", async () => {
    const responder = quarantining();
    const { pipeline } = pipelineOver(policyWith(listed), { store: downStore, responder });
    const { decision } = await pipeline.evaluate(login("198.51.100.7", "erin"));
    expect(decision).toMatchObject({ action: "block", rule: "list:blocked", degraded: false });
    expect(responder.asked).toBe(0);
  });

  it("gives the responder's settled answer, and the decision as decided without a responder", async () => {
    const policy = policyWith({ endpoints: [AUTH_LOGIN] });
    const responder: PipelineResponder = { held: () => undefined, settle: async (decision) => ({ ...decision, action: "throttle", retryAfterSeconds: 5 }) };
    const settled = await pipelineOver(policy, { responder }).pipeline.evaluate(login("192.0.2.21", "frank"));
    expect(settled.decision).toMatchObject({ action: "throttle", retryAfterSeconds: 5 });
    const plain = await pipelineOver(policy).pipeline.evaluate(login("192.0.2.21", "frank"));
    expect(plain.decision.action).toBe("allow");
  });
});

describe("bad input and the rule budget", () => {
  it("turns an input anomaly into a weightless reason rules can act on", async () => {
    const policy = policyWith({ endpoints: [LOGIN, HOME], rules: [{ id: "odd", when: '"input.no_client_address" in reasons', action: "block" }] });
    const { pipeline } = pipelineOver(policy);
    const { decision } = await pipeline.evaluate({ method: "GET", path: "/", headers: new Map(), timeMs: T0 });
    expect(decision).toMatchObject({ action: "block", rule: "odd" });
    expect(decision.reasons).toContainEqual(expect.objectContaining({ code: "input.no_client_address", value: 1, weight: 0 }));
    const clean = await pipeline.evaluate(get("192.0.2.30", "/"));
    expect(clean.decision.action).toBe("allow");
    expect(clean.decision.reasons.map((r) => r.code)).not.toContain("input.no_client_address");
  });

  it("stops evaluating rules past the budget and says so, and never without a budget", async () => {
    const policy = policyWith({ endpoints: [AUTH_LOGIN], rules: [{ id: "all", when: "true", action: "block" }] });
    let exceeded = 0;
    const spent = await pipelineOver(policy, { ruleBudgetMs: -1, onRuleBudgetExceeded: () => exceeded++ }).pipeline.evaluate(login("192.0.2.31", "gina"));
    expect(exceeded).toBe(1);
    expect(spent.decision.reasons.map((r) => r.code)).toContain("policy.evaluation_budget");
    expect(spent.decision.action).not.toBe("block");
    const unbounded = await pipelineOver(policy, { onRuleBudgetExceeded: () => exceeded++ }).pipeline.evaluate(login("192.0.2.31", "gina"));
    expect(unbounded.decision.action).toBe("block");
    expect(exceeded).toBe(1);
  });
});

describe("collecting signals", () => {
  it("reads an account's login history on authentication endpoints only", async () => {
    const signals = { newUsername: { weight: 10 } };
    const codesOn = async (endpoint: Record<string, unknown>) =>
      (await pipelineOver(policyWith({ endpoints: [endpoint], signals })).pipeline.evaluate(login("192.0.2.41", "hank"))).decision.reasons.map((r) => r.code);
    expect(await codesOn(AUTH_LOGIN)).toContain("username.never_succeeded");
    expect(await codesOn(LOGIN)).not.toContain("username.never_succeeded");
  });

  it("checks passwords against the breached list and for spraying on authentication endpoints only", async () => {
    const signals = { breachedPassword: { weight: 15 }, spraying: { window: "10m", threshold: 1, weight: 45 } };
    const identity = { username: { jsonPointer: "/username" }, password: { jsonPointer: "/password" } };
    const everyPasswordBreached: BreachedPasswordList = { contains: async () => true };
    const codesOn = async (endpoint: Record<string, unknown>) => {
      const { pipeline } = pipelineOver(policyWith({ endpoints: [{ ...endpoint, identity }], signals }), {}, everyPasswordBreached);
      const first = await pipeline.evaluate(login("192.0.2.42", "ivan", undefined, "Summer2026!"));
      const second = await pipeline.evaluate(login("192.0.2.43", "judy", undefined, "Summer2026!"));
      return [first, second].map(({ decision }) => decision.reasons.map((r) => r.code));
    };
    const [first, second] = await codesOn(AUTH_LOGIN);
    expect(first).toContain("password.breached");
    expect(second).toEqual(expect.arrayContaining(["password.breached", "password.spraying"]));
    expect((await codesOn(LOGIN)).flat()).not.toContain("password.breached");
    expect((await codesOn(LOGIN)).flat()).not.toContain("password.spraying");
  });

  it("times the rhythm of catalogue and search requests only, not of a page's other requests", async () => {
    const signals = { scraping: { window: "10m", regularity: { minRequests: 3, minGap: "250ms" } } };
    const policy = policyWith({ endpoints: [LOGIN, HOME, PRODUCT], signals });
    const codesAfterFourQuickRequests = async (path: (i: number) => string) => {
      const { pipeline } = pipelineOver(policy);
      let last: Decision | undefined;
      for (let i = 0; i < 4; i++) last = (await pipeline.evaluate({ ...get("192.0.2.44", path(i)), timeMs: T0 + i * 100 })).decision;
      return last!.reasons.map((r) => r.code);
    };
    expect(await codesAfterFourQuickRequests((i) => `/p/${i + 1}`)).toContain("client.too_fast");
    expect(await codesAfterFourQuickRequests((i) => `/?q=${i}`)).toContain("client.too_fast");
    expect(await codesAfterFourQuickRequests(() => "/")).not.toContain("client.too_fast");
  });

  it("judges a client's request rate on an endpoint against the endpoint's baseline", async () => {
    const signals = { scraping: { window: "10m", velocityBaseline: { priorMean: 1, priorStddev: 1, zScore: 1 } } };
    const product = { ...PRODUCT, velocity: { ip: { window: "1m", threshold: 100, weight: 10 } } };
    const { pipeline } = pipelineOver(policyWith({ endpoints: [LOGIN, product], signals }));
    const reasons = [];
    for (let i = 0; i < 3; i++) reasons.push((await pipeline.evaluate(get("192.0.2.45", `/p/${i * 10}`))).decision.reasons);
    expect(reasons[1]!.map((r) => r.code)).not.toContain("behaviour.velocity");
    expect(reasons[2]).toContainEqual(expect.objectContaining({ code: "behaviour.velocity", value: 3, threshold: 2 }));
  });

  it("measures nothing for a request no endpoint takes", async () => {
    const policy = policyWith({});
    const { request } = await pipelineOver(policy).pipeline.evaluate(get("192.0.2.40", "/"));
    const store = new MemoryStore();
    expect(await collectSignals(request, undefined, policy, store, createDetectionState(store))).toEqual({ signals: [], degraded: false });
  });
});

/** Site activity that also lists the attempts the pipeline counted towards the site-wide baseline. */
class CountingSiteActivity extends SiteActivity {
  readonly attempts: [string, string][] = [];
  readonly steppedUp: string[] = [];
  override recordAttempt(endpoint: string, headerShape: string): void {
    this.attempts.push([endpoint, headerShape]);
    super.recordAttempt(endpoint, headerShape);
  }
  override recordSteppedUp(endpoint: string, usernameId: string, timeMs: number): void {
    this.steppedUp.push(usernameId);
    super.recordSteppedUp(endpoint, usernameId, timeMs);
  }
}

describe("outcome bookkeeping and errors", () => {
  it("counts allowed login and catalogue requests towards the site-wide baseline, never denied ones", async () => {
    const policy = policyWith({ endpoints: [AUTH_LOGIN, PRODUCT, HOME], rules: [{ id: "blocked-net", when: 'request.subnet == "198.51.100.0/24"', action: "block" }] });
    const store = new MemoryStore();
    const site = new CountingSiteActivity(store);
    const { pipeline } = pipelineOver(policy, { store, detection: { ...createDetectionState(store), site } });
    const allowed = await pipeline.evaluate(login("192.0.2.61", "kim"));
    expect(allowed.decision.action).toBe("allow");
    expect((await pipeline.evaluate(login("198.51.100.60", "bob"))).decision.action).toBe("block");
    const product = await pipeline.evaluate(get("192.0.2.61", "/p/7"));
    await pipeline.evaluate(get("192.0.2.61", "/"));
    expect((await pipeline.evaluate(get("198.51.100.60", "/p/8"))).decision.action).toBe("block");
    expect(site.attempts).toEqual([["login", allowed.request.headerShape], ["product", product.request.headerShape]]);
  });

  it("tells the site-wide figures which logins were asked for a step-up, unless the client kept no session", async () => {
    const signals = { cohorts: { window: "10m", sessionCookies: ["sid"] } };
    const rules = [{ id: "check", when: 'request.subnet != "198.51.100.0/24"', action: "step_up" }];
    const store = new MemoryStore();
    const site = new CountingSiteActivity(store);
    const { pipeline } = pipelineOver(policyWith({ endpoints: [AUTH_LOGIN], signals, rules }), { store, detection: { ...createDetectionState(store), site } });
    const withCookie = (attrs: HttpAttributes, cookie: string): HttpAttributes => ({ ...attrs, headers: new Map([...attrs.headers, ["cookie", cookie]]) });
    const asked = await pipeline.evaluate(withCookie(login("192.0.2.63", "ann"), "sid=1"));
    expect(asked.decision.action).toBe("step_up");
    expect((await pipeline.evaluate(withCookie(login("198.51.100.63", "kim"), "sid=1"))).decision.action).toBe("allow");
    const sessionless = await pipeline.evaluate(withCookie(login("192.0.2.64", "lou"), "theme=dark"));
    expect(sessionless.decision).toMatchObject({ action: "step_up", reasons: expect.arrayContaining([expect.objectContaining({ code: "client.no_session" })]) });
    expect(site.steppedUp).toEqual([asked.request.usernameId]);
  });

  it("throws a named, coded error when the endpoint fails with an error and the store is down", async () => {
    const { pipeline } = pipelineOver(policyWith({ endpoints: [{ ...AUTH_LOGIN, failMode: "error" }] }), { store: downStore });
    const failure = await pipeline.evaluate(login("192.0.2.62", "lee")).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DecisionUnavailableError);
    expect(failure).toMatchObject({ name: "DecisionUnavailableError", code: "decision.unavailable", message: expect.stringMatching(/store unavailable/) });
  });
});

/** A pass checker that records what it is asked and answers one signal. */
function recordingPasses(): PassChecker & { asked: { token: string; context: PassContext; pow: CompiledProofOfWork }[] } {
  const asked: { token: string; context: PassContext; pow: CompiledProofOfWork }[] = [];
  const signal: Signal = { code: "challenge.pass_valid", value: 1, weight: -30, fired: true };
  return Object.assign(Object.create(null) as PassChecker, {
    asked,
    signals(token: string, context: PassContext, pow: CompiledProofOfWork) {
      asked.push({ token, context, pow });
      return [signal];
    },
  });
}

describe("pass tokens of the built-in challenge", () => {
  const withPow = policyWith({ endpoints: [{ ...AUTH_LOGIN, sensitivity: "high" }, HOME], challenge: { proofOfWork: {} } });
  const withToken = (attrs: HttpAttributes): HttpAttributes => ({ ...attrs, headers: new Map([...attrs.headers, ["x-palisade-pass", "tok-1"]]) });

  it("checks a token with the request's headers, network, endpoint class and time, and gives its signals to the rules", async () => {
    const passes = recordingPasses();
    const { pipeline } = pipelineOver(withPow, { passes });
    const { decision, request } = await pipeline.evaluate(withToken(login("192.0.2.70", "max")));
    expect(passes.asked).toEqual([{ token: "tok-1", context: { headers: request.headers, network: "192.0.2.0/24", endpointClass: "high", nowMs: T0 }, pow: withPow.challenge.proofOfWork }]);
    expect(decision.reasons).toContainEqual(expect.objectContaining({ code: "challenge.pass_valid" }));
    // A request no endpoint names is checked in the default endpoint's class.
    await pipeline.evaluate(withToken(get("192.0.2.70", "/nowhere")));
    expect(passes.asked[1]!.context.endpointClass).toBe(withPow.defaultEndpoint.sensitivity);
  });

  it("checks nothing without a token, without a checker, or without a proof-of-work challenge", async () => {
    const passes = recordingPasses();
    await pipelineOver(withPow, { passes }).pipeline.evaluate(login("192.0.2.71", "ned"));
    const noPow = policyWith({ endpoints: [AUTH_LOGIN] });
    await pipelineOver(noPow, { passes }).pipeline.evaluate(withToken(login("192.0.2.71", "ned")));
    expect(passes.asked).toEqual([]);
    const unchecked = await pipelineOver(withPow).pipeline.evaluate(withToken(login("192.0.2.71", "ned")));
    expect(unchecked.decision.reasons.map((r) => r.code)).not.toContain("challenge.pass_valid");
  });
});

/** The store, counting the calls it gets. */
function countingStore(inner: Store): Store & { calls: number } {
  const counting = {
    calls: 0,
    kind: inner.kind,
    apply: async (...args: Parameters<Store["apply"]>) => {
      counting.calls++;
      return inner.apply(...args);
    },
    observeBaseline: inner.observeBaseline.bind(inner),
    ping: inner.ping.bind(inner),
    close: inner.close.bind(inner),
  };
  return counting;
}

describe("the store batch", () => {
  it("asks the store nothing when no detector has work for it, and is not degraded then", async () => {
    const policy = policyWith({ endpoints: [{ name: "plain", match: { path: "/plain" } }] });
    const store = countingStore(downStore);
    const { pipeline } = pipelineOver(policy, { store });
    const { decision } = await pipeline.evaluate(get("192.0.2.80", "/plain"));
    expect(store.calls).toBe(0);
    expect(decision.degraded).toBeFalsy();
  });

  it("takes a failed store call as degraded and counts from zero, never failing the decision", async () => {
    const policy = policyWith({ endpoints: [AUTH_LOGIN] });
    const { decision } = await pipelineOver(policy, { store: downStore }).pipeline.evaluate(login("192.0.2.81", "ola"));
    expect(decision).toMatchObject({ action: "allow", degraded: true });
    const velocity = decision.reasons.find((r) => r.code === "velocity.ip");
    expect(velocity?.value ?? 0).toBe(0);
  });
});

/** A memory store whose batch answers leave out one entity's results: none for `net:` entities, a short list for `user:` ones. */
/** Answers no result for usernames' entities and leaves subnets' out, as a store might. */
class ForgetfulStore extends MemoryStore {
  override async applyBatch(batches: readonly EntityBatch[], nowMs: number): Promise<number[][]> {
    return forget(batches, await super.applyBatch(batches, nowMs)) as number[][];
  }

  /** The pipeline's path: the memory store answers with status itself (applyBatchWithStatus). */
  override async applyBatchWithStatus(batches: readonly EntityBatch[], nowMs: number) {
    const outcome = await super.applyBatchWithStatus(batches, nowMs);
    return { ...outcome, results: forget(batches, outcome.results) };
  }
}

function forget(batches: readonly EntityBatch[], answered: readonly (number[] | undefined)[]): (number[] | undefined)[] {
  const results: (number[] | undefined)[] = [];
  batches.forEach((batch, i) => {
    if (batch.entity.startsWith("user:")) results[i] = [];
    else if (!batch.entity.startsWith("net:")) results[i] = answered[i];
  });
  return results;
}

describe("the store batch's answers", () => {
  it("hands each detector its own entity's counts, and zero where the store left a result out, without calling it degraded", async () => {
    const limit = { window: "1m", threshold: 1, weight: 10 };
    const policy = policyWith({ endpoints: [{ ...LOGIN, velocity: { ip: limit, subnet: limit, username: limit } }] });
    const { pipeline } = pipelineOver(policy, { store: new ForgetfulStore() });
    await pipeline.evaluate(login("192.0.2.90", "pat"));
    const { decision } = await pipeline.evaluate(login("192.0.2.90", "pat"));
    // Over the threshold of 1, only the address's count of 2 fires; the others count nothing.
    expect(decision.reasons.filter((r) => r.code.startsWith("velocity.")).map((r) => [r.code, r.value])).toEqual([["velocity.ip", 2]]);
    expect(decision.degraded).toBeFalsy();
  });
});
