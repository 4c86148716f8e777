import { readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { Command, Option } from "commander";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { parseDuration } from "../config/duration.js";
import { findChromium, printPdf } from "./pdf.js";

/**
 * The analyst commands: a client of the admin API in the style of CrowdSec's cscli. Tables for
 * people, JSON (`-o json`, the API's answer as is) for scripts. Where the server and token come
 * from, first found wins: --server/--token, PALISADE_URL/PALISADE_TOKEN, the config file
 * (--config, PALISADE_CONFIG, ~/.config/palisade/cli.yaml: `server:`, `token:` or `tokenFile:`).
 */

const DEFAULT_SERVER = "http://127.0.0.1:9090";

const configFile = z
  .object({ server: z.string().url().optional(), token: z.string().min(1).optional(), tokenFile: z.string().min(1).optional() })
  .strict();

interface Connection {
  server?: string;
  token?: string;
  config?: string;
  output: "table" | "json";
}

/** A refused call: the problem document's detail, printed without a stack. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(`${status}: ${detail}`);
  }
}

async function resolveConnection(flags: Connection, env: NodeJS.ProcessEnv): Promise<{ server: string; token?: string }> {
  const file = flags.config ?? env.PALISADE_CONFIG ?? path.join(homedir(), ".config", "palisade", "cli.yaml");
  const fromFile = await readConfig(file, flags.config !== undefined || env.PALISADE_CONFIG !== undefined);
  const tokenFromFile = fromFile.token ?? (fromFile.tokenFile ? (await readFile(path.resolve(path.dirname(file), fromFile.tokenFile), "utf8")).trim() : undefined);
  return {
    server: (flags.server ?? env.PALISADE_URL ?? fromFile.server ?? DEFAULT_SERVER).replace(/\/+$/, ""),
    token: flags.token ?? env.PALISADE_TOKEN ?? tokenFromFile,
  };
}

async function readConfig(file: string, required: boolean): Promise<z.output<typeof configFile>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
  const parsed = configFile.safeParse(parseYaml(text) ?? {});
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "file"}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

type Query = Record<string, string | undefined>;

/** Calls the admin API; resolves with the JSON answer, or rejects with the problem's detail. */
async function call<T>(flags: Connection, method: string, route: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
  const { server, token } = await resolveConnection(flags, process.env);
  const query = new URLSearchParams(Object.entries(options.query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const url = `${server}${route}${query.size > 0 ? `?${query}` : ""}`;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch (error) {
    throw new Error(`cannot reach ${server}: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  const body: unknown = text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text;
  if (!response.ok) {
    const hint = response.status === 401 ? " (give a token: --token, PALISADE_TOKEN or the config file)" : "";
    const detail = (body as { detail?: string } | undefined)?.detail;
    throw new ApiError(response.status, `${detail ?? (text || response.statusText)}${hint}`);
  }
  return body as T;
}

/** Rows as an aligned text table; empty cells as "-". */
export function table(columns: string[], rows: unknown[][]): string {
  const cells = rows.map((row) => row.map((cell) => (cell === undefined || cell === null || cell === "" ? "-" : String(cell))));
  const widths = columns.map((title, i) => Math.max(title.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ");
  return [line(columns), ...cells.map(line)].join("\n");
}

function print(flags: Connection, answer: unknown, asTable: () => string): void {
  process.stdout.write(`${flags.output === "json" ? JSON.stringify(answer, null, 2) : asTable()}\n`);
}

/** --since: a time (RFC 3339) or how long ago (30m, 4h, 7d). */
function sinceTime(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const ago = parseDuration(text);
  return ago === undefined ? text : new Date(Date.now() - ago).toISOString();
}

function connected(command: Command): Command {
  return command
    .option("--server <url>", `admin API address [PALISADE_URL], default ${DEFAULT_SERVER}`)
    .option("--token <token>", "bearer token [PALISADE_TOKEN]")
    .option("--config <file>", "CLI config file with server, token or tokenFile [PALISADE_CONFIG], default ~/.config/palisade/cli.yaml")
    .addOption(new Option("-o, --output <format>", "table for people, json for scripts").choices(["table", "json"]).default("table"));
}

interface QuarantineView {
  id: string;
  scope: string;
  subject: string;
  rule: string;
  actor: string;
  reason?: string;
  expires: string;
  remainingSeconds: number;
}

const quarantineTable = (rows: QuarantineView[]) =>
  table(
    ["ID", "SCOPE", "SUBJECT", "RULE", "BY", "REASON", "EXPIRES", "LEFT"],
    rows.map((q) => [q.id, q.scope, q.subject, q.rule || "(manual)", q.actor, q.reason, q.expires, `${q.remainingSeconds}s`]),
  );

interface Lifted {
  lifted: QuarantineView[];
  count: number;
}
type Row = Record<string, string | undefined>;
interface PolicyStatus {
  effective: { version: string };
  file: { version: string };
  rollback?: { version: string; until: string };
  disabledRules: { rule: string; until: string }[];
}

const liftedTable = (answer: Lifted) => `${quarantineTable(answer.lifted)}\n${answer.count} lifted`;

function registerDecisions(program: Command): void {
  const decisions = program.command("decisions").description("Quarantines in force: list, add by hand, lift (like cscli decisions)");

  connected(decisions.command("list"))
    .description("Active quarantines, newest first")
    .option("--ip <ip>")
    .option("--user <username>")
    .option("--subnet <cidr>")
    .option("--rule <rule>")
    .option("--scope <scope>", "ip, subnet, username, fingerprint or session")
    .option("--limit <n>", "at most this many", "100")
    .action(async (flags) => {
      const answer = await call<{ quarantines: QuarantineView[]; total: number }>(flags, "GET", "/v1/quarantines", {
        query: { ip: flags.ip, username: flags.user, subnet: flags.subnet, rule: flags.rule, scope: flags.scope, limit: flags.limit },
      });
      print(flags, answer, () => `${quarantineTable(answer.quarantines)}\n${answer.quarantines.length} of ${answer.total}`);
    });

  connected(decisions.command("add"))
    .description("Quarantine one client by hand (audited and sent to webhooks)")
    .option("--ip <ip>")
    .option("--subnet <cidr>", "in the policy's subnet size")
    .option("--user <username>")
    .option("--session <session>")
    .option("--fingerprint <pseudonym>", "a fingerprint pseudonym as the API shows it")
    .option("--duration <duration>", "30m, 4h, 7d; the policy's quarantine duration when absent")
    .option("--reason <text>")
    .action(async (flags) => {
      const body = { ip: flags.ip, subnet: flags.subnet, username: flags.user, session: flags.session, fingerprint: flags.fingerprint, duration: flags.duration, reason: flags.reason };
      const answer = await call<QuarantineView>(flags, "POST", "/v1/quarantines", { body });
      print(flags, answer, () => quarantineTable([answer]));
    });

  connected(decisions.command("delete"))
    .description("Lift quarantines: one by id, a client's, a rule's, or all")
    .option("--id <id>")
    .option("--ip <ip>")
    .option("--user <username>")
    .option("--subnet <cidr>")
    .option("--rule <rule>")
    .option("--all", "every active quarantine")
    .option("--reason <text>")
    .action(async (flags) => {
      const body = { reason: flags.reason };
      const answer = flags.id
        ? await call<Lifted>(flags, "DELETE", `/v1/quarantines/${encodeURIComponent(flags.id)}`, { body })
        : await call<Lifted>(flags, "DELETE", "/v1/quarantines", {
            query: { ip: flags.ip, username: flags.user, subnet: flags.subnet, rule: flags.rule, all: flags.all ? "true" : undefined },
            body,
          });
      print(flags, answer, () => liftedTable(answer));
    });
}

function registerAudit(program: Command): void {
  connected(program.command("audit"))
    .description("The audit trail: enforcements and every change, newest first")
    .option("--since <when>", "a time (RFC 3339) or how long ago (30m, 4h, 7d)")
    .option("--ip <ip>")
    .option("--user <username>")
    .option("--action <action>", "e.g. quarantine.created, rule.disabled")
    .option("--actor <actor>", "system or token:<name>")
    .option("--rule <rule>")
    .option("--limit <n>", "at most this many", "100")
    .action(async (flags) => {
      const answer = await call<{ records: Row[] }>(flags, "GET", "/v1/audit", {
        query: { from: sinceTime(flags.since), ip: flags.ip, username: flags.user, action: flags.action, actor: flags.actor, rule: flags.rule, limit: flags.limit },
      });
      print(flags, answer, () =>
        table(
          ["TIME", "ACTION", "ACTOR", "SCOPE", "SUBJECT", "RULE", "POLICY"],
          answer.records.map((r) => [r.time, r.action, r.actor, r.scope, r.subject, r.rule, r.policyVersion]),
        ),
      );
    });
}

const policyStatus = (answer: PolicyStatus) =>
  [
    `in force: ${answer.effective.version} (file: ${answer.file.version})`,
    answer.rollback ? `rollback: ${answer.rollback.version} until ${answer.rollback.until}` : "rollback: none",
    `disabled rules: ${answer.disabledRules.map((r) => `${r.rule} until ${r.until}`).join(", ") || "none"}`,
  ].join("\n");

function registerPolicy(policy: Command): void {
  connected(policy.command("versions"))
    .description("Kept policy versions, newest first; REF names one unambiguously")
    .action(async (flags) => {
      const answer = await call<{ versions: Row[] }>(flags, "GET", "/v1/policy/versions");
      print(flags, answer, () =>
        table(
          ["REF", "NAME", "LOADED", "SOURCE"],
          answer.versions.map((v) => [v.ref, v.name, v.loadedAt, v.source]),
        ),
      );
    });

  connected(policy.command("diff"))
    .description("What changed between two versions (refs, or effective / base)")
    .argument("<from>")
    .argument("[to]", "default: effective")
    .action(async (from: string, to: string | undefined, flags) => {
      const answer = await call<{ changes: { path: string; kind: string; from?: unknown; to?: unknown }[] }>(flags, "GET", "/v1/policy/diff", { query: { from, to } });
      print(flags, answer, () =>
        table(
          ["PATH", "CHANGE", "FROM", "TO"],
          answer.changes.map((c) => [c.path, c.kind, JSON.stringify(c.from), JSON.stringify(c.to)]),
        ),
      );
    });

  connected(policy.command("rollback"))
    .description("Put a kept version in force until cleared or expired; --clear ends a rollback")
    .argument("[ref]", "a REF from `policy versions`")
    .option("--clear", "end the rollback in force")
    .option("--expires <duration>", "lapse after 30m, 4h, 7d")
    .option("--reason <text>")
    .action(async (ref: string | undefined, flags) => {
      if (!flags.clear && !ref) throw new Error("give the version to roll back to (a REF from `palisade policy versions`), or --clear");
      const answer = flags.clear
        ? await call<PolicyStatus>(flags, "DELETE", "/v1/policy/rollback", { body: { reason: flags.reason } })
        : await call<PolicyStatus>(flags, "POST", "/v1/policy/rollback", { body: { id: ref, reason: flags.reason, expires: flags.expires } });
      print(flags, answer, () => policyStatus(answer));
    });
}

function registerRules(program: Command): void {
  const rules = program.command("rules").description("Disable and enable policy rules at run time");
  connected(rules.command("disable"))
    .argument("<rule>")
    .option("--expires <duration>", "lapse after 30m, 4h, 7d")
    .option("--reason <text>")
    .action(async (rule: string, flags) => {
      const answer = await call<PolicyStatus>(flags, "POST", `/v1/rules/${encodeURIComponent(rule)}/disable`, { body: { reason: flags.reason, expires: flags.expires } });
      print(flags, answer, () => policyStatus(answer));
    });
  connected(rules.command("enable"))
    .argument("<rule>")
    .option("--reason <text>")
    .action(async (rule: string, flags) => {
      const answer = await call<PolicyStatus>(flags, "POST", `/v1/rules/${encodeURIComponent(rule)}/enable`, { body: { reason: flags.reason } });
      print(flags, answer, () => policyStatus(answer));
    });
}

function registerReport(program: Command): void {
  program
    .command("report")
    .description("The security posture report for a period, from a running server: HTML, Markdown, PDF or JSON")
    .option("--since <when>", "how long back (24h, 7d) or a time (RFC 3339)", "7d")
    .option("--until <when>", "end of the period, a time (RFC 3339); now when absent")
    .addOption(new Option("--format <format>", "html, md, pdf or json").choices(["html", "md", "pdf", "json"]).default("html"))
    .option("--out <file>", "where to write it; standard output when absent (not for pdf)")
    .option("--chromium <path>", "the Chromium that prints the PDF [PALISADE_CHROMIUM]; chromium on PATH when absent")
    .option("--server <url>", `admin API address [PALISADE_URL], default ${DEFAULT_SERVER}`)
    .option("--token <token>", "bearer token [PALISADE_TOKEN]")
    .option("--config <file>", "CLI config file with server, token or tokenFile [PALISADE_CONFIG], default ~/.config/palisade/cli.yaml")
    .action(async (flags: { since: string; until?: string; format: "html" | "md" | "pdf" | "json"; out?: string; chromium?: string } & Omit<Connection, "output">) => {
      if (flags.format === "pdf" && !flags.out) throw new Error("--format pdf needs --out FILE");
      // Look the browser up first: a missing Chromium should not cost a report's worth of reads.
      const chromium = flags.format === "pdf" ? findChromium(flags.chromium) : undefined;
      const format = flags.format === "pdf" ? "html" : flags.format;
      const answer = await call<unknown>({ ...flags, output: "json" }, "GET", "/v1/report", { query: { since: flags.since, until: flags.until, format } });
      const text = typeof answer === "string" ? answer : `${JSON.stringify(answer, null, 2)}\n`;
      if (chromium) await printPdf(text, flags.out!, chromium);
      else if (flags.out) await writeFile(flags.out, text);
      else process.stdout.write(text);
      if (flags.out) process.stderr.write(`report written to ${flags.out}\n`);
    });
}

/** Adds decisions, audit, rules, report, and the policy subcommands that talk to a running server. */
/** `palisade intel export`: the networks to share with partners, in their format (GET /v1/intel). */
function registerIntel(program: Command): void {
  const intel = program.command("intel").description("Threat intelligence to share: attacking networks, never people");
  connected(intel.command("export"))
    .description("Networks quarantined or blocked, with the rules that acted (no address, username or pseudonym)")
    .option("--since <when>", "a time (RFC 3339) or how long ago (30m, 4h, 1d); at most two days", "24h")
    .addOption(new Option("--format <format>", "csv, json, CrowdSec's decisions import or a STIX 2.1 bundle").choices(["json", "csv", "crowdsec", "stix"]).default("csv"))
    .option("--prefix-v4 <bits>", "coarsen IPv4 networks to this prefix (e.g. 16)")
    .option("--prefix-v6 <bits>", "coarsen IPv6 networks to this prefix (e.g. 32)")
    .option("--out <file>", "write there instead of standard output")
    .action(async (flags) => {
      const answer = await call<unknown>(flags, "GET", "/v1/intel", {
        query: { from: sinceTime(flags.since), format: flags.format, prefixV4: flags.prefixV4, prefixV6: flags.prefixV6 },
      });
      const text = typeof answer === "string" ? answer : `${JSON.stringify(answer, null, 2)}\n`;
      if (flags.out) await writeFile(flags.out, text);
      else process.stdout.write(text);
    });
}

export function registerAnalystCommands(program: Command, policy: Command): void {
  registerReport(program);
  registerDecisions(program);
  registerAudit(program);
  registerIntel(program);
  registerPolicy(policy);
  registerRules(program);
}
