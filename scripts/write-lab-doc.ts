/**
 * Rewrites the quoted replay report in docs/lab.md ("One minute") by running the very command
 * the doc shows, `palisade simulate | palisade replay -`, so the table and its timing line are
 * always a real run's (`npm run lab:doc`). Figures that depend on the pseudonym key (a
 * HyperLogLog estimate) may move by a request or two between runs; the timing is this machine's.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DOC = `${ROOT}docs/lab.md`;
const MARKER = "<!-- the block below is written by npm run lab:doc -->";

const cli = `node --import tsx src/cli/index.ts`;
const report = execFileSync("sh", ["-c", `${cli} simulate | ${cli} replay - --no-progress`], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
const doc = readFileSync(DOC, "utf8");
const at = doc.indexOf(MARKER);
if (at < 0) throw new Error(`${DOC}: no "${MARKER}" line`);
const open = doc.indexOf("```\n", at);
const close = doc.indexOf("\n```", open + 4);
writeFileSync(DOC, `${doc.slice(0, open + 4)}${report.trimEnd()}${doc.slice(close)}`);
process.stdout.write(`${DOC}: ${report.trimEnd().split("\n").at(-1)}\n`);
