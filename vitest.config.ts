import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Integration tests start their own redis-server and gRPC servers; give them room on a
    // shared two-core machine without letting a hung test block CI for long.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
