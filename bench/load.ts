/** Closed-loop load: `concurrency` callers each send a request as soon as their last one answered. */
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

export async function closedLoop(
  call: (index: number) => Promise<unknown>,
  options: { concurrency: number; seconds: number; warmupSeconds: number },
): Promise<LoadResult> {
  await runFor(call, options.concurrency, options.warmupSeconds * 1000, () => {});
  const latencies: number[] = [];
  let errors = 0;
  const started = process.hrtime.bigint();
  await runFor(call, options.concurrency, options.seconds * 1000, (ns, failed) => {
    latencies.push(ns / 1e6);
    if (failed) errors += 1;
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    requests: latencies.length,
    errors,
    seconds: round(seconds),
    perSecond: Math.round(latencies.length / seconds),
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
  };
}

async function runFor(
  call: (index: number) => Promise<unknown>,
  concurrency: number,
  durationMs: number,
  record: (ns: number, failed: boolean) => void,
): Promise<void> {
  const deadline = Date.now() + durationMs;
  let next = 0;
  const worker = async () => {
    while (Date.now() < deadline) {
      const index = next++;
      const started = process.hrtime.bigint();
      let failed = false;
      await call(index).catch(() => (failed = true));
      record(Number(process.hrtime.bigint() - started), failed);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
