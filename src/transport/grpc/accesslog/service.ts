import type { OutcomeRecorder } from "../../../domain/access-log.js";
import type { AccessLogImplementation, StreamAccessLogsMessage } from "../protos.js";
import { SpanKind, parentContext, withSpan } from "../../../telemetry/tracing.js";
import { metadataCarrier } from "../trace-carriers.js";
import { toAccessLogRecord } from "./converter.js";
import { nextTurn } from "../../../domain/next-turn.js";

export interface AccessLogDependencies {
  outcomes: OutcomeRecorder;
  /** Counts entries by result: recorded, or the reason one was dropped. */
  onEntry: (result: "recorded" | "malformed" | "error") => void;
  onStreamError: (error: unknown) => void;
}

export interface AccessLogService extends AccessLogImplementation {
  /**
   * Ends every open stream once the entries received so far are recorded. Envoy keeps one
   * stream open for as long as it runs, so a shutdown that waited for Envoy to close it would
   * always wait the whole grace period; Envoy reconnects to another replica.
   */
  endStreams(): void;
}

/**
 * envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs: Envoy streams entries and
 * expects nothing back until it closes the stream. A bad entry is counted and skipped; it never
 * ends the stream, which would make Envoy drop the entries buffered behind it.
 */
export function createAccessLogService(deps: AccessLogDependencies): AccessLogService {
  const open = new Set<() => void>();
  let ending = false;
  return {
    StreamAccessLogs(call, callback) {
      const pending = new Set<Promise<void>>();
      let answered = false;
      const finish = () => {
        open.delete(finish);
        void Promise.allSettled([...pending]).then(() => {
          if (answered) return;
          answered = true;
          callback(null, {});
        });
      };
      open.add(finish);
      const parent = parentContext([metadataCarrier(call.metadata)]);
      call.on("data", (message: StreamAccessLogsMessage) => {
        const entries = message?.http_logs?.log_entry ?? [];
        if (entries.length === 0) return;
        // One span per batch Envoy flushes, its entries recorded inside it (their store calls
        // become its children); the count only, never an entry's addresses or users.
        const work = withSpan("palisade.accesslog.batch", { "palisade.accesslog.entries": entries.length }, () => recordAll(deps, entries), {
          parent,
          kind: SpanKind.CONSUMER,
        }).finally(() => pending.delete(work));
        pending.add(work);
      });
      call.on("error", (error) => {
        open.delete(finish);
        deps.onStreamError(error);
      });
      call.on("end", finish);
      if (ending) finish();
    },
    endStreams() {
      ending = true;
      for (const finish of [...open]) finish();
    },
  };
}

/**
 * Entries recorded per turn of the event loop. Envoy flushes whatever its buffer holds (16 KiB by
 * default, more when configured), and one message of 2,000 entries recorded at once kept the loop
 * from every Check for 60–90 ms of CPU (bench/access-log-burst.ts); in slices, Checks that arrive
 * meanwhile are served between them, and at most this many entries' store calls are in flight.
 */
export const ENTRIES_PER_TURN = 64;

async function recordAll(deps: AccessLogDependencies, entries: readonly unknown[]): Promise<void> {
  for (let from = 0; from < entries.length; from += ENTRIES_PER_TURN) {
    if (from > 0) await nextTurn();
    await Promise.all(entries.slice(from, from + ENTRIES_PER_TURN).map((entry) => record(deps, entry)));
  }
}

async function record(deps: AccessLogDependencies, entry: unknown): Promise<void> {
  try {
    if (entry === null || typeof entry !== "object") return deps.onEntry("malformed");
    await deps.outcomes.record(toAccessLogRecord(entry));
    deps.onEntry("recorded");
  } catch {
    deps.onEntry("error");
  }
}
