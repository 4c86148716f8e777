import { readFileSync } from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import { registerAnalystCommands } from "./analyst.js";
import { registerLabCommands } from "./lab.js";
import { registerPseudonymiseCommand } from "./pseudonyms.js";
import { lintPolicy, type LintResult } from "../policy/lint.js";
import { lintRateLimitConfig } from "../ratelimit/lint.js";
import { resolveSettings, settingEnvNames, settingsSchema, type Settings } from "../settings/settings.js";
import { findProtoDir } from "../transport/grpc/protos.js";

/** The bundled examples, so `npm start` with no arguments has something to enforce. */
const EXAMPLES = path.join(path.dirname(findProtoDir()), "examples");
const EXAMPLE_DEFAULTS = { policy: path.join(EXAMPLES, "policy.yaml"), ratelimitConfig: path.join(EXAMPLES, "ratelimit.yaml") };

/** Secrets are not offered as flags: a command line is visible to every user of the machine. */
const NO_FLAG: readonly (keyof Settings)[] = ["pseudonymKey", "pseudonymPreviousKey"];
/** Settings read as durations: a number of milliseconds or a text such as 50ms, 10s, 24h. */
const DURATIONS: readonly (keyof Settings)[] = ["storeTimeout", "maxClockSkew", "pseudonymGrace", "shutdownGrace"];

