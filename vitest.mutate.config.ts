import { relative } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Files in the order that kills a mutant soonest. Stryker stops a mutant's run at its first
 * failing test, and vitest's own order (the files that failed last first, then the slowest) is
 * made for parallel runs: with Stryker's one file at a time it runs the slowest covering file
 * first even when a quick unit test would have failed. Here the files that failed last still go
 * first (a mutant's neighbours are often killed by the same file), then the quickest.
 */
class QuickestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cache = this.ctx.cache;
    const stateOf = (spec: TestSpecification) => cache.getFileTestResults(`${spec.project.name}:${relative(this.ctx.config.root, spec.moduleId)}`);
    const sizeOf = (spec: TestSpecification) => cache.getFileStats(`${spec.project.name}:${relative(this.ctx.config.root, spec.moduleId)}`)?.size ?? 0;
    return [...files].sort((a, b) => {
      const [stateA, stateB] = [stateOf(a), stateOf(b)];
      if (stateA && stateB) {
        if (stateA.failed !== stateB.failed) return stateA.failed ? -1 : 1;
        return stateA.duration - stateB.duration;
      }
      return sizeOf(a) - sizeOf(b);
    });
  }
}

/**
 * The tests `npm run mutate` runs against each mutant: the decision core's own unit tests and
 * the in-process suites beside them (policy, rate-limit, pipeline), not the integration,
 * contract, deployment and lab suites, which start servers or replay minutes of traffic and
 * would make a run take hours.
 */
export default defineConfig({
  test: {
    include: ["src/{pipeline,detection,policy,ratelimit,response,domain}/**/*.test.ts", "test/{policy,ratelimit,pipeline}/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // One module graph for all the files of a run: a mutant covered by ten files imports the
    // core once instead of ten times (about half the CPU of a run). Stryker switches mutants at
    // run time, so shared modules see each mutant; the mutate set passes without isolation.
    isolate: false,
    sequence: { sequencer: QuickestFirst },
    // Stryker's vitest runner starts a fresh worker thread for every mutant (vitest reuses a
    // worker only within one run), and that worker imports the libraries anew: zod, yaml and
    // @bufbuild/cel's protobuf registry are hundreds of files, most of the CPU a mutant cost.
    // Pre-bundled into one file each, a mutant's run of one quick test took about 350 ms of
    // CPU instead of 580 (docs/mutation-testing.md). The code under test is the same.
    // MUTATE_NO_PREBUNDLE=1 turns it off, to measure what it saves.
    deps: {
      optimizer: {
        ssr: { enabled: process.env.MUTATE_NO_PREBUNDLE !== "1", include: ["zod", "yaml", "lru-cache", "ipaddr.js", "@bufbuild/cel", "@bufbuild/protobuf", "fast-check"] },
      },
    },
  },
});
