/**
 * Regenerates docs/openapi.json, the admin and analyst API's OpenAPI description, from the
 * routes' zod schemas (`npm run openapi`): starts the service on free ports with the example
 * policy and the in-memory store, reads /v1/openapi.json, stops. test/deploy/openapi.test.ts
 * fails when the checked-in file has drifted from the routes.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startApp } from "../src/app/start.js";
import { resolveSettings } from "../src/settings/settings.js";
import { createLogger } from "../src/telemetry/logger.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const settings = resolveSettings({ grpcPort: 0, adminPort: 0, grpcHost: "127.0.0.1", adminHost: "127.0.0.1" }, {}, { policy: `${root}examples/policy.yaml` });
const app = await startApp(settings, { logger: createLogger({ level: "silent" }) });
try {
  const target = `${root}docs/openapi.json`;
  writeFileSync(target, `${JSON.stringify(await app.admin.openapi(), null, 2)}\n`);
  process.stdout.write(`wrote ${target}\n`);
} finally {
  await app.stop();
}
