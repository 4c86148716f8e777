/**
 * `npm run bench:challenge`: what the built-in challenge costs. Solve time per difficulty level
 * of the example policy, in Node (altcha-lib, one thread) and in headless Debian chromium (the
 * altcha widget with its workers, as a visitor runs it); and what a pass token costs a Check
 * (PassChecker: two HMACs) and what issuing a challenge costs a `challenge` denial. Not part of
 * `npm test`. Prints a Markdown table; the machine is shared, so treat figures as orders.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { solveChallenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { chromium } from "playwright-core";
import { parse } from "yaml";
import { deriveChallengeKeys } from "../src/challenge/keys.js";
import { clientBinding, signPass } from "../src/challenge/pass-token.js";
import { PassChecker } from "../src/challenge/passes.js";
import { issueChallenge } from "../src/challenge/proof-of-work.js";
import type { ChallengeLevel } from "../src/policy/challenge-schema.js";
import { compilePolicy } from "../src/policy/compile.js";
import { policySchema } from "../src/policy/schema.js";

const CHROMIUM = "/usr/bin/chromium";
const RUNS = Number(process.env.BENCH_CHALLENGE_RUNS ?? 5);
const keys = deriveChallengeKeys(Buffer.alloc(48, 7));
const policy = compilePolicy(policySchema.parse(parse(readFileSync(new URL("../examples/policy.yaml", import.meta.url), "utf8"))), "examples/policy.yaml");
const pow = policy.challenge.proofOfWork!;

function subject(level: ChallengeLevel) {
  return { network: "203.0.113.0/24", client: "bench", endpointClass: "critical" as const, level, decisionId: "bench" };
}

function summary(values: number[]): { median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, max: sorted[sorted.length - 1]! };
}

async function nodeSolveMs(level: ChallengeLevel): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { challenge } = issueChallenge(subject(level), keys, Date.now(), 60_000);
    const started = performance.now();
    await solveChallenge({ challenge, deriveKey, timeout: 0 });
    times.push(performance.now() - started);
  }
  return times;
}

async function browserSolveMs(levels: readonly ChallengeLevel[]): Promise<Map<number, number[]>> {
  const script = readFileSync(fileURLToPath(import.meta.resolve("altcha")).replace(/altcha\.js$/, "altcha.min.js"));
  let pending = "";
  const server = createServer((request, response) => {
    if (request.url === "/altcha.js") return response.writeHead(200, { "content-type": "text/javascript" }).end(script);
    const configuration = JSON.stringify({ challenge: JSON.parse(pending), auto: "onload", minDuration: 0 }).replace(/'/g, "&#39;");
    response.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><script type="module" src="/altcha.js"></script>
<altcha-widget id="w" configuration='${configuration}'></altcha-widget>
<script type="module">
document.getElementById("w").addEventListener("verified", (e) => { window.solved = JSON.parse(atob(e.detail.payload)).solution.time; });
</script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  const results = new Map<number, number[]>();
  try {
    const page = await browser.newPage();
    for (const level of levels) {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        pending = JSON.stringify(issueChallenge(subject(level), keys, Date.now(), 300_000).challenge);
        await page.goto(url);
        await page.waitForFunction('typeof window.solved === "number"', undefined, { timeout: 120_000 });
        times.push((await page.evaluate("window.solved")) as number);
      }
      results.set(level.level, times);
    }
  } finally {
    await browser.close();
    server.close();
  }
  return results;
}

function perCallMicros(iterations: number, call: () => void): number {
  for (let i = 0; i < 1000; i++) call();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) call();
  return Number(process.hrtime.bigint() - started) / 1000 / iterations;
}

async function main(): Promise<void> {
  const headers = new Map([["user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140"], ["accept-language", "en-GB,en;q=0.9"]]);
  const token = signPass(
    { id: "bench", issuedMs: Date.now(), expiresMs: Date.now() + 1_800_000, network: "203.0.113.0/24", client: clientBinding(headers, pow.bindHeaders, keys.pass), endpointClass: "critical", level: 3 },
    keys.pass,
  );
  const checker = new PassChecker(() => keys.pass);
  const context = { headers, network: "203.0.113.0/24", endpointClass: "critical" as const, nowMs: Date.now() };
  if (checker.signals(token, context, pow)[0]?.code !== "challenge.passed") throw new Error("bench token is not valid");
  const checkMicros = perCallMicros(100_000, () => checker.signals(token, context, pow));
  const forgedMicros = perCallMicros(100_000, () => checker.signals(`${token.slice(0, -2)}AA`, context, pow));
  const issueMicros = new Map<number, number>();
  for (const level of pow.levels) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) issueChallenge(subject(level), keys, Date.now(), 60_000);
    issueMicros.set(level.level, Number(process.hrtime.bigint() - started) / 1000 / 200);
  }
  const browser = existsSync(CHROMIUM) ? await browserSolveMs(pow.levels) : undefined;
  const lines = [
    `Solve time per level (${RUNS} challenges each; median / max, ms), example policy:`,
    "",
    "| level | from risk | attempts (max) | rounds | browser (widget, workers) | Node (altcha-lib, 1 thread) | issue (µs) |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const level of pow.levels) {
    const node = summary(await nodeSolveMs(level));
    const web = browser?.get(level.level);
    const webText = web ? `${Math.round(summary(web).median)} / ${Math.round(summary(web).max)}` : "no chromium";
    lines.push(`| ${level.level} | ${level.risk} | ${level.attempts} | ${level.rounds} | ${webText} | ${Math.round(node.median)} / ${Math.round(node.max)} | ${Math.round(issueMicros.get(level.level)!)} |`);
  }
  lines.push("", `Pass token at Check time: ${checkMicros.toFixed(2)} µs per valid token, ${forgedMicros.toFixed(2)} µs per forged one (no store round trip).`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
