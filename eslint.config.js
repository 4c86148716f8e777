// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * Layers, lowest first. A file may import from its own folder and from any folder in a lower
 * layer, never upwards and never sideways within a layer, so the import graph stays a ladder.
 * The lab sits above the composition root: it replays traffic through the same decision core
 * the server builds.
 */
const layers = [
  ["domain"],
  ["state", "privacy", "config"],
  ["policy", "settings"],
  ["detection", "ratelimit"],
  ["challenge"],
  ["response"],
  ["pipeline"],
  ["telemetry"],
  ["transport"],
  ["app"],
  ["lab"],
  ["cli"],
];

/** Protocols and Redis stay at the edge: the core and the vocabulary know neither. */
const noTransport = { group: ["@grpc/*", "fastify", "@fastify/*"], message: "protocols belong in src/transport/" };
const noRedis = { group: ["ioredis"], message: "Redis belongs in src/state/redis/" };
const externalLimits = Object.fromEntries(
  ["domain", "config", "privacy", "policy", "settings", "detection", "ratelimit", "challenge", "response", "pipeline"].map((folder) => [folder, [noTransport, noRedis]]),
);
externalLimits.state = [noTransport];

/** One block per folder: everything not below it is off limits. */
const layerRules = layers.flatMap((layer, rank) =>
  layer.map((folder) => {
    const notBelow = layers.slice(rank).flat().filter((other) => other !== folder);
    return {
      files: [`src/${folder}/**`],
      rules: {
        "no-restricted-imports": [
          "error",
          {
            patterns: [
              ...(notBelow.length > 0
                ? [{ group: notBelow.map((other) => `**/${other}/*`), message: `${folder}/ imports only from lower layers (eslint.config.js)` }]
                : []),
              ...(externalLimits[folder] ?? []),
            ],
          },
        ],
      },
    };
  }),
);

export default tseslint.config(
  // Generated message types (npm run protos:types) are the generator's code, not ours to lint.
  { ignores: ["dist/", "node_modules/", "coverage/", "bench/results/", "src/transport/grpc/generated/", ".stryker-tmp/", "reports/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "error",
    },
  },
  ...layerRules,
  {
    // The lab decides offline; only --target's client talks gRPC, and it stays in one file.
    files: ["src/lab/**"],
    ignores: ["src/lab/replay/grpc-target.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/cli/*"], message: "lab/ imports only from lower layers (eslint.config.js)" },
            { group: ["@grpc/*", "**/transport/grpc/server.js"], message: "gRPC client code belongs in src/lab/replay/grpc-target.ts" },
          ],
        },
      ],
    },
  },
  {
    // The analyst console's page script runs in the browser, as a classic script.
    files: ["console/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: Object.fromEntries(
        ["window", "document", "location", "sessionStorage", "fetch", "URL", "URLSearchParams", "Blob", "Node", "setInterval", "clearInterval"].map((name) => [name, "readonly"]),
      ),
    },
  },
  {
    files: ["test/**", "bench/**", "scripts/**", "**/*.test.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "no-console": "off" },
  },
);
