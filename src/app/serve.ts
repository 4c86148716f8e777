import { helperThreadNiceness, type Settings } from "../settings/settings.js";
import { exitWhenLogged } from "../telemetry/logger.js";
import { lowerHelperThreads } from "./helper-threads.js";
import { isWorkerProcess, runPrimary } from "./workers.js";

/**
 * Runs the service until SIGTERM or SIGINT, then shuts down gracefully and exits 0: Kubernetes
 * sends SIGTERM on rollout, and a clean exit keeps the pod from being reported as failed.
 * SIGHUP re-reads the policy and the rate-limit configuration at once instead of waiting for the
 * next poll. With `workers` above 1 this process becomes the primary of that many workers
 * (src/app/workers.ts), each of which comes back here and serves.
 */
export async function serve(settings: Settings): Promise<void> {
  const worker = isWorkerProcess();
  if (settings.workers > 1 && !worker) return runPrimary(settings);
  // Loaded here: a primary never loads the decision core, gRPC or HTTP servers, and stays small.
  const { startApp } = await import("./start.js");
  const app = await startApp(settings, { worker });
  // After warm-up, whose compilation the helpers do: from here on the Checks come first.
  const niceness = helperThreadNiceness(settings);
  if (niceness > 0) {
    const threads = lowerHelperThreads(niceness);
    app.logger.info({ threads, niceness }, "helper threads run below the main thread");
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, "signal received");
    app.stop().then(
      () => exitWhenLogged(app.logger, 0),
      (error: unknown) => {
        app.logger.error({ err: error }, "shutdown failed");
        exitWhenLogged(app.logger, 1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    void app.policy.reload();
    void app.rateLimitConfig?.reload();
  });
}
