import cluster, { type Worker } from "node:cluster";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AggregatorRegistry, type Registry } from "prom-client";
import type { Settings } from "../settings/settings.js";
import { createLogger, exitWhenLogged, type Logger } from "../telemetry/logger.js";

/**
 * N worker processes behind one set of ports (`workers` setting), with Node's own `cluster`
 * module: the primary holds the listening sockets and deals accepted connections to the
 * workers round-robin; every worker is a whole Palisade (decision core, gRPC, admin and
 * challenge servers) on the shared Redis, so counters, quarantines and overrides are one per
 * pod as they are one per deployment.
 *
 * Why cluster and not SO_REUSEPORT: grpc-js 1.14 offers no reuse-port option, and Node 20's
 * net.Server cannot set one (`reusePort` arrived in Node 22.12/23.1); cluster needs neither and
 * also shares the admin and challenge ports. Connections, not calls, are dealt out: an HTTP/2
 * connection from Envoy stays on the worker that accepted it (see docs/runtime.md).
 *
 * Written here by hand: the supervision (restart a crashed worker, pass signals on, stop when
 * start-up fails) and a small request/answer over the cluster IPC channel so that any worker's
 * /metrics answers for the whole pod; the merging of the workers' metrics is prom-client's
 * (AggregatorRegistry.aggregate), with each metric's own aggregator (sum, or max for gauges
 * every worker reports alike).
 */

const METRICS_REQUEST = "palisade:pod-metrics";
const METRICS_ANSWER = "palisade:pod-metrics-answer";
const WORKER_METRICS_REQUEST = "palisade:worker-metrics";
const WORKER_METRICS_ANSWER = "palisade:worker-metrics-answer";
const WORKER_READY = "palisade:worker-ready";
/** A worker slower than this to send its metrics is left out of that scrape (and named in it). */
const METRICS_TIMEOUT_MS = 3_000;
/** A crashed worker is replaced after this pause, doubled while crashes repeat, up to the cap. */
const RESTART_DELAY_MS = 1_000;
const RESTART_DELAY_MAX_MS = 30_000;

interface Message {
  type?: string;
  id?: number;
  text?: string;
  metrics?: unknown[];
  error?: string;
}

/** True in a process the primary forked: it serves, and asks the primary for pod-wide metrics. */
export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

/** The primary's side: forks `settings.workers` workers, supervises them, answers pod-wide metric requests. */
export async function runPrimary(settings: Settings): Promise<void> {
  const logger = createLogger({ level: settings.logLevel, format: settings.logFormat }).child({ role: "primary" });
  const env = sharedSecrets(settings, logger);
  const ready = new Set<number>();
  const backoff = { ms: RESTART_DELAY_MS };
  let stopping = false;
  let everyoneReady = false;

  const fork = (): Worker => cluster.fork(env.vars);
  const metrics = new PodMetrics(() => [...ready].map((id) => cluster.workers?.[id]).filter((w): w is Worker => w !== undefined));

  cluster.on("message", (worker, message: Message) => {
    if (message.type === WORKER_READY) {
      ready.add(worker.id);
      if (!everyoneReady && ready.size === settings.workers) {
        everyoneReady = true;
        logger.info({ workers: settings.workers, grpcPort: message.id }, "palisade workers ready");
      }
      backoff.ms = RESTART_DELAY_MS;
    } else if (message.type === METRICS_REQUEST && message.id !== undefined) {
      metrics.collect().then(
        (text) => worker.send({ type: METRICS_ANSWER, id: message.id, text }),
        (error: unknown) => worker.send({ type: METRICS_ANSWER, id: message.id, error: String(error) }),
      );
    } else if (message.type === WORKER_METRICS_ANSWER) {
      metrics.answer(worker.id, message);
    }
  });

  let exitCode = 0;
  const alive = new Set<number>();
  let allExited = () => {};
  const finished = new Promise<void>((resolve) => (allExited = resolve));
  const stopAll = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    if (alive.size === 0) allExited();
  };
  cluster.on("fork", (worker) => alive.add(worker.id));
  cluster.on("exit", (worker, code, signal) => {
    alive.delete(worker.id);
    const wasReady = ready.delete(worker.id);
    if (!stopping && !wasReady) {
      // A worker that never became ready (a port in use, a bad policy): the next would fail the
      // same way, so the pod stops as a single process would, the worker's message on stderr.
      logger.error({ worker: worker.id, code, signal }, "a worker failed to start; stopping every worker");
      exitCode = 1;
      stopAll();
    } else if (!stopping) {
      logger.error({ worker: worker.id, code, signal, restartInMs: backoff.ms }, "a worker exited; starting another");
      setTimeout(() => {
        if (!stopping) fork();
      }, backoff.ms).unref();
      backoff.ms = Math.min(backoff.ms * 2, RESTART_DELAY_MAX_MS);
    }
    if (stopping && alive.size === 0) allExited();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    logger.info({ signal }, "signal received; stopping workers");
    stopAll();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  // A terminal's Ctrl-C reaches every process of the group; the workers stop themselves.
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGHUP");
  });

  logger.info({ workers: settings.workers }, "starting workers");
  for (let i = 0; i < settings.workers; i++) fork();
  await finished;
  env.cleanup();
  logger.info("stopped");
  exitWhenLogged(logger, exitCode);
}

