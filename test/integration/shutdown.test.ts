/**
 * Shutdown with Envoy connected: Envoy keeps an access-log stream open for as long as it runs,
 * so stopping must end that stream itself (after recording what it sent) instead of waiting
 * the whole grace period for Envoy to close it and then cutting it.
 */
import { expect, it } from "vitest";
import { startTestApp } from "../support/app.js";
import { envoyAccessLogClient } from "../support/envoy-client.js";

it("ends an open access-log stream cleanly on stop, with its entries recorded", async () => {
  // A grace longer than the test timeout: waiting for it would fail the test.
  const app = await startTestApp({ shutdownGrace: 60_000 });
  const accessLog = envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`);
  try {
    const streamStatus = accessLog.keepOpen([{ requestId: "r-1", method: "GET", path: "/", ip: "192.0.2.10", status: 200 }]);
    await expect.poll(async () => /palisade_access_log_entries_total\{[^}]*\} 1/.test(await app.metrics.metricsText())).toBe(true);
    await app.stop();
    expect(await streamStatus).toBe(0);
  } finally {
    accessLog.close();
  }
});
