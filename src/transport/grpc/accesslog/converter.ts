import type { AccessLogRecord, CheckAttribution } from "../../../domain/access-log.js";
import type { EveryKey } from "../../../domain/every-key.js";
import { ACTIONS, type Action } from "../../../domain/decision.js";
import { METADATA_KEYS } from "../authz/metadata-keys.js";
import { fromStruct, timestampToMs, type HTTPAccessLogEntry } from "../protos.js";

/** Envoy puts the ext_authz filter's dynamic metadata under this filter name. */
export const EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz";

/**
 * The only protobuf → domain mapping for access logs. Every field may be missing or malformed
 * (a misconfigured logger, another Envoy version): absent fields stay absent, nothing throws.
 */
export function toAccessLogRecord(entry: HTTPAccessLogEntry | null | undefined): AccessLogRecord {
  const common = entry?.common_properties ?? undefined;
  const request = entry?.request ?? undefined;
  const response = entry?.response ?? undefined;
  const status = Number(response?.response_code?.value);
  const flags = common?.response_flags ?? undefined;
  return {
    requestId: text(request?.request_id),
    timeMs: timestampToMs(common?.start_time),
    method: text(request?.request_method),
    path: text(request?.path),
    statusCode: Number.isInteger(status) && status > 0 ? status : undefined,
    responseHeaders: lowerCaseMap(response?.response_headers),
    clientAddress: text(common?.downstream_remote_address?.socket_address?.address),
    deniedByAuthz: flags?.unauthorized_details != null,
    attribution: attributionOf(fromStruct(common?.metadata?.filter_metadata?.[EXT_AUTHZ_FILTER])),
  };
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function lowerCaseMap(headers: Record<string, string> | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) if (typeof value === "string") map.set(name.toLowerCase(), value);
  return map;
}

/** Palisade's own keys in the ext_authz metadata (see decisionMetadata); undefined when they are not there. */
function attributionOf(metadata: Record<string, unknown>): EveryKey<CheckAttribution> | undefined {
  const read = (key: string) => text(metadata[key]);
  const endpoint = read(METADATA_KEYS.endpoint);
  const action = read(METADATA_KEYS.action);
  if (!endpoint || !action || !ACTIONS.includes(action as Action)) return undefined;
  return {
    endpoint,
    action: action as Action,
    ipId: read(METADATA_KEYS.ipId),
    subnet: read(METADATA_KEYS.subnet),
    usernameId: read(METADATA_KEYS.usernameId),
    fingerprintId: read(METADATA_KEYS.fingerprintId),
    deviceId: read(METADATA_KEYS.deviceId),
    headerShape: read(METADATA_KEYS.headerShape),
    country: read(METADATA_KEYS.country),
    place: read(METADATA_KEYS.place),
  };
}
