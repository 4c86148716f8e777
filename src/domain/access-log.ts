/**
 * What Envoy's access log (or an identity provider) says happened to a request after the
 * decision: the upstream's answer. Transport-agnostic, like HttpAttributes: the gRPC
 * access-log adapter fills it from an HTTPAccessLogEntry, replay fills it from recorded traffic.
 */
export interface AccessLogRecord {
  /** Envoy's x-request-id: equals the CheckRequest's request.http.id, joining the two. */
  requestId?: string;
  /** Event time (the entry's start_time), ms since the epoch. */
  timeMs?: number;
  method?: string;
  path?: string;
  /** HTTP status the client received. */
  statusCode?: number;
  /** Response headers Envoy logged (lower-case names). */
  responseHeaders: Map<string, string>;
  /** Downstream remote address as Envoy saw it. */
  clientAddress?: string;
  /** Envoy's response flags say ext_authz denied it (UAEX): the application never saw it. */
  deniedByAuthz?: boolean;
  /** The ext_authz dynamic metadata Envoy copied into the entry (decision_id, subject, …). */
  authzMetadata: Map<string, string | number | boolean>;
}

/** Where access-log records go to become login outcomes and learned baselines. */
export interface OutcomeRecorder {
  record(entry: AccessLogRecord): Promise<void>;
}
