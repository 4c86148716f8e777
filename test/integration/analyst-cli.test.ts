/**
 * `palisade decisions add/list/delete` (and audit, policy versions) round-trip against a running
 * server on a real Redis, with a token from the flags, the environment or a config file.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { policyFile, secretsDir, TOKENS } from "../support/analyst.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { repoRoot } from "../support/policies.js";
import { responsePolicy } from "../support/response.js";

let redis: RedisServerHandle;
let app: App;
let envoy: EnvoyAuthzClient;
let server: string;

beforeAll(async () => {
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, policy: policyFile(responsePolicy("cli-1")), adminTokensFile: secretsDir().tokens });
  envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  server = `http://127.0.0.1:${app.adminPort}`;
});

afterAll(async () => {
  envoy?.close();
  await app?.stop();
  await redis?.stop();
});

/** Runs the CLI as a user would; never rejects, so failures can be asserted on. */
async function palisade(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PALISADE_")));
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", `${repoRoot}src/cli/index.ts`, ...args], {
      cwd: repoRoot,
      env: { ...clean, HOME: mkdtempSync(join(tmpdir(), "palisade-home-")), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("palisade decisions", { timeout: 180_000 }, () => {
  it("adds, lists and deletes a quarantine with a token from flags, the environment and a config file", async () => {
    const ip = "100.71.0.1";
    const added = await palisade(["decisions", "add", "--ip", ip, "--duration", "2h", "--reason", "ticket 99", "--server", server, "--token", TOKENS.analyst, "-o", "json"]);
    expect(added.code, added.stderr).toBe(0);
    const quarantine = JSON.parse(added.stdout) as { id: string; scope: string; actor: string };
    expect(quarantine).toMatchObject({ scope: "ip", actor: "token:alice" });
    expect(metadata(await envoy.check({ path: "/search", ip })).action).toBe("quarantine");

    const env = { PALISADE_URL: server, PALISADE_TOKEN: TOKENS.viewer };
    const listed = await palisade(["decisions", "list", "--ip", ip], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split("\n")[0]).toMatch(/^ID\s+SCOPE\s+SUBJECT\s+RULE\s+BY\s+REASON\s+EXPIRES\s+LEFT$/);
    expect(listed.stdout).toContain(quarantine.id);
    expect(listed.stdout).toContain("(manual)");
    expect(listed.stdout).toContain("1 of 1");

    const config = join(mkdtempSync(join(tmpdir(), "palisade-cli-")), "cli.yaml");
    writeFileSync(join(config, "..", "token"), `${TOKENS.analyst}\n`);
    writeFileSync(config, `server: ${server}\ntokenFile: token\n`);
    const deleted = await palisade(["decisions", "delete", "--ip", ip, "--reason", "resolved", "-o", "json"], { PALISADE_CONFIG: config });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(JSON.parse(deleted.stdout)).toMatchObject({ count: 1, lifted: [{ id: quarantine.id }] });
    expect(metadata(await envoy.check({ path: "/search", ip })).action).toBe("allow");

    const audit = await palisade(["audit", "--ip", ip, "--since", "1h", "-o", "json"], env);
    expect(JSON.parse(audit.stdout).records.map((r: { action: string; actor: string }) => `${r.action} ${r.actor}`)).toEqual([
      "quarantine.lifted token:alice",
      "quarantine.created token:alice",
    ]);
  });

  it("says what went wrong, with a non-zero exit, when the token is missing or may not write", async () => {
    const anonymous = await palisade(["decisions", "list", "--server", server]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain("401");
    expect(anonymous.stderr).toContain("PALISADE_TOKEN");
    const viewer = await palisade(["decisions", "add", "--ip", "100.71.0.2", "--server", server, "--token", TOKENS.viewer]);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toContain("403");
  });
});

describe("palisade intel export", { timeout: 180_000 }, () => {
  it("shares the networks it quarantined or blocked, coarsened on request, and nothing that names a person", async () => {
    const ips = ["100.74.1.1", "100.74.1.2", "100.74.2.3"];
    for (const ip of ips) expect(metadata(await envoy.check({ path: "/trap", ip })).action).toBe("quarantine");
    expect(metadata(await envoy.check({ path: "/deny", ip: "2001:db8:74::5" })).action).toBe("block");
    // A username sent from a quarantined address (held there: one more decision of rule trap on
    // endpoint step): neither the username nor the address may travel.
    await envoy.check({ path: "/step", ip: "100.74.1.1", headers: { "x-user": "alice.intel@example.com" } });
    const token = ["--server", server, "--token", TOKENS.viewer];

    let csv = "";
    await expect
      .poll(async () => {
        csv = (await palisade(["intel", "export", "--since", "1h", ...token])).stdout;
        return csv;
      }, { timeout: 20_000, interval: 500 })
      .toContain("100.74.2.0/24");
    expect(csv.split("\n")[0]).toBe("network,rules,endpoints,first_seen,last_seen,count");
    expect(csv).toMatch(/^100\.74\.1\.0\/24,trap,(step trap|trap step),[^,]+,[^,]+,3$/m);
    expect(csv).toMatch(/^2001:db8:74::\/48,deny,deny,/m);

    const crowdsec = JSON.parse((await palisade(["intel", "export", "--format", "crowdsec", "--prefix-v4", "16", ...token])).stdout) as { value: string; scope: string; type: string }[];
    expect(crowdsec).toContainEqual(expect.objectContaining({ value: "100.74.0.0/16", scope: "Range", type: "ban" }));
    expect(crowdsec.filter((d) => d.value.startsWith("100.74."))).toHaveLength(1);

    // Nothing of a person: no address, no username, no pseudonym the records hold.
    const records = (await fetch(`${server}/v1/decision-records?from=${new Date(Date.now() - 3_600_000).toISOString()}`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } }).then((r) => r.json())) as {
      records: { subject?: string }[];
    };
    const pseudonyms = records.records.map((r) => r.subject).filter((s): s is string => s !== undefined);
    expect(pseudonyms.length).toBeGreaterThan(3);
    const json = (await palisade(["intel", "export", "--format", "json", ...token])).stdout;
    const stix = (await palisade(["intel", "export", "--format", "stix", ...token])).stdout;
    expect(stix).toContain("[ipv4-addr:value = '100.74.2.0/24']");
    for (const exported of [csv, json, stix, JSON.stringify(crowdsec)]) {
      for (const secret of [...ips, "2001:db8:74::5", "alice", ...pseudonyms]) expect(exported).not.toContain(secret);
    }
  });
});
