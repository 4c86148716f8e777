/**
 * CPU per Check of the authorization service's own work around the pipeline, in process, for
 * several checkouts: the request decoded (the hand decoder), the service's Check handler with a
 * pipeline that hands back a decision made beforehand (trace wrapper, a challenge denial's proof
 * of work issued, response built, decision counted and logged), and the CheckResponse encoded
 * as grpc-js would send it (by the served definition's serializer). What a server spends per
 * Check on top of the decision core and of grpc-js, without the noise of either.
 *
 *   npx tsx bench/check-answer-cpu.ts [tree ...]      (this checkout by default)
 *
 * Each tree's own modules and decision core (the in-memory store) decide BENCH_EVENTS storefront
 * requests first (default 4,000: half of them denials, mostly throttles, as in the Check bench);
 * then BENCH_PASSES passes (default 6) answer every one, in slices of 500, tree after tree, the
 * order reversed every other slice, with an I/O turn every 16 answers. The log goes to /dev/null
 * at info (every denial logs a line, as in the server), metrics to a registry of their own.
 * Prints CPU µs per answer by pass.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import pino from "pino";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 4_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 6);
const SLICE = 500;
const trees = process.argv.length > 2 ? process.argv.slice(2).map((tree) => resolve(tree)) : [process.cwd()];

async function answererOf(tree: string) {
  const load = (path: string) => import(pathToFileURL(resolve(tree, path)).href) as Promise<any>;
  const { deserializeCheckRequest } = await load("src/transport/grpc/authz/check-request-decoder.ts");
  const { toHttpAttributes } = await load("src/transport/grpc/authz/converter.ts");
  const { createAuthorizationService } = await load("src/transport/grpc/authz/service.ts");
  const { palisadeServices } = await load("src/transport/grpc/protos.ts");
  const { createDecisionObserver } = await load("src/telemetry/decision-observer.ts");
  const { createMetrics } = await load("src/telemetry/metrics.ts");
  const { createLogger } = await load("src/telemetry/logger.ts");
  const { codecs } = await load("test/contract/upstream.ts");
  const { testDecisionCore } = await load("test/support/decision-core.ts");
  const { examplePolicyPath } = await load("test/support/policies.ts");
  const { storefrontRequest } = await load("bench/traffic.ts");
  const encodeRequest = codecs("envoy.service.auth.v3.Authorization", "Check").upstream.request.encode;
  // Event time as the Check bench sends it: the request's own, not trusted.
  const core = await testDecisionCore(examplePolicyPath, { settings: { trustEventTime: false } });
  const start = Date.now();
  const requests: Buffer[] = [];
  const evaluations: unknown[] = [];
  for (let i = 0; i < EVENTS; i++) {
    requests.push(encodeRequest(storefrontRequest(i, start + i * 10)));
    evaluations.push(await core.pipeline.evaluate(toHttpAttributes(deserializeCheckRequest(requests[i]!))));
  }
  // The served definition's serializer, as grpc-js calls it: it encodes a message object (checkouts
  // before 2026-12-07 20:50) and passes on the bytes a service wrote itself.
  const serialize = palisadeServices().authorization.definition.Check.responseSerialize;
  const logger = createLogger({ level: "info", destination: pino.destination({ dest: "/dev/null", sync: false, minLength: 4096 }) });
  const observer = createDecisionObserver({ metrics: createMetrics({ defaultMetrics: false }), logger });
  let next = 0;
  // With the core's challenges, as the server builds the service: a challenge denial's proof of work is issued here.
  const service = createAuthorizationService({ pipeline: { evaluate: async () => evaluations[next] }, policy: () => core.policy.current(), observer, challenges: core.challenges });
  const perPass: number[] = [];
  let bytes = 0;
  const answer = (i: number) =>
    new Promise<void>((done, fail) => {
      next = i;
      service.Check({ request: deserializeCheckRequest(requests[i]!), metadata: undefined }, (error: unknown, response: object) => {
        if (error) return fail(error);
        bytes += serialize(response).length;
        done();
      });
    });
  return {
    tree,
    perPass,
    async slice(pass: number, from: number, to: number) {
      const before = process.cpuUsage();
      for (let i = from; i < to; i++) {
        await answer(i);
        // An I/O turn now and then, as a server has between Checks: the log's writes complete
        // (without one its pending text only grows, and sonic-boom measures all of it per line).
        if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
      }
      const used = process.cpuUsage(before);
      perPass[pass] = (perPass[pass] ?? 0) + used.user + used.system;
      return bytes;
    },
    stop: () => core.stop() as Promise<void>,
  };
}

const answerers = [];
for (const tree of trees) answerers.push(await answererOf(tree));
for (let pass = 0; pass < PASSES; pass++) {
  for (let from = 0, slice = 0; from < EVENTS; from += SLICE, slice++) {
    for (const answerer of slice % 2 === 0 ? answerers : [...answerers].reverse()) await answerer.slice(pass, from, Math.min(EVENTS, from + SLICE));
  }
}
for (const answerer of answerers) {
  const micros = answerer.perPass.map((total) => Math.round((total / EVENTS) * 100) / 100);
  process.stdout.write(`${JSON.stringify({ tree: answerer.tree, events: EVENTS, cpuMicrosPerAnswerByPass: micros })}\n`);
  await answerer.stop();
}
// pino's destination is flushed on exit.
setTimeout(() => process.exit(0), 200);
