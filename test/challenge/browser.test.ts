import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";
import { startChallengeRig, type ChallengeRig } from "./fixture.js";

const CHROMIUM = "/usr/bin/chromium";
/** Screenshots land here; the folder is gitignored. */
const OUTPUT = join(repoRoot, "test-output", "challenge");

describe.skipIf(!existsSync(CHROMIUM))("challenge in a real browser (Debian chromium)", () => {
  let rig: ChallengeRig;
  let browser: Browser;

  beforeAll(async () => {
    rig = await startChallengeRig();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
  });

  it("is challenged, solves it, is let through, and the next request needs no challenge", async () => {
    const context = await browser.newContext({ locale: "en-GB" });
    const page = await context.newPage();
    const outside: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(rig.front.url) && !request.url().startsWith("blob:") && !request.url().startsWith("data:")) outside.push(request.url());
    });
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });

    // Hold the solution back a moment, so the screenshot shows the page before it moves on.
    let releaseVerify = () => {};
    const held = new Promise<void>((resolve) => (releaseVerify = resolve));
    await page.route("**/.palisade/challenge/verify", async (route) => {
      await held;
      await route.continue();
    });
    const passed = page.waitForResponse((response) => response.url() === `${rig.front.url}/account/orders` && response.status() === 200, { timeout: 25_000 });
    const first = await page.goto(`${rig.front.url}/account/orders`);
    expect(first?.status()).toBe(401);
    expect(first?.headers()["content-type"]).toMatch(/^text\/html/);
    const html = (await first?.text()) ?? "";
    expect(html).toContain('<html lang="en">');
    expect(html).toMatch(/<noscript><p><strong>This check needs JavaScript/);
    expect(html).toContain('<a href="https://shop.example/help">Need help? Contact support</a>');
    expect(html).toContain('role="status" aria-live="polite"');
    expect(await page.locator("h1").textContent()).toBe("One moment, please");
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "challenge-page.png"), fullPage: true });
    releaseVerify();

    await passed;
    await page.waitForLoadState("domcontentloaded");
    expect(await page.locator("h1").textContent()).toBe("Welcome to the shop");
    const cookies = await context.cookies();
    const pass = cookies.find((cookie) => cookie.name === "palisade_pass");
    expect(pass).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });

    const again = await page.goto(`${rig.front.url}/account/settings`);
    expect(again?.status()).toBe(200);
    expect(rig.front.upstreamHits).toEqual(["/account/orders", "/account/settings"]);
    const metrics = await (await fetch(`http://127.0.0.1:${rig.app.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/palisade_challenges_issued_total\{level="1"\} 1\b/);
    expect(metrics).toMatch(/palisade_challenges_solved_total\{level="1"\} 1\b/);
    expect(metrics).toMatch(/palisade_challenge_passes_total\{outcome="valid"\} 2\b/);
    expect(outside).toEqual([]);
    expect(violations).toEqual([]);
    await context.close();
  });
});
