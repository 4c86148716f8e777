#!/usr/bin/env node
import path from "node:path";
import { Command, Option } from "commander";
import { registerAnalystCommands } from "./analyst.js";
import { registerLabCommands } from "./lab.js";
import { registerPseudonymiseCommand } from "./pseudonyms.js";
import { lintPolicy, type LintResult } from "../policy/lint.js";
import { lintRateLimitConfig } from "../ratelimit/lint.js";
import { resolveSettings } from "../settings/settings.js";
import { findProtoDir } from "../transport/grpc/protos.js";

/** The bundled examples, so `npm start` with no arguments has something to enforce. */
const EXAMPLES = path.join(path.dirname(findProtoDir()), "examples");
const EXAMPLE_DEFAULTS = { policy: path.join(EXAMPLES, "policy.yaml"), ratelimitConfig: path.join(EXAMPLES, "ratelimit.yaml") };

const program = new Command()
  .name("palisade")
  .description("Envoy external authorization and rate-limit service against API abuse");

program
  .command("serve")
  .description("Run the gRPC (ext_authz, rate limit), admin HTTP and challenge HTTP servers")
  .option("--policy <path>", "policy file or ConfigMap directory [PALISADE_POLICY]")
  .option("--ratelimit-config <path>", "rate-limit configuration file or ConfigMap directory [PALISADE_RATELIMIT_CONFIG]")
  .addOption(new Option("--ratelimit-compat <mode>", "answer ShouldRateLimit as envoyproxy/ratelimit does [PALISADE_RATELIMIT_COMPAT]").choices(["none", "envoyproxy"]))
  .option("--ratelimit-merge-domains", "several files may configure one domain [PALISADE_RATELIMIT_MERGE_DOMAINS, MERGE_DOMAIN_CONFIG]")
  .option("--grpc-port <port>", "gRPC port, default 9001 [PALISADE_GRPC_PORT]")
  .option("--admin-port <port>", "admin HTTP port, default 9090 [PALISADE_ADMIN_PORT]")
  .option("--challenge-port <port>", "challenge HTTP port Envoy routes clients to, default 9091 [PALISADE_CHALLENGE_PORT]")
  .option("--redis-url <url>", "shared store; in-memory when absent [REDIS_URL, PALISADE_REDIS_URL]")
  .option("--settings <file>", "YAML settings file [PALISADE_SETTINGS]")
  .addOption(new Option("--log-level <level>", "log level [PALISADE_LOG_LEVEL]"))
  .option("--trust-event-time", "replay mode: trust event times in requests [PALISADE_TRUST_EVENT_TIME]")
  .action(async (flags: Record<string, unknown>) => {
    const settings = resolveSettings(flags, process.env, EXAMPLE_DEFAULTS);
    // Loaded here, so the client commands start without the server's dependencies.
    const { serve } = await import("../app/serve.js");
    await serve(settings);
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

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`palisade: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

/** A lint result on stdout (ok) or stderr (issues), and the exit code to match. */
function report(result: LintResult): void {
  (result.ok ? process.stdout : process.stderr).write(`${result.output}\n`);
  process.exitCode = result.ok ? 0 : 1;
}
