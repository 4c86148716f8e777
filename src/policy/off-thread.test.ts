import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Worker } from "node:worker_threads";
import { stringify } from "yaml";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { minimalPolicyDocument } from "../../test/support/policies.js";
import { PolicyError } from "./compile.js";
import { planConditionsInSlices, PolicyValidator, startWorker } from "./off-thread.js";
import { policySchema } from "./schema.js";

/**
 * The reload path off the event loop: policy text parsed and validated on a worker thread, each
 * answer back to the request that asked, a document that takes too long rejected and the worker
 * replaced, and conditions planned one per event-loop turn.
 */

const text = (spec: Record<string, unknown> = {}) => stringify(minimalPolicyDocument(spec));

async function rejection(promise: Promise<unknown>): Promise<PolicyError> {
  const error = await promise.then(
    () => expect.unreachable("expected a rejection"),
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(PolicyError);
  return error as PolicyError;
}

describe("PolicyValidator", () => {
  let validator: PolicyValidator;
  beforeAll(() => {
    validator = new PolicyValidator();
  });
  afterAll(async () => {
    await validator.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("validates a document on the worker, with the schema's defaults", async () => {
    const document = await validator.validate(text(), "p.yaml");
    expect(document.metadata).toEqual({ name: "test", version: "t1" });
    expect(document.spec.mode).toBe("enforce");
    expect(document.spec.endpoints.map((e) => e.name)).toEqual(["login"]);
  });

  it("rejects an invalid document with its issues, located in the file it came from", async () => {
    const error = await rejection(validator.validate(text({ mode: "loud" }), "bad.yaml"));
    expect(error.source).toBe("bad.yaml");
    expect(error.issues).toEqual([{ path: "spec.mode", message: 'expected one of "enforce", "shadow"; got "loud"' }]);
  });

  it("answers each of several requests in flight with its own result", async () => {
    const [good, bad, names] = await Promise.allSettled([
      validator.validate(text({ failMode: "closed" }), "a.yaml"),
      validator.validate("kind: [", "b.yaml"),
      validator.listFileNames(text({ reputation: { lists: [{ name: "p", effect: "allow", files: ["partners.txt", "more.txt"] }] } }), "c.yaml"),
    ]);
    expect(good.status === "fulfilled" && good.value.spec.failMode).toBe("closed");
    expect(bad.status === "rejected" && (bad.reason as PolicyError).source).toBe("b.yaml");
    expect(names).toEqual({ status: "fulfilled", value: ["partners.txt", "more.txt"] });
  });

  it("gives a document ten seconds from when the worker is ready, then replaces the worker", async () => {
    await validator.validate(text(), "warm.yaml");
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const slow = validator.validate(text(), "slow.yaml");
    // Synchronously: the worker cannot have answered yet.
    vi.advanceTimersByTime(9_999);
    vi.advanceTimersByTime(1);
    const error = await rejection(slow);
    expect(error.source).toBe("slow.yaml");
    expect(error.issues).toEqual([{ path: "", message: "the document took longer than 10 s to parse" }]);
    vi.useRealTimers();
    // A fresh worker answers the next request.
    expect((await validator.validate(text(), "next.yaml")).metadata.name).toBe("test");
  });

  it("does not count the worker's start-up against the document", async () => {
    const fresh = new PolicyValidator();
    try {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const first = fresh.validate(text(), "first.yaml");
      // Before the worker is ready no timer runs: a slow start is not the document's fault.
      vi.advanceTimersByTime(60_000);
      expect((await first).metadata.name).toBe("test");
    } finally {
      vi.useRealTimers();
      await fresh.close();
    }
  });

  it("rejects what is still pending when it is closed, and starts again on the next request", async () => {
    const closing = new PolicyValidator();
    try {
      const pending = rejection(closing.validate(text(), "pending.yaml"));
      await closing.close();
      expect((await pending).issues).toEqual([{ path: "", message: "the policy source is stopping" }]);
      expect(await closing.listFileNames(text(), "again.yaml")).toEqual([]);
    } finally {
      await closing.close();
    }
  });
});

describe("startWorker", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-start-worker-"));
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const firstMessage = (worker: Worker) =>
    new Promise((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    }).finally(() => void worker.terminate());

  it("starts a JavaScript module as it is, with the options given", async () => {
    const file = join(dir, "echo.mjs");
    writeFileSync(file, 'import { parentPort, workerData } from "node:worker_threads";\nparentPort.postMessage(["js", workerData]);\n');
    expect(await firstMessage(startWorker(pathToFileURL(file), { workerData: 7 }))).toEqual(["js", 7]);
  });

  it("starts a TypeScript module through tsx, with the options given", async () => {
    const file = join(dir, "echo.ts");
    writeFileSync(file, 'import { parentPort, workerData } from "node:worker_threads";\nconst kind: string = "ts";\nparentPort!.postMessage([kind, workerData]);\n');
    expect(await firstMessage(startWorker(pathToFileURL(file), { workerData: "data" }))).toEqual(["ts", "data"]);
  });
});

describe("planConditionsInSlices", () => {
  const documentWith = (rules: { id: string; when: string }[]) =>
    policySchema.parse(minimalPolicyDocument({ rules: rules.map((rule) => ({ ...rule, action: "block" })) }));

  it("plans each distinct condition once, with its cost", async () => {
    const planned = await planConditionsInSlices(
      documentWith([
        { id: "a", when: "risk > 50" },
        { id: "b", when: '"x" in reasons' },
        { id: "c", when: "risk > 50" },
      ]),
    );
    expect([...planned.keys()]).toEqual(["risk > 50", '"x" in reasons']);
    expect(planned.get('"x" in reasons')?.cost).toBe(259);
    expect(planned.get("risk > 50")?.evaluate({ request: {}, signal: new Map(), reasons: [], risk: 60 })).toBe("match");
  });

  it("leaves out a condition that does not compile, for compilePolicy to report", async () => {
    const planned = await planConditionsInSlices(
      documentWith([
        { id: "broken", when: "risk >" },
        { id: "typo", when: "rsk > 1" },
        { id: "fine", when: "risk < 5" },
      ]),
    );
    expect([...planned.keys()]).toEqual(["risk < 5"]);
  });

  it("plans nothing past the rule limit", async () => {
    const rules = Array.from({ length: 501 }, (_, i) => ({ id: `r${i}`, when: `risk > ${i}` }));
    expect((await planConditionsInSlices(documentWith(rules))).size).toBe(0);
    expect((await planConditionsInSlices(documentWith(rules.slice(0, 500)))).size).toBe(500);
  });

  it("yields to the event loop before each rule", async () => {
    let turns = 0;
    let done = false;
    const count = () => {
      turns++;
      if (!done) setImmediate(count);
    };
    setImmediate(count);
    await planConditionsInSlices(documentWith([1, 2, 3, 4, 5].map((i) => ({ id: `r${i}`, when: `risk > ${i}` }))));
    done = true;
    expect(turns).toBeGreaterThanOrEqual(4);
  });
});
