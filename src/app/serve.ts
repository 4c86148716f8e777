import { startApp } from "./start.js";
import type { Settings } from "../settings/settings.js";

/**
 * Runs the service until SIGTERM or SIGINT, then shuts down gracefully and exits 0: Kubernetes
 * sends SIGTERM on rollout, and a clean exit keeps the pod from being reported as failed.
 * SIGHUP re-reads the policy and the rate-limit configuration at once instead of waiting for the
 * next poll.
 */
export async function serve(settings: Settings): Promise<void> {
  const app = await startApp(settings);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, "signal received");
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, "shutdown failed");
        process.exit(1);
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
