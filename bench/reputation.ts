/**
 * `npm run bench:reputation`: what a million-range reputation feed costs. Writes a FireHOL-style
 * netset of 1,000,000 random ranges (90% IPv4 /16–/32, 10% IPv6 /32–/64), loads it through the
 * service's feed loader (src/app/reputation-feeds.ts) as `palisade serve` would, and measures:
 *   - load time (read + parse + sort/merge) and the memory the loaded set keeps;
 *   - the cost of one list look-up (what the Check path does per list), IPv4 and IPv6;
 *   - a whole Check through the decision core (memory store) with and without the feed;
 *   - for reference, the linear scan lists used before, at 50,000 ranges.
 * Needs --expose-gc for the memory figures (the npm script passes it). The machine is shared:
 * quote the figures with the machine they came from.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDecisionCore, type DecisionCore } from "../src/app/decision-core.js";
import { ReputationFeeds } from "../src/app/reputation-feeds.js";
import { parseAddress, type ParsedAddress } from "../src/domain/client-address.js";
import { listsContaining, parseCidr, rangesContain } from "../src/policy/cidr-lists.js";
import { parsePolicyText } from "../src/policy/loader.js";
import { settingsSchema } from "../src/settings/settings.js";
import { createLogger } from "../src/telemetry/logger.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { checkRequest } from "../test/support/envoy-client.js";
import { examplePolicyPath } from "../test/support/policies.js";

const RANGES = Number(process.env.BENCH_RANGES ?? 1_000_000);
const LOOKUPS = 1_000_000;
const CHECKS = Number(process.env.BENCH_CHECKS ?? 20_000);
const LINEAR_RANGES = 50_000;

/** Seeded (the same ranges every run); statistical quality does not matter here. */
let seed = 20261206;
const next = (max: number) => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return Math.floor((seed / 2 ** 32) * max);
};
const v4 = () => [next(256), next(256), next(256), next(256)].join(".");
const v6 = () => `2${next(16).toString(16)}${next(256).toString(16).padStart(2, "0")}:${next(65536).toString(16)}:${next(65536).toString(16)}:${next(65536).toString(16)}::`;

function netset(count: number): string {
  const lines = ["# bench netset: random ranges", "#"];
  for (let i = 0; i < count; i++) {
    lines.push(i % 10 === 9 ? `${v6()}/${32 + next(33)}` : `${v4()}/${16 + next(17)}`);
  }
  return `${lines.join("\n")}\n`;
}

const gc = (globalThis as { gc?: () => void }).gc;
function retainedBytes(): number {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

function perCall(label: string, calls: number, body: (i: number) => unknown): number {
  let sink = 0;
  for (let i = 0; i < Math.min(calls, 20_000); i++) if (body(i)) sink++;
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) if (body(i)) sink++;
  const ns = Number(process.hrtime.bigint() - started) / calls;
  console.log(`${label}: ${round(ns / 1000, 3)} µs per call (${sink} hits over two passes)`);
  return ns / 1000;
}

