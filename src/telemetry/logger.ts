import { hostname } from "node:os";
import { pino } from "pino";
import { redactSensitive } from "./redact.js";

/** The logger every module receives: pino's, so child loggers and levels work as usual. */
export type Logger = pino.Logger;

export interface LoggerOptions {
  /** pino level name; `info` when absent. */
  level?: string;
  /** Where JSON lines go; synchronous stdout when absent (tests pass an in-memory stream). */
  destination?: pino.DestinationStream;
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
  // pino's default destination is synchronous stdout: no lines lost when the process dies.
  return redactChildBindings(options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions));
}
