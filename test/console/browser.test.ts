/**
 * The analyst console and the posture report in a real browser: Debian's chromium driven by
 * playwright-core (never a downloaded browser). A lab attack is replayed over gRPC into a server
 * on Redis; an analyst signs in, sees it on the overview, looks a decision up by id, quarantines
 * a client by hand and lifts it (and the gRPC answer follows), rolls the policy back, and the
 * report renders to HTML and, through `palisade report`, to PDF. Screenshots of each page go to
 * test-output/console/ (git-ignored) for a reviewer.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { runReplay } from "../../src/lab/replay/run.js";
import type { ScenarioFigures } from "../../src/lab/replay/stats.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { generate, linesText, tempFile } from "../lab/support.js";
import { analystClient, policyFile, secretsDir, TOKENS } from "../support/analyst.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath, repoRoot } from "../support/policies.js";

const CHROMIUM = "/usr/bin/chromium";
const OUTPUT = join(repoRoot, "test-output", "console");
const SCENARIO = `
site: { users: 200, products: 100 }
legit: { sessionsPerMinute: 15 }
scenarios:
  - name: burst
    duration: 2m
    attacks: [{ kind: credential_stuffing, at: 20s, duration: 40s, rate: 4, hitRate: 0.1, knownUserShare: 1 }]
`;

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("analyst console and posture report in a real browser (Debian chromium)", () => {
  let redis: RedisServerHandle;
  let app: App;
  let browser: Browser;
  let envoy: EnvoyAuthzClient;
  let page: Page;
  let replay: ScenarioFigures;
  let policyPath: string;
  let secrets: ReturnType<typeof secretsDir>;
  const traffic = linesText(generate(SCENARIO));
  /** Every client address in the replayed traffic: none may appear on a page or in a report. */
  const rawAddresses = [...new Set(traffic.match(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/g) ?? [])].filter((ip) => !ip.endsWith(".0"));
  const rawUsernames = [...new Set([...traffic.matchAll(/"rawBody":"([^"]+)"/g)].map((m) => /"username":"([^"]+)"/.exec(Buffer.from(m[1]!, "base64").toString())?.[1] ?? ""))].filter((u) => u.length > 3);
  const outside: string[] = [];
  const cspViolations: string[] = [];
  const base = () => `http://127.0.0.1:${app.adminPort}`;
  const alice = () => analystClient(app, TOKENS.analyst);
  const expectNoRawIdentifiers = (text: string) => {
    for (const ip of rawAddresses) expect(text, `raw address ${ip}`).not.toContain(ip);
    for (const user of rawUsernames) expect(text.toLowerCase(), `raw username`).not.toContain(user.toLowerCase());
    for (const token of Object.values(TOKENS)) expect(text, "a token").not.toContain(token);
  };
  const shot = (name: string) => page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    redis = await startRedisServer();
    secrets = secretsDir();
    policyPath = policyFile(readFileSync(examplePolicyPath, "utf8"));
    app = await startTestApp({ redisUrl: redis.url, adminTokensFile: secrets.tokens, trustEventTime: true, policy: policyPath });
    envoy = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
    const input = tempFile(traffic);
    const run = await runReplay({ input, policy: examplePolicyPath, target: `127.0.0.1:${app.grpcPort}`, json: false, format: "auto", scenario: "", maxDisorderMs: 60_000, examples: 3, progress: false });
    replay = run.result.scenarios[0]!;
    expect(rawAddresses.length).toBeGreaterThan(10);
    expect(rawUsernames.length).toBeGreaterThan(10);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    const context = await browser.newContext({ locale: "en-GB", viewport: { width: 1200, height: 900 } });
    page = await context.newPage();
    page.on("request", (request) => {
      if (!request.url().startsWith(base()) && !/^(blob|data|about):/.test(request.url())) outside.push(request.url());
    });
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    envoy?.close();
    await app?.stop();
    await redis?.stop();
  });

  it("signs in with an analyst token and shows the replayed attack on the overview", async () => {
    const first = await page.goto(`${base()}/console/`);
    expect(first?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await shot("sign-in");
    await page.fill("#token", "not-a-token-but-long-enough-0000");
    await page.click("#signin");
    await expect.poll(() => page.textContent("#message")).toContain("not accepted");
    await page.fill("#token", TOKENS.analyst);
    await page.click("#signin");
    await page.waitForSelector("#fig-requests");
    expect(await page.textContent("#who")).toBe("alice (analyst)");
    const mitigated = replay.requests - (replay.actions.allow ?? 0);
    expect(replay.requests).toBeGreaterThan(100);
    expect(mitigated).toBeGreaterThan(0);
    // Counts reach every replica through Redis within the flush interval; this replica reads its own at once.
    await expect.poll(() => page.textContent("#fig-requests"), { timeout: 15_000 }).toBe(replay.requests.toLocaleString("en-GB"));
    expect(await page.textContent("#fig-mitigated")).toContain(mitigated.toLocaleString("en-GB"));
    await page.waitForSelector("#chart-traffic canvas");
    await page.waitForSelector("#chart-actions canvas");
    await page.waitForSelector("#chart-families canvas");
    expect(await page.textContent("#fig-store")).toBe("ok");
    await shot("overview");
    expectNoRawIdentifiers(await page.content());
  });

  it("looks a decision up by id and explains it", async () => {
    // The decision that imposed a quarantine explains itself best: signals with values and thresholds.
    const flagged = (await alice().get("/v1/decisions?limit=1000")).body.decisions as { decisionId: string; action: string; reasons: { code: string }[] }[];
    const recent = flagged.find((d) => d.reasons.some((r) => r.code === "quarantine.imposed")) ?? flagged[0]!;
    expect(recent).toBeDefined();
    await page.click('a[href="#/decisions"]');
    await page.fill("#decision-id", recent.decisionId);
    await page.click("#decision-find");
    await page.waitForSelector("#decision-result h2");
    const text = await page.textContent("#decision-result");
    expect(text).toContain(recent.decisionId);
    expect(text).toContain(recent.action);
    expect(text).toContain(recent.reasons[0]!.code);
    await shot("decision");
    expectNoRawIdentifiers(await page.content());

    // An appeal reaching another replica: its ring lacks the decision, the shared decision records have it.
    const other = await startTestApp({ redisUrl: redis.url, adminTokensFile: secrets.tokens, trustEventTime: true, policy: policyPath });
    const elsewhere = await browser.newPage();
    try {
      await elsewhere.goto(`http://127.0.0.1:${other.adminPort}/console/`);
      await elsewhere.fill("#token", TOKENS.viewer);
      await elsewhere.click("#signin");
      await elsewhere.click('a[href="#/decisions"]');
      await elsewhere.fill("#decision-id", recent.decisionId);
      await elsewhere.click("#decision-find");
      await elsewhere.waitForSelector("#decision-result h2");
      const found = await elsewhere.textContent("#decision-result");
      expect(found).toContain("From the shared decision records");
      expect(found).toContain("quarantine");
      expect(found).toContain(recent.reasons[0]!.code);
      await elsewhere.screenshot({ path: join(OUTPUT, "decision-other-replica.png"), fullPage: true });
    } finally {
      await elsewhere.close();
      await other.stop();
    }
  });

  it("quarantines a client by hand and lifts it with a reason; the gRPC answer follows", async () => {
    const ip = "100.66.12.34";
    const answer = async () => metadata(await envoy.check({ path: "/search", ip })).action;
    expect(await answer()).toBe("allow");
    await page.click('a[href="#/quarantines"]');
    await page.waitForSelector("#add-form");
    await page.selectOption("#add-kind", "ip");
    await page.fill("#add-value", ip);
    await page.fill("#add-duration", "1h");
    await page.fill("#add-reason", "ticket 4711");
    await page.click("#add-submit");
    await expect.poll(() => page.textContent("#message")).toBe("Quarantine added.");
    expect(await answer()).toBe("quarantine");
    const listed = (await alice().get(`/v1/quarantines?ip=${ip}`)).body.quarantines[0];
    const row = page.locator(`tr[data-id="${listed.id}"]`);
    await row.waitFor();
    expect(await page.content()).not.toContain(ip);
    await shot("quarantines");
    await row.locator("input.lift-reason").fill("false positive, ticket 4711");
    await row.locator("button.lift").click();
    await expect.poll(() => page.textContent("#message")).toBe("Quarantine lifted.");
    await expect.poll(() => row.count()).toBe(0);
    expect(await answer()).toBe("allow");
    const lifted = (await alice().get("/v1/audit?action=quarantine.lifted")).body.records[0];
    expect(lifted).toMatchObject({ actor: "token:alice", detail: expect.objectContaining({ reason: "false positive, ticket 4711" }) });
  });

  it("shows the audit trail and rolls the policy back to a kept version", async () => {
    await page.click('a[href="#/audit"]');
    await page.waitForSelector("#audit-table table");
    expect(await page.textContent("#audit-table")).toContain("quarantine.lifted");
    await shot("audit");
    expectNoRawIdentifiers(await page.content());

    const text = readFileSync(policyPath, "utf8");
    const oldVersion = (await alice().get("/v1/policy")).body.effective.version as string;
    writeFileSync(policyPath, text.replace(/version: "?[^"\n]+"?/, 'version: "console-test-2"'));
    await expect.poll(async () => (await alice().get("/v1/policy/versions")).body.versions.length, { timeout: 20_000 }).toBe(2);
    await page.click('a[href="#/policy"]');
    await page.click('a[href="#/overview"]');
    await page.click('a[href="#/policy"]');
    const oldRow = page.locator("tr[data-ref]", { hasText: oldVersion }).first();
    await oldRow.waitFor();
    await page.fill("#rollback-reason", "new version misbehaves");
    await oldRow.locator("button.rollback").click();
    await expect.poll(() => page.textContent("#message")).toContain(`Rolled back to ${oldVersion}`);
    await expect.poll(async () => (await alice().get("/v1/policy")).body.effective.version).toBe(oldVersion);
    await page.waitForSelector("#rollback-clear");

    // Switch a rule off for a while, and override one number with an expiry, from the same page.
    await page.fill("#rollback-expires", "30m");
    await page.locator('tr[data-rule="login-ip-burst"] button.rule-disable').click();
    await expect.poll(() => page.textContent("#message")).toBe("Rule login-ip-burst switched off.");
    expect((await alice().get("/v1/policy")).body.disabledRules).toEqual([expect.objectContaining({ rule: "login-ip-burst", actor: "token:alice" })]);
    await page.fill("#rollback-expires", "30m");
    await page.fill("#override-path", "endpoints/login/velocity/ip/threshold");
    await page.fill("#override-value", "40");
    await page.click("#override-submit");
    await expect.poll(() => page.textContent("#message")).toBe("Override in force.");
    expect((await alice().get("/v1/overrides")).body.thresholds).toEqual([expect.objectContaining({ path: "endpoints/login/velocity/ip/threshold", value: 40 })]);
    await page.locator('tr[data-rule="login-ip-burst"] button.rule-enable').waitFor();
    await shot("policy");
    await page.locator('tr[data-rule="login-ip-burst"] button.rule-enable').click();
    await expect.poll(async () => (await alice().get("/v1/policy")).body.disabledRules).toEqual([]);
  });

  it("renders the posture report with the replay's figures, in the console, as HTML and as a PDF", async () => {
    const json = (await alice().get("/v1/report?since=1h")).body;
    const mitigated = replay.requests - (replay.actions.allow ?? 0);
    // Every request of the replay plus the two Checks of the quarantine test.
    expect(json.headline.requests).toBe(replay.requests + 3);
    expect(json.headline.mitigated).toBe(mitigated + 1);
    expect(json.headline.quarantinesMade).toBeGreaterThanOrEqual(1);
    expect(json.headline.quarantinesLifted).toBe(1);
    expect(json.headline.rollbacks).toBe(1);
    expect(json.headline.policyChanges).toBe(5); // a new version, the rollback, a rule off and on, an override
    // The replayed attack is credential stuffing on the login endpoint: every attack request the
    // replay counts as mitigated is a sign-in attack stopped; legit friction and the attackers'
    // step-ups (a second-factor prompt stops them, but the replay does not count it as mitigated)
    // are all that may add to it.
    expect(json.headline.loginAttacksStopped).toBeGreaterThanOrEqual(replay.attack.mitigated);
    expect(json.headline.loginAttacksStopped).toBeLessThanOrEqual(replay.attack.mitigated + replay.legit.friction + (replay.actions.step_up ?? 0));
    for (const [action, count] of Object.entries(replay.actions)) {
      if (action === "allow") continue;
      const fromReport = json.sections.find((s: { id: string }) => s.id === "actions").chart;
      expect(fromReport.series[0].values.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThanOrEqual(count as number);
    }
    writeFileSync(join(OUTPUT, "report.json"), JSON.stringify(json, null, 2));
    writeFileSync(join(OUTPUT, "replay.json"), JSON.stringify(replay, null, 2));

    await page.click('a[href="#/report"]');
    await page.selectOption("#report-since", "1h");
    await page.click("#report-show");
    const frame = page.frameLocator("#report-frame");
    await frame.locator("section#traffic svg").waitFor();
    expect(await frame.locator("section#traffic p.sentence").textContent()).toContain(json.headline.requests.toLocaleString("en-GB"));
    await shot("report");

    const html = (await alice().get("/v1/report?since=1h&format=html")).text;
    expect(html.match(/<svg /g)?.length).toBe(json.sections.length);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expectNoRawIdentifiers(html);
    const standalone = await browser.newPage({ viewport: { width: 900, height: 1200 } });
    await standalone.setContent(html);
    await standalone.screenshot({ path: join(OUTPUT, "report-page.png"), fullPage: true });
    await standalone.close();
    expectNoRawIdentifiers((await alice().get("/v1/report?since=1h&format=md")).text);
    expectNoRawIdentifiers(JSON.stringify(json));

    const pdf = join(OUTPUT, "report.pdf");
    const cli = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "src/cli/index.ts"), "report", "--since", "1h", "--format", "pdf", "--out", pdf, "--chromium", CHROMIUM, "--server", base(), "--token", TOKENS.viewer],
      { cwd: repoRoot, timeout: 60_000 },
    );
    expect(cli.stderr).toContain(`report written to ${pdf}`);
    const bytes = readFileSync(pdf);
    expect(bytes.subarray(0, 5).toString()).toBe("%PDF-");
    expect(bytes.length).toBeGreaterThan(10_000);
  }, 90_000);

  it("shows a viewer everything and no button that changes anything", async () => {
    await page.click("#signout");
    await page.fill("#token", TOKENS.viewer);
    await page.click("#signin");
    await expect.poll(() => page.textContent("#who")).toBe("vera (viewer)");
    await page.click('a[href="#/quarantines"]');
    await page.waitForSelector("#quarantine-list table");
    expect(await page.locator("#add-form").count()).toBe(0);
    expect(await page.locator("button.lift").count()).toBe(0);
    await page.click('a[href="#/policy"]');
    await page.waitForSelector("tr[data-ref]");
    expect(await page.locator("button.rollback, #rollback-clear").count()).toBe(0);
  });

  it("loaded nothing from outside and broke no Content Security Policy rule", () => {
    expect(outside).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
