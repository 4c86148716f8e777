import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPipeline } from "../../src/pipeline/pipeline.js";
import type { HttpAttributes } from "../../src/domain/request.js";
import { PolicySource } from "../../src/policy/policy-source.js";
import { HmacPseudonymiser } from "../../src/privacy/pseudonymiser.js";
import { ResponseEngine, type ResponseObserver } from "../../src/response/engine.js";
import type { ResponseEvent } from "../../src/response/events.js";
import { MemoryStore } from "../../src/state/memory-store.js";
import { MemoryResponseBackend, type ResponseBackend } from "../../src/state/shared-backend.js";
import type { Store } from "../../src/state/store.js";

export const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * A policy for response tests: `/trap` quarantines the IP (for a minute, `/brief` for a
 * second), `/deny` blocks, `/shadow` would quarantine (shadow rule), `/step` asks for step-up,
 * `/challenge` challenges the username (from the `x-user` header).
 */
export function responsePolicy(version: string, extraRules = "", spec = ""): string {
  return `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: response-test, version: "${version}" }
spec:
${spec}
  endpoints:
    - { name: trap, match: { pathPrefix: /trap } }
    - { name: brief, match: { path: /brief } }
    - { name: deny, match: { path: /deny } }
    - { name: shadow, match: { path: /shadow } }
    - { name: step, match: { path: /step }, identity: { username: { header: x-user } } }
    - { name: challenge, match: { path: /challenge }, identity: { username: { header: x-user } } }
    - name: search
      match: { path: /search }
      velocity: { ip: { window: 1m, threshold: 100, weight: 30 } }
  rules:
    - { id: trap, endpoints: [trap], when: "true", action: quarantine, scope: ip, retryAfter: 1m }
    - { id: brief, endpoints: [brief], when: "true", action: quarantine, scope: ip, retryAfter: 1s }
    - { id: deny, endpoints: [deny], when: "true", action: block, scope: ip }
    - { id: would-quarantine, endpoints: [shadow], when: "true", action: quarantine, scope: ip, shadow: true }
    - { id: step, endpoints: [step], when: "true", action: step_up, scope: username }
    - { id: challenge-user, endpoints: [challenge], when: "true", action: challenge, scope: username }
${extraRules}`;
}

export interface EngineHarness {
  engine: ResponseEngine;
  source: PolicySource;
  store: Store;
  backend: ResponseBackend;
  events: ResponseEvent[];
  /** Runs a request through a pipeline wired to the engine, as the Check service does. */
  check(path: string, ip: string, headers?: Record<string, string>, timeMs?: number): ReturnType<ReturnType<typeof createPipeline>["evaluate"]>;
  /** Replaces the policy file and reloads it. */
  publish(text: string): Promise<void>;
  clock: { now: number };
  stop(): Promise<void>;
}

export async function engineHarness(
  text = responsePolicy("v1"),
  options: { backend?: ResponseBackend; store?: Store; budgetMs?: number; observer?: ResponseObserver } = {},
): Promise<EngineHarness> {
  const dir = mkdtempSync(join(tmpdir(), "palisade-response-"));
  const file = join(dir, "policy.yaml");
  writeFileSync(file, text);
  const source = new PolicySource({ location: file, logger: quiet, watch: false, pollIntervalMs: 3_600_000 });
  await source.start();
  const clock = { now: Date.UTC(2026, 10, 24, 9) };
  const store = options.store ?? new MemoryStore();
  const backend = options.backend ?? new MemoryResponseBackend({ clock: () => clock.now });
  const events: ResponseEvent[] = [];
  const engine = await ResponseEngine.start({
    backend,
    store,
    source,
    log: quiet,
    clock: () => clock.now,
    budgetMs: options.budgetMs ?? 1_000,
    listeners: [(event) => events.push(event)],
    observer: options.observer,
  });
  const pipeline = createPipeline({
    store,
    pseudonymiser: new HmacPseudonymiser({ current: Buffer.alloc(32, 7) }),
    policy: () => source.current(),
    clock: { now: () => clock.now },
    eventTime: { maxSkewMs: 60_000, trust: true },
    responder: engine.responder,
  });
  return {
    engine,
    source,
    store,
    backend,
    events,
    clock,
    check: (path, ip, headers = {}, timeMs = clock.now) => {
      const attrs: HttpAttributes = { method: "GET", path, headers: new Map(Object.entries({ "x-forwarded-for": ip, ...headers })), timeMs };
      return pipeline.evaluate(attrs);
    },
    async publish(next) {
      clock.now += 1_000; // an operator's edit comes a while after the last one
      writeFileSync(file, next);
      await source.reload();
    },
    async stop() {
      await engine.stop();
      await source.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
