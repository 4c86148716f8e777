import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { parseDuration } from "../config/duration.js";

/** Process settings: where things are and how the process runs. What to enforce is policy. */
const port = z.coerce.number().int().min(0).max(65535);
const flag = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);
const durationMs = z.union([
  z.number().int().nonnegative(),
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) ctx.addIssue({ code: "custom", message: `not a duration: "${text}"` });
    return ms ?? 0;
  }),
]);

/** How much lower than the main thread a lone serving process runs its other threads unless told otherwise (BENCHMARKS.md, 2026-12-07 16:15). */
export const DEFAULT_HELPER_THREAD_NICENESS = 10;

/**
 * The niceness serve gives its helper threads: the one set, else the default for a lone process
 * and none with workers. With workers on every core a lowered helper waits behind the other
 * workers' main threads as well: two workers on two cores showed no steady gain in the tail and
 * twice the collections over 100 ms (BENCHMARKS.md, 2026-12-07 17:40–18:30, `workersnice`).
 */
export function helperThreadNiceness(settings: Pick<Settings, "helperThreadNiceness" | "workers">): number {
  return settings.helperThreadNiceness ?? (settings.workers > 1 ? 0 : DEFAULT_HELPER_THREAD_NICENESS);
}

export const settingsSchema = z
  .object({
    policy: z.string().min(1).describe("Policy file, or a directory mounted from a ConfigMap"),
    policyFileRoots: z
      .union([z.array(z.string().min(1)), z.string().transform((text) => text.split(",").map((root) => root.trim()).filter((root) => root !== ""))])
      .default([])
      .describe("Directories a policy's list files may be read from (comma-separated in the environment); the policy's own directory when empty"),
    ratelimitConfig: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Rate-limit configuration (envoyproxy/ratelimit format): a file, a ConfigMap directory, or envoyproxy's runtime directory (with config/ inside); ShouldRateLimit is not served without one",
      ),
    ratelimitCompat: z
      .enum(["none", "envoyproxy"])
      .default("none")
      .describe("envoyproxy: answer ShouldRateLimit exactly as envoyproxy/ratelimit does (fixed windows, its counting, headers and metadata); none: Palisade's semantics"),
    ratelimitMergeDomains: flag.default(false).describe("Several files may configure one domain (envoyproxy's MERGE_DOMAIN_CONFIG)"),
    ratelimitStopIncrementWhenOverLimit: flag
      .default(false)
      .describe("With ratelimitCompat envoyproxy: envoyproxy's STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT"),
    grpcHost: z.string().default("0.0.0.0").describe("Listen address of the gRPC port (ext_authz, rate limit, access logs, health)"),
    grpcPort: port.default(9001).describe("gRPC port Envoy calls"),
    workers: z.coerce
      .number()
      .int()
      .min(1)
      .max(256)
      .default(1)
      .describe(
        "Worker processes sharing the gRPC, admin and challenge ports (Node's cluster module; connections are dealt round-robin), one per core; more than 1 needs redisUrl",
      ),
    helperThreadNiceness: z.coerce
      .number()
      .int()
      .min(0)
      .max(19)
      .optional()
      .describe(
        `Nice steps below the main thread at which serve runs its other threads (V8's collector and compiler helpers, libuv's pool) once warm, Linux only; 0 leaves them at the main thread's. Unset: ${DEFAULT_HELPER_THREAD_NICENESS} for a lone process, 0 with workers above 1`,
      ),
    adminHost: z.string().default("0.0.0.0").describe("Listen address of the admin HTTP port"),
    adminPort: port.default(9090).describe("Admin HTTP port: /healthz, /readyz, /metrics, the outcome endpoint and the analyst API"),
    challengeHost: z.string().default("0.0.0.0").describe("Listen address of the challenge listener (widget script, verify endpoint)"),
    challengePort: port.default(9091).describe("Port of the challenge listener, the one Envoy routes clients to"),
    challengeKeyFile: z
      .string()
      .optional()
      .describe("Key (32+ bytes, read as raw bytes) signing challenges and pass tokens: a mounted Secret shared by all replicas"),
    redisUrl: z.string().optional().describe("redis://, rediss://, redis+cluster:// or redis+sentinel:// URL"),
    redisPasswordFile: z.string().optional().describe("File holding the Redis password (a mounted Secret), instead of one in the URL"),
    storeTimeout: durationMs.default(50).describe("Budget of one store call before local state is used"),
    quarantineCopyMax: z.coerce
      .number()
      .int()
      .min(1)
      .max(100_000_000)
      .default(250_000)
      .describe(
        "Most active quarantines a replica holds in memory (about 300 bytes each); past it, Checks of clients it does not hold read the store for quarantines (one round trip) until the excess has expired",
      ),
    warmUpDecisions: z.coerce
      .number()
      .int()
      .min(0)
      .max(100_000)
      .default(600)
      .describe("Warm-up decisions run before any port opens, so the first real Check is as fast as the hundredth (0: none)"),
    trustEventTime: flag.default(false).describe("Replay mode: trust the event times in requests"),
    maxClockSkew: durationMs.default(5 * 60_000).describe("With trustEventTime: how far an event time may lie ahead of the clock"),
    pseudonymKey: z.string().optional().describe("Key of the keyed pseudonyms (HMAC); random per process when no key is set. Prefer pseudonymKeyFile"),
    pseudonymKeyFile: z.string().optional().describe("File holding the pseudonym key (a mounted Secret shared by all replicas)"),
    pseudonymPreviousKey: z.string().optional().describe("The key before a rotation, still read during pseudonymGrace"),
    pseudonymPreviousKeyFile: z.string().optional().describe("File holding the previous pseudonym key"),
    pseudonymGrace: durationMs.default(24 * 3_600_000).describe("How long pseudonyms made with the previous key are still recognised"),
    adminTokensFile: z.string().optional().describe("YAML list of admin API bearer tokens with roles (a mounted Secret)"),
    breachedPasswords: z
      .string()
      .optional()
      .describe("Breached-password SHA-1 list: a file of hashes, or a directory of 5-hex-prefix range files"),
    geoipCityDatabase: z
      .string()
      .optional()
      .describe("MaxMind-format (.mmdb) City or Country database: country and coordinates per address"),
    geoipAsnDatabase: z.string().optional().describe("MaxMind-format (.mmdb) ASN database: autonomous system per address"),
    hostingAsnsFile: z
      .string()
      .optional()
      .describe("ASNs of hosting and data-centre providers, one per line; the list shipped in data/hosting-asns.txt when unset"),
    webhookUrls: z
      .union([z.array(z.string()), z.string().transform((text) => text.split(",").map((url) => url.trim()).filter((url) => url !== ""))])
      .pipe(z.array(z.url({ protocol: /^https?$/ })))
      .default([])
      .describe("Receivers of response webhooks (comma-separated in the environment)"),
    webhookSecretFile: z.string().optional().describe("HMAC-SHA-256 key for webhook signatures (a mounted Secret)"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info").describe("Log level"),
    logFormat: z
      .enum(["json", "pretty"])
      .default("json")
      .describe("json: one JSON object a line (collectors); pretty: readable lines (the default when stdout is a terminal)"),
    shutdownGrace: durationMs.default(10_000).describe("How long in-flight calls may finish after SIGTERM"),
  })
  .strict()
  .superRefine((settings, ctx) => {
    // In memory every worker would count alone: a limit of 10 would let 10 per worker through.
    if (settings.workers > 1 && !settings.redisUrl) {
      ctx.addIssue({
        code: "custom",
        path: ["workers"],
        message: `${settings.workers} workers need a shared store (redisUrl): in memory each worker would keep its own counters, so every limit would let ${settings.workers} times as much through`,
      });
    }
  });

