import { Worker, type WorkerOptions } from "node:worker_threads";
import { compileCondition, type PlannedCondition } from "./cel.js";
import { MAX_RULES, PolicyError, type PolicyIssue } from "./compile.js";
import type { PolicyDocument } from "./schema.js";
import { nextTurn } from "../domain/next-turn.js";

/** A document that takes longer than this to parse is rejected, and its worker replaced. */
const VALIDATION_TIMEOUT_MS = 10_000;

type Reply = { ready: true } | { id: number; ok: true; value: unknown } | { id: number; ok: false; issues: PolicyIssue[] };

interface Pending {
  source: string;
  resolve(value: unknown): void;
  reject(error: PolicyError): void;
  timer?: NodeJS.Timeout;
}

/**
 * Parses and validates policy text on a worker thread, so that a reload never stalls the Checks
 * being decided meanwhile, however large or hostile the document. One worker, started on first
 * use and kept (starting one costs more than most parses); a document that hangs it past the
 * timeout is rejected and the worker replaced.
 */
export class PolicyValidator {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** The worker has loaded its modules: from then on each request gets VALIDATION_TIMEOUT_MS. */
  #ready = false;

  validate(text: string, source: string): Promise<PolicyDocument> {
    return this.#ask("validate", text, source) as Promise<PolicyDocument>;
  }

  /** The list files a policy text names (it takes a YAML parse to find them). */
  listFileNames(text: string, source: string): Promise<string[]> {
    return this.#ask("listFiles", text, source) as Promise<string[]>;
  }

  #ask(kind: "validate" | "listFiles", text: string, source: string): Promise<unknown> {
    const worker = this.#ensureWorker();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const pending: Pending = { source, resolve, reject };
      if (this.#ready) this.#arm(pending);
      this.#pending.set(id, pending);
      worker.postMessage({ id, kind, text, source });
    });
  }

  /** Starting the worker is not the document's fault: its time runs once the worker is ready. */
  #arm(pending: Pending): void {
    pending.timer = setTimeout(() => {
      this.#failAll(`the document took longer than ${VALIDATION_TIMEOUT_MS / 1000} s to parse`);
    }, VALIDATION_TIMEOUT_MS);
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll("the policy source is stopping");
    await worker?.terminate();
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startWorker(new URL(import.meta.url.endsWith(".ts") ? "./validate-worker.ts" : "./validate-worker.js", import.meta.url));
    worker.unref();
    // A replaced worker (timed out, closed) may still answer, fail or exit: its requests were
    // already rejected, and none of that concerns the worker that replaced it.
    worker.on("message", (reply: Reply) => {
      if (this.#worker !== worker) return;
      if ("ready" in reply) {
        this.#ready = true;
        for (const pending of this.#pending.values()) this.#arm(pending);
        return;
      }
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      clearTimeout(pending.timer);
      if (reply.ok) pending.resolve(reply.value);
      else pending.reject(new PolicyError(pending.source, reply.issues));
    });
    worker.on("error", (error) => {
      if (this.#worker === worker) this.#failAll(`internal error while loading: ${error.message}`);
    });
    worker.on("exit", () => {
      if (this.#worker === worker) this.#failAll("the validation worker stopped without an answer");
    });
    this.#worker = worker;
    return worker;
  }

  /** Rejects every pending validation and drops the worker, which may be stuck. */
  #failAll(message: string): void {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#ready = false;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new PolicyError(pending.source, [{ path: "", message }]));
    }
    void worker?.terminate();
  }
}

/**
 * Under tsx (development, tests) the worker module is TypeScript: a small bootstrap registers
 * tsx's loader in the worker first (loader hooks of the main thread do not reach workers).
 */
export function startWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith(".ts")) return new Worker(url, options);
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** Plans the conditions of a document's rules, one per event-loop turn, so Checks interleave. */
export async function planConditionsInSlices(document: PolicyDocument): Promise<ReadonlyMap<string, PlannedCondition>> {
  const planned = new Map<string, PlannedCondition>();
  // Past the rule limit compilePolicy refuses them all unplanned.
  if (document.spec.rules.length > MAX_RULES) return planned;
  for (const rule of document.spec.rules) {
    await nextTurn();
    try {
      if (!planned.has(rule.when)) planned.set(rule.when, compileCondition(rule.when));
    } catch {
      // compilePolicy compiles it again and reports the error where the rule is.
    }
  }
  return planned;
}
