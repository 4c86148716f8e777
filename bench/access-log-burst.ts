/**
 * Does a burst of access-log entries hold up the event loop? `npx tsx bench/access-log-burst.ts`
 * starts Palisade on the bench's Redis, pinned like `npm run bench`, with bench/loop-probe.ts
 * inside, and sends BENCH_BURSTS (default 5) StreamAccessLogs messages of BENCH_BURST_ENTRIES
 * (default 2,000) entries each, two seconds apart: login outcomes (a failure, an unknown user,
 * a success, each a store write) and catalogue 404s, what an Envoy that flushes a large buffer
 * sends after a stuffing wave. Prints, per burst, the longest event-loop stall while it was
 * recorded and how much of it the main thread was on a CPU (its own work) or waiting for one
 * (the machine). A Check that arrives meanwhile waits that long.
 */
import os from "node:os";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { palisadeServices, type StreamAccessLogsMessage } from "../src/transport/grpc/protos.js";
import { startPalisadeProcess, startPinnedRedis } from "./servers.js";

const BURSTS = Number(process.env.BENCH_BURSTS ?? 5);
const ENTRIES = Number(process.env.BENCH_BURST_ENTRIES ?? 2_000);

type AccessLogClient = grpc.Client & {
  StreamAccessLogs(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<StreamAccessLogsMessage>;
};

function entry(burst: number, i: number) {
  const login = i % 4 !== 3;
  const status = login ? [401, 404, 200][i % 3]! : 404;
  const startMs = Date.now();
  return {
    common_properties: {
      downstream_remote_address: { socket_address: { address: `198.51.100.${i % 250}`, port_value: 40000 + (i % 1000) } },
      start_time: { seconds: Math.floor(startMs / 1000), nanos: (startMs % 1000) * 1e6 },
    },
    request: {
      request_method: "POST" as const,
      path: login ? "/api/v1/login" : `/api/v1/products/${burst * ENTRIES + i}`,
      request_id: `burst-${burst}-${i}`,
    },
    response: { response_code: { value: status } },
  };
}

interface Stall {
  at: number;
  ms: number;
  cpuMs: number;
  waitMs: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), "palisade-log-burst-"));
  const probeFile = join(dir, "probe.jsonl");
  const redis = await startPinnedRedis();
  const server = await startPalisadeProcess(redis.url, { env: { BENCH_LOOP_PROBE_FILE: probeFile }, preload: ["./bench/loop-probe.ts"] });
  const services = palisadeServices();
  const client = new services.accessLog.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) as unknown as AccessLogClient;
  const stream = client.StreamAccessLogs(() => undefined);
  stream.on("error", () => undefined);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  process.stdout.write(`load average ${os.loadavg()[0]!.toFixed(1)}; ${BURSTS} bursts of ${ENTRIES} entries in one message each\n`);
  const windows: { from: number; to: number }[] = [];
  await sleep(2_000);
  for (let burst = 0; burst < BURSTS; burst++) {
    const from = Date.now();
    stream.write({
      ...(burst === 0 ? { identifier: { node: { id: "bench", cluster: "bench" }, log_name: "burst" } } : {}),
      http_logs: { log_entry: Array.from({ length: ENTRIES }, (_, i) => entry(burst, i)) },
    });
    await sleep(2_000);
    windows.push({ from, to: Date.now() });
  }
  stream.end();
  await sleep(1_200); // the probe writes once a second
  const stalls = readFileSync(probeFile, "utf8")
    .split("\n")
    .filter((line) => line.startsWith('{"stall"'))
    .map((line) => (JSON.parse(line) as { stall: Stall }).stall);
  const recorded = /^palisade_access_log_entries_total\{result="recorded"\} (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text())?.[1];
  for (const [i, window] of windows.entries()) {
    const inWindow = stalls.filter((s) => s.at >= window.from && s.at < window.to).sort((a, b) => b.ms - a.ms);
    const worst = inWindow[0];
    const mostCpu = [...inWindow].sort((a, b) => b.cpuMs - a.cpuMs)[0];
    process.stdout.write(
      `burst ${i + 1}: ${inWindow.length} stalls over 10 ms; longest ${worst ? `${worst.ms} ms (${worst.cpuMs} ms on a CPU, ${worst.waitMs} ms waiting)` : "none"}; ` +
        `most CPU in one stall: ${mostCpu ? `${mostCpu.cpuMs} ms` : "none"}\n`,
    );
  }
  process.stdout.write(`entries recorded: ${recorded}; load average ${os.loadavg()[0]!.toFixed(1)}\n`);
  client.close();
  await server.stop();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`access-log burst bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
