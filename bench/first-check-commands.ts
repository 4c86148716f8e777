/**
 * What the first Checks after ready ask of Redis, against later ones: `npx tsx
 * bench/first-check-commands.ts [<other checkout> ...]` (BENCH_ROUNDS cold starts per tree,
 * default 2). Each start as `npm run bench`'s first-Check phase has it (the channel connected and
 * one gRPC health call made, then Checks of the storefront mix one at a time); around each Check
 * the bench's own redis-server's INFO commandstats is read, so a Check's script calls and the
 * commands they ran are counted exactly, whatever the machine's load. Prints the 1st–4th and the
 * 98th–101st Checks of every start (the 1st to 4th are all assets, the mix's cheapest kind).
 */
import { upstreamAuthzClient } from "./noop.js";
import { commandStats } from "./redis-stats.js";
import { startPalisadeProcess, startPinnedRedis } from "./servers.js";
import { storefrontRequest } from "./traffic.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CHECKS = 101;
const SHOWN = new Set([0, 1, 2, 3, 97, 98, 99, 100]);

const redis = await startPinnedRedis();
for (const tree of [undefined, ...process.argv.slice(2)]) {
  for (let start = 0; start < ROUNDS; start++) {
    const server = await startPalisadeProcess(redis.url, tree ? { cwd: tree } : {});
    const client = upstreamAuthzClient(`127.0.0.1:${server.grpcPort}`);
    const lines: string[] = [];
    try {
      await client.connect();
      await client.health();
      for (let i = 0; i < CHECKS; i++) {
        const before = await commandStats(redis.inspector);
        await client.check(storefrontRequest(i, Date.now()));
        const after = await commandStats(redis.inspector);
        if (!SHOWN.has(i)) continue;
        const ran = [...after].map(([command, calls]) => [command, calls - (before.get(command) ?? 0)] as const).filter(([command, calls]) => calls > 0 && command !== "info");
        const scripts = ran.filter(([command]) => command === "evalsha" || command === "eval").reduce((sum, [, calls]) => sum + calls, 0);
        lines.push(`  Check ${i + 1}: ${scripts} script calls; ${ran.map(([command, calls]) => `${command} ${calls}`).join(", ")}`);
      }
    } finally {
      client.close();
      await server.stop();
    }
    process.stdout.write(`${tree ?? "this tree"}, start ${start + 1}:\n${lines.join("\n")}\n`);
  }
}
await redis.stop();
process.exit(0);
