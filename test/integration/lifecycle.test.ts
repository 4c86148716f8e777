/**
 * The real command a user runs: `palisade serve` as a child process, probed over gRPC health
 * and HTTP, then stopped with SIGTERM as Kubernetes would.
 */
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { palisadeServices } from "../../src/transport/grpc/protos.js";
import { descriptor, envoyRateLimitClient } from "../support/envoy-ratelimit-client.js";
import { repoRoot } from "../support/policies.js";

const CLI = ["--import", "tsx", "src/cli/index.ts"];

function healthCheck(port: number): Promise<string> {
  const { Client } = palisadeServices().health;
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    (client as any).Check({ service: "" }, (error: Error | null, response: { status: string }) => {
      client.close();
      if (error) reject(error);
      else resolve(response.status);
    }),
  );
}

let child: ReturnType<typeof spawn> | undefined;
afterAll(() => {
  // A failed assertion must not leave the server running and vitest waiting for it.
  if (child && child.exitCode === null) child.kill("SIGKILL");
});

// Each test starts Palisade through tsx: 17 s at a load average of 37, near the 30 s default limit.
describe("palisade serve", { timeout: 60_000 }, () => {
  it("starts with no arguments but free ports, answers probes, and exits 0 on SIGTERM", async () => {
    child = spawn(process.execPath, [...CLI, "serve", "--grpc-port", "0", "--admin-port", "0", "--challenge-port", "0"], {
      cwd: repoRoot,
      env: { ...process.env, PALISADE_GRPC_HOST: "127.0.0.1", PALISADE_ADMIN_HOST: "127.0.0.1", PALISADE_CHALLENGE_HOST: "127.0.0.1", REDIS_URL: "" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout! });
    const started = child;
    const ready = await new Promise<{ grpcPort: number; adminPort: number; rateLimits: { domains: string[] } }>((resolve, reject) => {
      lines.on("line", (line) => {
        const entry = JSON.parse(line) as { msg: string; grpcPort: number; adminPort: number; rateLimits: { domains: string[] } };
        if (entry.msg === "palisade ready") resolve(entry);
      });
      started.on("exit", () => reject(new Error("palisade exited before it was ready")));
    });
    expect(await healthCheck(ready.grpcPort)).toBe("SERVING");
    // The bundled examples/ratelimit.yaml is served on the same port.
    expect(ready.rateLimits.domains).toEqual(["storefront"]);
    const rateLimits = envoyRateLimitClient(`127.0.0.1:${ready.grpcPort}`);
    const answer = await rateLimits.shouldRateLimit({ domain: "storefront", descriptors: [descriptor(["endpoint", "search"], ["remote_address", "192.0.2.1"])] });
    rateLimits.close();
    expect(answer.statuses[0]?.current_limit?.requests_per_unit).toBe(60);
    expect((await fetch(`http://127.0.0.1:${ready.adminPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ready.adminPort}/readyz`)).status).toBe(200);
    started.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});

describe("palisade policy lint", { timeout: 60_000 }, () => {
  it("accepts the example policy and rejects a broken one with path and reason", () => {
    const good = spawnSync(process.execPath, [...CLI, "policy", "lint", "examples/policy.yaml"], { cwd: repoRoot, encoding: "utf8" });
    expect(good.status).toBe(0);
    expect(good.stdout).toContain('policy "storefront"');
    const bad = spawnSync(process.execPath, [...CLI, "policy", "lint", "test/fixtures/policies/invalid/unknown-key.yaml"], {
      cwd: repoRoot,
      encoding: "utf8",
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/treshold/);
  });
});

describe("palisade ratelimit lint", () => {
  // One process only (each costs seconds): what a valid file prints is tested on lintRateLimitConfig.
  it("rejects a broken configuration with path and reason, and exit code 1", () => {
    const bad = spawnSync(process.execPath, [...CLI, "ratelimit", "lint", "test/fixtures/ratelimit/invalid/unknown-key.yaml"], {
      cwd: repoRoot,
      encoding: "utf8",
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('descriptors[0].ratelimit: unknown key (did you mean "rate_limit"?)');
  });
});
