/**
 * Does a slow log reader stall the event loop? `npx tsx bench/log-stall.ts` starts itself twice
 * as a child that logs 20,000 decision-sized lines through pino (50 per event-loop turn), once
 * to pino's default asynchronous stdout (what Palisade uses) and once to a synchronous one, with
 * its stdout a pipe that the parent does not read for 2 s after the child starts logging, as a
 * log collector that falls behind. Each child prints the longest delay a 10 ms timer saw.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pino } from "pino";

const LINES = 20_000;
const PAUSE_MS = 2_000;

function child(mode: "async" | "sync"): void {
  const logger = mode === "sync" ? pino(pino.destination({ fd: 1, sync: true })) : pino();
  let last = Date.now();
  let worstMs = 0;
  setInterval(() => {
    const now = Date.now();
    worstMs = Math.max(worstMs, now - last - 10);
    last = now;
  }, 10);
  let written = 0;
  process.stderr.write("logging\n");
  const turn = () => {
    for (let i = 0; i < 50; i++) logger.info({ n: written++, reasons: ["velocity", "new_device"], pad: "x".repeat(200) }, "decided");
    if (written < LINES) setImmediate(turn);
    else {
      process.stderr.write(`${mode} stdout: ${written} lines, longest event-loop stall ${worstMs} ms\n`);
      process.exit(0);
    }
  };
  turn();
}

async function parent(): Promise<void> {
  for (const mode of ["async", "sync"] as const) {
    const script = fileURLToPath(import.meta.url);
    const logger = spawn(process.execPath, [...process.execArgv, script, mode], { stdio: ["ignore", "pipe", "pipe"] });
    logger.stdout.pause();
    let resume: NodeJS.Timeout | undefined;
    // The pause starts when the child starts logging (its start-up takes seconds on a busy machine).
    logger.stderr.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      if (text.includes("logging\n")) resume ??= setTimeout(() => logger.stdout.resume(), PAUSE_MS);
      process.stderr.write(text.replace("logging\n", ""));
    });
    logger.stdout.on("data", () => {});
    await new Promise((resolve) => logger.on("exit", resolve));
    clearTimeout(resume);
  }
}

const mode = process.argv[2];
if (mode === "async" || mode === "sync") child(mode);
else await parent();