export type Settings = z.output<typeof settingsSchema>;
export type SettingsInput = Partial<Record<keyof Settings, unknown>>;

/** Environment variable for each setting: PALISADE_GRPC_PORT for grpcPort, and so on. */
export function envName(key: string): string {
  return `PALISADE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Conventional names honoured besides the PALISADE_ ones. */
const ENV_ALIASES: Partial<Record<keyof Settings, string>> = {
  redisUrl: "REDIS_URL",
  logLevel: "LOG_LEVEL",
  logFormat: "LOG_FORMAT",
  // envoyproxy/ratelimit's names, so its deployments keep their environment.
  ratelimitMergeDomains: "MERGE_DOMAIN_CONFIG",
  ratelimitStopIncrementWhenOverLimit: "STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT",
};

/** The environment variables a setting is read from, the PALISADE_ one first. */
export function settingEnvNames(key: keyof Settings): string[] {
  const alias = ENV_ALIASES[key];
  return alias ? [envName(key), alias] : [envName(key)];
}

/**
 * Settings from, in rising precedence: defaults, a YAML settings file (PALISADE_SETTINGS or
 * `--settings`), the environment, command-line flags. Throws an Error naming every bad key.
 */
export function resolveSettings(
  flags: SettingsInput & { settings?: string },
  env: NodeJS.ProcessEnv,
  defaults: { policy: string; ratelimitConfig?: string; logFormat?: "json" | "pretty" },
): Settings {
  const file = flags.settings ?? env.PALISADE_SETTINGS;
  const fromFile = file ? (parseYaml(readFileSync(file, "utf8")) as SettingsInput | null) ?? {} : {};
  const fromEnv: SettingsInput = {};
  for (const key of Object.keys(settingsSchema.shape) as (keyof Settings)[]) {
    const value = env[envName(key)] ?? (ENV_ALIASES[key] ? env[ENV_ALIASES[key]!] : undefined);
    if (value !== undefined && value !== "") fromEnv[key] = value;
  }
  const definedFlags = Object.fromEntries(
    Object.entries(flags).filter(([key, value]) => value !== undefined && key !== "settings"),
  );
  const parsed = settingsSchema.safeParse({ ...defaults, ...fromFile, ...fromEnv, ...definedFlags });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(settings)"}: ${i.message}`);
    throw new Error(`invalid settings: ${problems.join("; ")}`);
  }
  return parsed.data;
}

/** Settings as they may be logged: secrets replaced, passwords cut out of URLs. */
export function redactedSettings(settings: Settings): Record<string, unknown> {
  return {
    ...settings,
    redisUrl: withoutUserInfo(settings.redisUrl),
    webhookUrls: settings.webhookUrls.map(withoutUserInfo),
    pseudonymKey: settings.pseudonymKey ? "***" : undefined,
    pseudonymPreviousKey: settings.pseudonymPreviousKey ? "***" : undefined,
  };
}

/** Credentials in a URL's user-info part are secret; the host helps debugging. */
function withoutUserInfo<T extends string | undefined>(url: T): T {
  return url?.replace(/\/\/([^@/]*)@/, "//***@") as T;
}
