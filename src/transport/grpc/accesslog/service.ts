import type { OutcomeRecorder } from "../../../domain/access-log.js";
import type { AccessLogImplementation, StreamAccessLogsMessage } from "../protos.js";
import { toAccessLogRecord } from "./converter.js";

export interface AccessLogDependencies {
  outcomes: OutcomeRecorder;
  /** Counts entries by result: recorded, or the reason one was dropped. */
  onEntry: (result: "recorded" | "malformed" | "error") => void;
  onStreamError: (error: unknown) => void;
}

/**
 * envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs: Envoy streams entries and
 * expects nothing back until it closes the stream. A bad entry is counted and skipped; it never
 * ends the stream, which would make Envoy drop the entries buffered behind it.
 */
export function createAccessLogService(deps: AccessLogDependencies): AccessLogImplementation {
  return {
    StreamAccessLogs(call, callback) {
      const pending = new Set<Promise<void>>();
      call.on("data", (message: StreamAccessLogsMessage) => {
        for (const entry of message?.http_logs?.log_entry ?? []) {
          const work = record(deps, entry).finally(() => pending.delete(work));
          pending.add(work);
        }
      });
      call.on("error", (error) => deps.onStreamError(error));
      call.on("end", () => {
        void Promise.allSettled([...pending]).then(() => callback(null, {}));
      });
    },
  };
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