/**
 * Every worker must pseudonymise with one key (else one client's counters split per worker) and
 * sign challenges with one key (else a pass token from one worker is refused by the next). When
 * the settings name none, the primary makes them and hands them to its workers as key files in
 * a private directory (mode 0700, files 0600), removed when it stops.
 */
function sharedSecrets(settings: Settings, logger: Logger): { vars: Record<string, string>; cleanup: () => void } {
  const vars: Record<string, string> = {};
  const missingPseudonym = !settings.pseudonymKey && !settings.pseudonymKeyFile;
  const missingChallenge = !settings.challengeKeyFile;
  if (!missingPseudonym && !missingChallenge) return { vars, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "palisade-keys-"));
  if (missingPseudonym) {
    vars.PALISADE_PSEUDONYM_KEY_FILE = join(dir, "pseudonym.key");
    writeFileSync(vars.PALISADE_PSEUDONYM_KEY_FILE, randomBytes(48).toString("base64"), { mode: 0o600 });
  }
  if (missingChallenge) {
    vars.PALISADE_CHALLENGE_KEY_FILE = join(dir, "challenge.key");
    writeFileSync(vars.PALISADE_CHALLENGE_KEY_FILE, randomBytes(48), { mode: 0o600 });
  }
  logger.warn(
    { generated: [missingPseudonym && "pseudonym", missingChallenge && "challenge"].filter(Boolean) },
    "no key configured: generated one shared by this pod's workers; it changes on restart and differs between pods " +
      "(set PALISADE_PSEUDONYM_KEY_FILE and PALISADE_CHALLENGE_KEY_FILE from a Secret)",
  );
  return { vars, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The primary's collection of its ready workers' metrics, merged by prom-client. */
class PodMetrics {
  private next = 0;
  private readonly pending = new Map<number, { waiting: Set<number>; answers: unknown[]; done: () => void }>();

  constructor(private readonly workers: () => Worker[]) {}

  async collect(): Promise<string> {
    const id = this.next++;
    const workers = this.workers();
    const answers: unknown[] = [];
    const waiting = new Set(workers.map((worker) => worker.id));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, METRICS_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.pending.set(id, { waiting, answers, done });
      for (const worker of workers) worker.send({ type: WORKER_METRICS_REQUEST, id });
      if (waiting.size === 0) done();
    });
    this.pending.delete(id);
    const merged = AggregatorRegistry.aggregate(answers as Parameters<typeof AggregatorRegistry.aggregate>[0]);
    const note =
      waiting.size > 0 ? `# palisade: workers ${[...waiting].join(", ")} did not answer within ${METRICS_TIMEOUT_MS} ms and are not counted\n` : "";
    return `${note}# palisade: merged from ${answers.length} workers\n${await merged.metrics()}`;
  }

  answer(workerId: number, message: Message): void {
    const request = message.id === undefined ? undefined : this.pending.get(message.id);
    if (!request || !request.waiting.delete(workerId)) return;
    if (message.metrics) request.answers.push(message.metrics);
    if (request.waiting.size === 0) request.done();
  }
}

/**
 * A worker's side: answers the primary's requests for its own metrics, and returns the
 * function GET /metrics uses, which asks the primary for the whole pod's.
 */
export function joinPod(registry: Registry): { podMetrics: () => Promise<string>; ready: (grpcPort: number) => void } {
  let next = 0;
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  process.on("message", (message: Message) => {
    if (message.type === WORKER_METRICS_REQUEST) {
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: WORKER_METRICS_ANSWER, id: message.id, metrics }),
        (error: unknown) => process.send?.({ type: WORKER_METRICS_ANSWER, id: message.id, error: String(error) }),
      );
    } else if (message.type === METRICS_ANSWER && message.id !== undefined) {
      const request = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.text !== undefined) request?.resolve(message.text);
      else request?.reject(new Error(message.error ?? "no metrics from the primary"));
    }
  });
  return {
    podMetrics: () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error("the primary did not answer with the pod's metrics"));
        }, METRICS_TIMEOUT_MS * 2);
        waiting.set(id, {
          resolve: (text) => (clearTimeout(timer), resolve(text)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        });
        process.send?.({ type: METRICS_REQUEST, id });
      }),
    ready: (grpcPort) => process.send?.({ type: WORKER_READY, id: grpcPort }),
  };
}

/** This worker's number (1, 2, … and on for replacements), for its log lines. */
export function workerId(): number | undefined {
  return cluster.worker?.id;
}
