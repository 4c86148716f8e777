import { defineConfig } from "vitest/config";

/**
 * The tests `npm run mutate` runs against each mutant: the decision core's own unit tests and
 * the in-process suites beside them (policy, rate-limit, pipeline, lab), not the integration,
 * contract and deployment suites, which start servers and would make a run take hours.
 */
export default defineConfig({
  test: {
    include: ["src/{pipeline,detection,policy,ratelimit,response,domain}/**/*.test.ts", "test/{policy,ratelimit,pipeline}/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
