// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** The decision core must not know its transports or Redis (STYLE.md, dependency rule). */
const pureCore = ["src/pipeline/**", "src/detection/**", "src/policy/**", "src/response/**", "src/privacy/**", "src/ratelimit/**", "src/challenge/**"];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "bench/results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "error",
    },
  },
  {
    files: pureCore,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/transport/**", "@grpc/*"], message: "the decision core knows no transport" },
            { group: ["ioredis", "**/state/redis-*", "**/telemetry/**"], message: "the decision core knows no Redis or telemetry backend" },
            { group: ["**/app.js", "**/main.js", "**/cli/**"], message: "only the composition root knows every module" },
          ],
        },
      ],
    },
  },
  {
    // The lab decides offline; only --target's client talks gRPC, and it stays in one file.
    files: ["src/lab/**"],
    ignores: ["src/lab/replay/grpc-target.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@grpc/*", "**/transport/grpc/server.js", "**/app.js", "**/main.js"], message: "gRPC client code belongs in src/lab/replay/grpc-target.ts" }] },
      ],
    },
  },
  {
    files: ["test/**", "bench/**", "scripts/**", "**/*.test.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "no-console": "off" },
  },
);
