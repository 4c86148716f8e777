/**
 * Does a reload of a replica's copy of the quarantines hold up the event loop? A reload (after a
 * reconnect, a lost announcement or Redis losing its data) reads a snapshot of the whole map and
 * decodes every entry. `npx tsx bench/replica-reload.ts [<tree>…]`: for this checkout and each
 * tree given (another checkout with its node_modules), a compact ReplicatedMap of quarantines,
 * as the response engine makes it, over an in-memory shared map of BENCH_QUARANTINES (default
 * 10,000) rule-made quarantines with six reasons each; then BENCH_ROUNDS (default 4) reloads per
 * tree, trees taking turns, each measured by bench/loop-hold.ts. In memory, so Redis's reply
 * parsing (ioredis) is not in the figures: only Palisade's decoding.
 */
import os from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { QUARANTINE_COPY } from "../src/response/quarantine-record.js";
import type { MemorySharedMap } from "../src/state/memory-shared-map.js";
import type { ReplicatedMap } from "../src/state/replicated-map.js";
import { inTurns, measureLoopHold, type MeasuredTree } from "./loop-hold.js";

const QUARANTINES = Number(process.env.BENCH_QUARANTINES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

interface Tree extends MeasuredTree {
  copy: ReplicatedMap<unknown>;
}

async function openTree(root: string): Promise<Tree> {
  const load = <T>(path: string) => import(pathToFileURL(resolve(root, path)).href) as Promise<T>;
  const { MemorySharedMap: SharedMap } = await load<{ MemorySharedMap: typeof MemorySharedMap }>("src/state/memory-shared-map.ts");
  const { ReplicatedMap: Replica } = await load<{ ReplicatedMap: typeof ReplicatedMap }>("src/state/replicated-map.ts");
  const { QUARANTINE_COPY: copyOptions } = await load<{ QUARANTINE_COPY: typeof QUARANTINE_COPY }>("src/response/quarantine-record.ts");
  const store = new SharedMap();
  const reasons = ["velocity.ip", "login.failures", "login.distinct_users", "ip.reputation", "client.automation", "session.pages_skipped"].map((code) => ({
    code,
    value: 31,
    threshold: 30,
    weight: 20,
    detail: "failed logins for distinct usernames from this address over the last ten minutes",
  }));
  const startMs = Date.now();
  for (let i = 0; i < QUARANTINES; i++) {
    const quarantine = { id: `q-${i}`, scope: "ip", subject: `ip:s${i}`, rule: "stuffing", policyVersion: "bench", reasons, decisionId: `d-${i}`, endpoint: "login", startMs, expiresMs: startMs + 3_600_000, offence: 1, actor: "rule:stuffing" };
    await store.put(`ip:s${i}`, JSON.stringify(quarantine), 3_600_000);
  }
  const copy = new Replica({ store, ...copyOptions }) as ReplicatedMap<unknown>;
  await copy.start();
  return { name: root, copy, close: () => copy.stop(), holds: [] };
}

async function main(): Promise<void> {
  const trees: Tree[] = [];
  for (const root of [process.cwd(), ...process.argv.slice(2)]) trees.push(await openTree(root));
  process.stdout.write(`load average ${os.loadavg()[0]!.toFixed(1)}; reloads of ${QUARANTINES} quarantines\n`);
  await inTurns(trees, ROUNDS, "reload", (tree) => measureLoopHold(() => tree.copy.resync("resync:gap")));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`replica reload bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
