import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseAddress } from "../../domain/client-address.js";
import { HmacPseudonymiser } from "../../privacy/pseudonymiser.js";
import { runReplay } from "./run.js";

/**
 * Replays CrowdSec's labelled hub fixtures (one folder per test: a log, `config.yaml` naming it,
 * `scenario.assert` naming the source IPs the scenario must alert on) through a policy and says,
 * per test, which of those IPs Palisade mitigated and which other IPs it touched. Read in place.
 */
export interface ParityRow {
  test: string;
  /** IPs the fixture's scenario alerts on. */
  expected: string[];
  /** Expected IPs with at least one request denied, and after how many of their requests. */
  mitigated: { ip: string; afterRequests: number }[];
  /** Expected IPs that appear only in lines that are not HTTP access-log lines (error logs…). */
  notInAccessLog: string[];
  /** Other IPs of the log with a request denied. */
  otherTouched: string[];
  /** Checks replayed: 0 when no line of the log is an access-log line Palisade reads. */
  requests: number;
}

export async function crowdsecParity(fixtures: string, policy: string): Promise<ParityRow[]> {
  const tests = (await readdir(fixtures, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const rows: ParityRow[] = [];
  for (const test of tests) rows.push(await parityOf(join(fixtures, test), test, policy));
  return rows;
}

async function parityOf(folder: string, test: string, policy: string): Promise<ParityRow> {
  const config = parseYaml(await readFile(join(folder, "config.yaml"), "utf8")) as { log_file?: string };
  const log = join(folder, config.log_file ?? `${test}.log`);
  const assertions = await readFile(join(folder, "scenario.assert"), "utf8").catch(() => "");
  const expected = [...new Set([...assertions.matchAll(/Sources\["([^"]+)"\]/g)].map((m) => m[1]!))];
  const pseudonymiser = new HmacPseudonymiser({ current: randomBytes(32) });
  const { result, clients = [] } = await runReplay({
    input: log,
    policy,
    json: false,
    format: "auto",
    scenario: test,
    maxDisorderMs: 60_000,
    examples: 0,
    progress: false,
    pseudonymiser,
    clients: "",
  });
  // Every address written in the log, so pseudonyms can be named again in the table.
  const text = await readFile(log, "utf8");
  const addresses = new Map<string, string>();
  for (const token of text.split(/[\s,"[\]()]+/)) {
    const address = parseAddress(token.replace(/^client:?/, ""));
    if (address) addresses.set(pseudonymiser.pseudonymise("ip", address.ip), address.ip);
  }
  const byIp = new Map(clients.map((line) => [addresses.get(line.client) ?? line.client, line]));
  const canonical = (ip: string) => parseAddress(ip)?.ip ?? ip;
  return {
    test,
    expected,
    mitigated: expected.flatMap((ip) => {
      const line = byIp.get(canonical(ip));
      return line?.first_mitigated ? [{ ip, afterRequests: line.first_mitigated }] : [];
    }),
    notInAccessLog: expected.filter((ip) => !byIp.has(canonical(ip))),
    otherTouched: [...byIp].filter(([ip, line]) => line.mitigated > 0 && !expected.some((e) => canonical(e) === ip)).map(([ip]) => ip),
    requests: result.events.checks,
  };
}