async function main(): Promise<void> {
  if (!gc) console.log("(run with --expose-gc for memory figures)");
  const dir = mkdtempSync(join(tmpdir(), "palisade-bench-reputation-"));
  const results: Record<string, unknown> = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${mib(os.totalmem())} MiB, Node ${process.version}`,
    ranges: RANGES,
  };
  try {
    const text = netset(RANGES);
    writeFileSync(join(dir, "feed.netset"), text);
    results.fileMiB = mib(Buffer.byteLength(text));
    const example = readFileSync(examplePolicyPath, "utf8");
    const withFeed = example.replace(
      "  reputation:\n    lists:\n",
      "  reputation:\n    lists:\n      - name: bench-feed\n        effect: block\n        feeds:\n          - source: feed.netset\n            format: netset\n",
    );
    writeFileSync(join(dir, "policy.yaml"), withFeed);
    writeFileSync(join(dir, "plain.yaml"), example);
    const policy = parsePolicyText(withFeed, "bench");

    // Load through the service's loader, as at start-up.
    const before = retainedBytes();
    const feeds = new ReputationFeeds({ logger: createLogger({ level: "silent" }), baseDir: dir });
    // How long the event loop (which serves Checks) is held up while the feed loads.
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    const started = performance.now();
    await feeds.reconcile(policy);
    const loadMs = performance.now() - started;
    stalls.disable();
    results.loadLongestStallMs = Math.round(stalls.max / 1e6);
    const status = feeds.status()[0]!;
    if (status.state !== "ok") throw new Error(`feed did not load: ${status.lastError}`);
    results.loadMs = Math.round(loadMs);
    results.retainedMiB = mib(retainedBytes() - before);
    results.setMiB = mib(status.bytes);
    results.rssMiB = mib(process.memoryUsage().rss);
    console.log(`load: ${RANGES} ranges (${results.fileMiB} MiB of text) in ${results.loadMs} ms, parsed on a worker thread (longest event-loop stall ${results.loadLongestStallMs} ms); the set holds ${results.setMiB} MiB (heap and buffers grew ${results.retainedMiB} MiB); RSS ${results.rssMiB} MiB`);
    const onThread = new ReputationFeeds({ logger: createLogger({ level: "silent" }), baseDir: dir, parseOffThread: false });
    const begun = performance.now();
    await onThread.reconcile(policy);
    results.loadOnMainThreadMs = Math.round(performance.now() - begun);
    onThread.stop();
    console.log(`the same load parsed on the main thread: ${results.loadOnMainThreadMs} ms, all of it a stall for Checks`);

    // One list look-up, as the Check path makes it (listsContaining over the policy's lists).
    const probesV4 = Array.from({ length: 4096 }, () => parseAddress(v4())!);
    const probesV6 = Array.from({ length: 4096 }, () => parseAddress(v6().replace("::", "::1"))!);
    const lookup = (probes: ParsedAddress[]) => (i: number) => listsContaining(policy.lists, probes[i & 4095], feeds).length > 0;
    results.lookupV4Us = round(perCall("list look-up, IPv4", LOOKUPS, lookup(probesV4)), 3);
    results.lookupV6Us = round(perCall("list look-up, IPv6", LOOKUPS, lookup(probesV6)), 3);

    // A whole Check through the decision core (memory store), with the feed and without it.
    // Both cores built once, then measured in alternating rounds (median of each): on a shared
    // machine the load drifts, and a core measured later than the other would pay for it.
    const openCore = (policyFile: string): Promise<DecisionCore> =>
      createDecisionCore(settingsSchema.parse({ policy: join(dir, policyFile), maxClockSkew: 60_000, logLevel: "silent" }), {
        logger: createLogger({ level: "silent" }),
        watchPolicy: false,
      });
    const cores = { plain: await openCore("plain.yaml"), feed: await openCore("policy.yaml") };
    // Addresses on no list, so every Check goes all the way (a listed one is decided at once).
    const unlisted: string[] = [];
    while (unlisted.length < 1024) {
      const ip = unlisted.length % 2 ? v4() : v6().replace("::", "::1");
      if (listsContaining(policy.lists, parseAddress(ip), feeds).length === 0) unlisted.push(ip);
    }
    const requests = unlisted.map((ip, i) => toHttpAttributes(checkRequest({ path: `/api/v1/products/${i}`, ip, timeMs: Date.now() }) as never));
    const measure = async (core: DecisionCore, count: number): Promise<number> => {
      const begun = process.hrtime.bigint();
      for (let i = 0; i < count; i++) await core.pipeline.evaluate(requests[i & 1023]!);
      return Number(process.hrtime.bigint() - begun) / count / 1000;
    };
    await measure(cores.plain, 2000);
    await measure(cores.feed, 2000);
    const samples: { plain: number[]; feed: number[] } = { plain: [], feed: [] };
    for (let r = 0; r < 10; r++) {
      samples.plain.push(await measure(cores.plain, CHECKS / 10));
      samples.feed.push(await measure(cores.feed, CHECKS / 10));
    }
    await cores.plain.stop();
    await cores.feed.stop();
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const plainUs = median(samples.plain);
    const feedUs = median(samples.feed);
    feeds.stop();
    results.checkWithoutFeedUs = round(plainUs, 1);
    results.checkWithFeedUs = round(feedUs, 1);
    console.log(`whole Check (memory store): ${results.checkWithoutFeedUs} µs without the feed, ${results.checkWithFeedUs} µs with ${RANGES} ranges`);

    // The linear scan lists used before this change, for reference.
    const linear = text.split("\n").slice(2, 2 + LINEAR_RANGES).map((line) => parseCidr(line)!);
    results.linearLookupUs = round(perCall(`linear scan of ${LINEAR_RANGES} ranges (before)`, 2000, (i) => rangesContain(linear, probesV4[i & 4095]!)), 1);
    console.log(JSON.stringify(results));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
