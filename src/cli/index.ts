#!/usr/bin/env node
import path from "node:path";
import { Command, Option } from "commander";
import { serve } from "../main.js";
import { registerLabCommands } from "./lab.js";
import { lintPolicy } from "../policy/lint.js";
import { resolveSettings } from "../settings/settings.js";
import { findProtoDir } from "../transport/grpc/protos.js";

/** The bundled example policy, so `npm start` with no arguments has something to enforce. */
const EXAMPLE_POLICY = path.join(path.dirname(findProtoDir()), "examples", "policy.yaml");

const program = new Command()
  .name("palisade")
  .description("Envoy external authorization and rate-limit service against API abuse");

program
  .command("serve")
  .description("Run the gRPC (ext_authz) and admin HTTP servers")
  .option("--policy <path>", "policy file or ConfigMap directory [PALISADE_POLICY]")
  .option("--grpc-port <port>", "gRPC port, default 9001 [PALISADE_GRPC_PORT]")
  .option("--admin-port <port>", "admin HTTP port, default 9090 [PALISADE_ADMIN_PORT]")
  .option("--redis-url <url>", "shared store; in-memory when absent [REDIS_URL, PALISADE_REDIS_URL]")
  .option("--settings <file>", "YAML settings file [PALISADE_SETTINGS]")
  .addOption(new Option("--log-level <level>", "log level [PALISADE_LOG_LEVEL]"))
  .option("--trust-event-time", "replay mode: trust event times in requests [PALISADE_TRUST_EVENT_TIME]")
  .action(async (flags: Record<string, unknown>) => {
    const settings = resolveSettings(flags, process.env, { policy: EXAMPLE_POLICY });
    await serve(settings);
  });

program
  .command("policy")
  .description("Work with policy documents")
  .command("lint")
  .description("Validate a policy file or directory offline, with the loader the server uses")
  .argument("<file>", "policy file or directory")
  .action(async (file: string) => {
    const result = await lintPolicy(file);
    (result.ok ? process.stdout : process.stderr).write(`${result.output}\n`);
    process.exitCode = result.ok ? 0 : 1;
  });

registerLabCommands(program, {
  policy: EXAMPLE_POLICY,
  scenarios: path.join(path.dirname(findProtoDir()), "examples", "lab", "scenarios.yaml"),
});

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`palisade: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
