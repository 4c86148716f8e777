import type { AccessLogRecord } from "../../pipeline/outcome.js";
import { fromStruct, timestampToMs, type HTTPAccessLogEntry } from "../../transport/grpc/protos.js";

/**
 * HTTPAccessLogEntry → AccessLogRecord, for the OutcomeRecorder replay drives. Stop-gap: the
 * access-log service of issue 4 brings the one transport mapping
 * (transport/grpc/accesslog/converter.ts); when it lands, import it here and delete this.
 */
export function accessLogRecordOf(entry: HTTPAccessLogEntry): AccessLogRecord {
  const common = entry.common_properties ?? undefined;
  const status = Number(entry.response?.response_code?.value);
  const metadata = fromStruct(common?.metadata?.filter_metadata?.["envoy.filters.http.ext_authz"]);
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  return {
    requestId: text(entry.request?.request_id),
    timeMs: timestampToMs(common?.start_time),
    method: text(entry.request?.request_method),
    path: text(entry.request?.path),
    statusCode: Number.isInteger(status) && status > 0 ? status : undefined,
    responseHeaders: new Map(Object.entries(entry.response?.response_headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    clientAddress: text(common?.downstream_remote_address?.socket_address?.address),
    authzMetadata: new Map(
      Object.entries(metadata).filter((pair): pair is [string, string | number | boolean] => ["string", "number", "boolean"].includes(typeof pair[1])),
    ),
  };
}
