import { createDecisionCore, type DecisionCore, type DecisionCoreOptions } from "../../src/app/decision-core.js";
import type { Clock } from "../../src/domain/clock.js";
import { settingsSchema, type SettingsInput } from "../../src/settings/settings.js";
import { MemoryStore } from "../../src/state/memory-store.js";
import { MemorySharedBackend, type SharedBackend } from "../../src/state/shared-backend.js";
import type { Store } from "../../src/state/store.js";
import { createLogger, type Logger } from "../../src/telemetry/logger.js";
import { TEST_PSEUDONYM_KEY } from "./app.js";

export interface TestCoreOptions extends Pick<DecisionCoreOptions, "metrics" | "response" | "bookkeeping"> {
  /** The Check path's store; a fresh in-memory one by default. The test owns it: stop() leaves it open. */
  store?: Store;
  /** Shared maps and audit log; in memory on `clock` by default. */
  shared?: SharedBackend;
  clock?: Clock;
  settings?: SettingsInput;
  /** Where the core logs; silent by default. */
  logger?: Logger;
}

/**
 * The decision core the server builds, over the policy file at `policy`, with a fixed
 * pseudonymisation key, event time trusted, quiet logs and in-memory stores unless given.
 */
export function testDecisionCore(policy: string, options: TestCoreOptions = {}): Promise<DecisionCore> {
  const clock = options.clock ?? { now: () => Date.now() };
  const settings = settingsSchema.parse({
    policy,
    pseudonymKey: TEST_PSEUDONYM_KEY,
    trustEventTime: true,
    maxClockSkew: 60_000,
    logLevel: "silent",
    ...options.settings,
  });
  const stores = {
    store: options.store ?? new MemoryStore(),
    shared: options.shared ?? new MemorySharedBackend({ clock: () => clock.now() }),
    close: async () => {},
  };
  return createDecisionCore(settings, { logger: options.logger ?? createLogger({ level: "silent" }), clock, stores, watchPolicy: false, metrics: options.metrics, response: options.response, bookkeeping: options.bookkeeping });
}
