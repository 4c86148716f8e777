import { hostname } from "node:os";
import { pino } from "pino";
import { prettyFactory } from "pino-pretty";
import { redactSensitive } from "./redact.js";

/** The logger every module receives: pino's, so child loggers and levels work as usual. */
export type Logger = pino.Logger;

export interface LoggerOptions {
  /** pino level name; `info` when absent. */
  level?: string;
  /** Where JSON lines go; stdout through pino's asynchronous default when absent (tests pass an in-memory stream). */
  destination?: pino.DestinationStream;
  /**
   * `json` (default): one JSON object a line, for collectors. `pretty`: one readable line an
   * entry with the fields indented below it, for a person at a terminal (colours when stdout is
   * a TTY). Both pass through the same redaction, since pretty printing reads the JSON lines.
   */
  format?: LogFormat;
}

export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The readable format: pino-pretty's formatter, pino's own prettifier kept by the pino team and
 * tracking its line format, rather than a hand-made one that would drift from it. Its formatter
 * runs in this process on each JSON line (no transport worker), and lines go to synchronous
 * stdout (unlike the JSON format: see createLogger), so nothing is lost when the process exits.
 */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  const target = destination ?? pino.destination({ fd: 1, sync: true });
  const format = prettyFactory({
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,service",
  });
  return { write: (line: string) => target.write(format(line)) };
}

/** pino's error serialiser copies an error's own fields (ioredis adds `command`), so redact its output. */
function serializeError(error: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  // The serialised error has a prototype of its own; a plain copy lets the walk see its fields.
  return serialized instanceof Object && serialized !== error ? redactSensitive({ ...serialized }) : serialized;
}

/**
 * pino applies `formatters.bindings` to the root's base only, so a child's bindings would skip
 * the safety net. Children are created from their parent with Object.create, so an own `child`
 * on the root is inherited by every descendant.
 */
function redactChildBindings(root: Logger): Logger {
  const pinoChild = Object.getPrototypeOf(root).child as Logger["child"];
  root.child = function child(this: Logger, bindings, options) {
    return pinoChild.call(this, redactSensitive(bindings), options);
  } as Logger["child"];
  return root;
}

/** sonic-boom's `minLength` and `periodicFlush`: a log line waits at most LOG_FLUSH_MS for company. */
const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 250;

/**
 * JSON lines with ISO timestamps and level names. Every logged object and child binding passes
 * through `redactSensitive` (see redact.ts for why not pino's `redact` paths).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pinoOptions: pino.LoggerOptions = {
    level: options.level ?? "info",
    base: { service: "palisade", pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: serializeError, error: serializeError },
    formatters: {
      // Level names rather than numbers: what Loki, Elastic and Cloud Logging queries expect.
      level: (label) => ({ level: label }),
      log: (object) => redactSensitive(object),
    },
  };
  // pino's default destination: an asynchronous SonicBoom on stdout, each line written from
  // libuv's thread pool. Kept on purpose: a synchronous one writes from the event loop, which then
  // stops whenever the log reader falls behind (2,018 ms against 65 ms for this one, behind a
  // reader paused for 2 s: bench/log-stall.ts), while it saved a warm Check about 4% of its
  // main-thread time.
  // Lines are gathered into writes of at least LOG_BATCH_BYTES (or whatever is waiting after
  // LOG_FLUSH_MS): one write per line (every enforced Check logs one) cost a warm Check some 10%
  // of its main-thread time in a profile, the thread-pool hand-off of a 300-byte write.
  // pino writes what is still buffered when the process exits (exitWhenLogged keeps the order
  // too); a SIGKILL can lose the last lines.
  const destination = options.format === "pretty" ? prettyStream(options.destination) : options.destination;
  return redactChildBindings(pino(pinoOptions, destination ?? pino.destination({ fd: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS })));
}

/** How long an exit waits for the log reader before it exits anyway (a reader may be gone). */
const EXIT_FLUSH_LIMIT_MS = 2_000;

/**
 * Exits once every logged line is written, in order. A bare `process.exit` runs pino's exit hook,
 * which writes the buffered lines synchronously; a batch already handed to the thread pool can
 * then land after them, so a log read top to bottom would show the last lines out of order.
 */
export function exitWhenLogged(logger: Logger, code: number): void {
  const exit = () => process.exit(code);
  setTimeout(exit, EXIT_FLUSH_LIMIT_MS);
  logger.flush(exit);
}