/** The `palisade` command with every subcommand; index.ts runs it, tests read its help. */
export function buildProgram(): Command {
  const program = new Command()
    .name("palisade")
    .description("Envoy external authorization and rate-limit service against API abuse")
    .version(packageVersion(), "-V, --version", "print the version and exit");

  const serve = program
    .command("serve")
    .description("Run the gRPC (ext_authz, rate limit), admin HTTP and challenge HTTP servers")
    .option("--policy <path>", "policy file or ConfigMap directory [PALISADE_POLICY] (default: the bundled examples/policy.yaml)")
    .option("--ratelimit-config <path>", "rate-limit configuration file or ConfigMap directory [PALISADE_RATELIMIT_CONFIG] (default: the bundled examples/ratelimit.yaml)")
    .addOption(new Option("--ratelimit-compat <mode>", "answer ShouldRateLimit as envoyproxy/ratelimit does [PALISADE_RATELIMIT_COMPAT]").choices(["none", "envoyproxy"]))
    .option("--ratelimit-merge-domains", "several files may configure one domain [PALISADE_RATELIMIT_MERGE_DOMAINS, MERGE_DOMAIN_CONFIG]")
    .option("--grpc-port <port>", "gRPC port, default 9001 [PALISADE_GRPC_PORT]")
    .option("--admin-port <port>", "admin HTTP port, default 9090 [PALISADE_ADMIN_PORT]")
    .option("--challenge-port <port>", "challenge HTTP port Envoy routes clients to, default 9091 [PALISADE_CHALLENGE_PORT]")
    .option("--redis-url <url>", "shared store; in-memory when absent [REDIS_URL, PALISADE_REDIS_URL]")
    .option("--settings <file>", "YAML settings file: any setting below by its camelCase name [PALISADE_SETTINGS]")
    .addOption(new Option("--log-level <level>", "log level [PALISADE_LOG_LEVEL, LOG_LEVEL]").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]))
    .addOption(
      new Option("--log-format <format>", "json, or pretty for people; default pretty when stdout is a terminal [PALISADE_LOG_FORMAT, LOG_FORMAT]").choices([
        "json",
        "pretty",
      ]),
    )
    .option("--trust-event-time", "replay mode: trust event times in requests [PALISADE_TRUST_EVENT_TIME]");
  addRemainingSettingOptions(serve);
  serve.action(async (flags: Record<string, unknown>) => {
    const settings = resolveSettings(flags, process.env, { ...EXAMPLE_DEFAULTS, logFormat: process.stdout.isTTY ? "pretty" : "json" });
    // Loaded here, so the client commands start without the server's dependencies.
    const { serve: run } = await import("../app/serve.js");
    try {
      await run(settings);
    } catch (error) {
      // Nothing is left listening (start-up unwinds what it opened); exit now rather than wait
      // for timers of half-built parts.
      process.stderr.write(`palisade: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    }
  });

  const policy = program.command("policy").description("Work with policy documents, and the versions a server keeps");
  policy
    .command("lint")
    .description("Validate a policy file or directory offline, with the loader the server uses")
    .argument("<file>", "policy file or directory")
    .option("--file-root <dir...>", "directory list files may be read from (default: the policy's own directory)")
    .action(async (file: string, flags: { fileRoot?: string[] }) => report(await lintPolicy(file, { fileRoots: flags.fileRoot ?? [] })));

  program
    .command("ratelimit")
    .description("Work with rate-limit configurations (envoyproxy/ratelimit format)")
    .command("lint")
    .description("Validate a rate-limit file or directory offline, with the loader the server uses")
    .argument("<file>", "rate-limit file or directory")
    .option("--merge-domains", "several files may configure one domain (envoyproxy's MERGE_DOMAIN_CONFIG)")
    .action(async (file: string, flags: { mergeDomains?: boolean }) => report(await lintRateLimitConfig(file, { mergeDomains: flags.mergeDomains ?? false })))

  registerAnalystCommands(program, policy);
  registerPseudonymiseCommand(program);

  registerLabCommands(program, {
    policy: EXAMPLE_DEFAULTS.policy,
    scenarios: path.join(EXAMPLES, "lab", "scenarios.yaml"),
    sweep: path.join(EXAMPLES, "lab", "sweep.yaml"),
  });
  return program;
}

/** A lint result on stdout (ok) or stderr (issues), and the exit code to match. */
function report(result: LintResult): void {
  (result.ok ? process.stdout : process.stderr).write(`${result.output}\n`);
  process.exitCode = result.ok ? 0 : 1;
}

/** The version in the package.json beside proto/ (the repository, or /app in the image). */
function packageVersion(): string {
  const file = path.join(path.dirname(findProtoDir()), "package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/**
 * Every setting the schema knows and the explicit options above do not cover, as a flag named
 * after it (adminTokensFile → --admin-tokens-file) with its description, environment variables
 * and default, so `serve --help` lists every setting and a new setting cannot be left out.
 */
function addRemainingSettingOptions(command: Command): void {
  const taken = new Set(command.options.map((option) => option.attributeName()));
  const shape = settingsSchema.shape as Record<keyof Settings, { description?: string; safeParse(value: unknown): { success: boolean; data?: unknown } }>;
  const lines: string[] = [];
  for (const key of Object.keys(shape) as (keyof Settings)[]) {
    const schema = shape[key];
    const fallback = schema.safeParse(undefined);
    const shown = DURATIONS.includes(key) ? `${String(fallback.data)} ms` : JSON.stringify(fallback.data);
    const byDefault = fallback.success && fallback.data !== undefined && !(Array.isArray(fallback.data) && fallback.data.length === 0) ? ` (default ${shown})` : "";
    const env = `[${settingEnvNames(key).join(", ")}]`;
    if (NO_FLAG.includes(key)) {
      lines.push(`  ${key}: ${schema.description ?? ""} ${env}`);
      continue;
    }
    if (taken.has(key)) continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const isSwitch = typeof fallback.data === "boolean";
    command.option(isSwitch ? flag : `${flag} <value>`, `${schema.description ?? key}${byDefault} ${env}`);
  }
  command.addHelpText(
    "after",
    [
      "",
      "Every option is also an environment variable (in brackets) and a key of the --settings file;",
      "flags win over the environment, the environment over the file. Secrets, by environment or file:",
      ...lines,
      "Policy and rate-limit formats: docs/policy.md, docs/ratelimit.md; operations: docs/operations.md.",
    ].join("\n"),
  );
}
