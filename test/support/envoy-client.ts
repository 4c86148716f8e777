/**
 * A client that talks to Palisade the way Envoy does: built from Envoy's own protos (vendored by
 * @grpc/grpc-js-xds), not ours, so integration tests also prove wire compatibility.
 */
import * as grpc from "@grpc/grpc-js";
import { upstreamGrpc } from "../contract/upstream.js";

export interface CheckInput {
  method?: string;
  path?: string;
  /** Client address as the last X-Forwarded-For hop (the example policy trusts 0 hops). */
  ip?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Event time, ms since the epoch. */
  timeMs?: number;
  requestId?: string;
  /** Replace the whole attribute context (bad-input tests). */
  rawRequest?: Record<string, unknown>;
}

export interface EnvoyCheckResponse {
  status: { code: number };
  ok_response?: { headers: HeaderOption[]; headers_to_remove: string[] };
  denied_response?: { status: { code: string | number }; headers: HeaderOption[]; body: string };
  dynamic_metadata?: { fields: Record<string, { stringValue?: string; numberValue?: number; listValue?: { values: { stringValue?: string }[] }; boolValue?: boolean }> };
}

interface HeaderOption {
  header: { key: string; value: string };
}

type AuthorizationClient = grpc.Client & {
  Check(request: object, callback: (error: grpc.ServiceError | null, response: EnvoyCheckResponse) => void): void;
};

export interface EnvoyAuthzClient {
  check(input: CheckInput): Promise<EnvoyCheckResponse>;
  close(): void;
}

/** `options` are grpc-js channel options: `{ "grpc.use_local_subchannel_pool": 1 }` gives the client a connection of its own. */
export function envoyAuthzClient(address: string, options?: grpc.ChannelOptions): EnvoyAuthzClient {
  const Authorization = (upstreamGrpc() as any).envoy.service.auth.v3.Authorization as grpc.ServiceClientConstructor;
  const client = new Authorization(address, grpc.credentials.createInsecure(), options) as unknown as AuthorizationClient;
  return {
    check: (input) =>
      new Promise((resolve, reject) =>
        client.Check(input.rawRequest ?? checkRequest(input), (error, response) => (error ? reject(error) : resolve(response))),
      ),
    close: () => client.close(),
  };
}

export function checkRequest(input: CheckInput): object {
  const headers: Record<string, string> = { ...(input.headers ?? {}) };
  if (input.ip) headers["x-forwarded-for"] = input.ip;
  const timeMs = input.timeMs ?? Date.now();
  const body = input.body === undefined ? undefined : Buffer.from(input.body);
  return {
    attributes: {
      source: { address: { socket_address: { address: "10.0.0.7", port_value: 40000 } } },
      request: {
        time: { seconds: Math.floor(timeMs / 1000), nanos: (timeMs % 1000) * 1e6 },
        http: {
          id: input.requestId ?? `req-${Math.random().toString(36).slice(2)}`,
          method: input.method ?? "GET",
          path: input.path ?? "/",
          host: "shop.example",
          scheme: "https",
          protocol: "HTTP/1.1",
          headers,
          raw_body: body,
          size: body?.length ?? 0,
        },
      },
    },
  };
}

/** Header value by name from an OK or denied response, lower-case names. */
export function header(response: EnvoyCheckResponse, name: string): string | undefined {
  const options = response.ok_response?.headers ?? response.denied_response?.headers ?? [];
  return options.find((option) => option.header.key === name)?.header.value;
}

/** dynamic_metadata as plain values, read through Envoy's own Struct definition. */
export function metadata(response: EnvoyCheckResponse): Record<string, unknown> {
  const fields = response.dynamic_metadata?.fields ?? {};
  return Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [
      key,
      value.listValue ? value.listValue.values.map((v) => v.stringValue) : (value.stringValue ?? value.numberValue ?? value.boolValue),
    ]),
  );
}

export function httpStatus(response: EnvoyCheckResponse): number | undefined {
  const code = response.denied_response?.status.code;
  if (code === undefined) return undefined;
  return typeof code === "number" ? code : Number(code) || HTTP_CODE_NAMES[code];
}

/** Envoy's envoy.type.v3.StatusCode enum names for the codes Palisade answers with. */
const HTTP_CODE_NAMES: Record<string, number> = {
  Unauthorized: 401,
  Forbidden: 403,
  TooManyRequests: 429,
  ServiceUnavailable: 503,
};

type AccessLogClient = grpc.Client & {
  StreamAccessLogs(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<object>;
};

/** One entry as Envoy's gRPC access logger would send it after a Check. */
export interface LoggedRequest {
  requestId: string;
  method: string;
  path: string;
  ip: string;
  status: number;
  timeMs?: number;
  responseHeaders?: Record<string, string>;
  /** The Check's dynamic metadata, which Envoy copies into the entry. */
  authzMetadata?: EnvoyCheckResponse["dynamic_metadata"];
  deniedByAuthz?: boolean;
}

export interface EnvoyAccessLogClient {
  /** Streams the entries in one message and resolves once the server has processed them. */
  send(entries: LoggedRequest[]): Promise<void>;
  /**
   * Sends the entries and keeps the stream open, as Envoy does; resolves with the gRPC status
   * code once the server ends the stream.
   */
  keepOpen(entries: LoggedRequest[]): Promise<number>;
  close(): void;
}

export function envoyAccessLogClient(address: string): EnvoyAccessLogClient {
  const Service = (upstreamGrpc() as any).envoy.service.accesslog.v3.AccessLogService as grpc.ServiceClientConstructor;
  const client = new Service(address, grpc.credentials.createInsecure()) as unknown as AccessLogClient;
  const write = (stream: grpc.ClientWritableStream<object>, entries: LoggedRequest[]) =>
    stream.write({
      identifier: { log_name: "palisade-test", node: { id: "envoy-test" } },
      http_logs: { log_entry: entries.map(accessLogEntry) },
    });
  return {
    send: (entries) =>
      new Promise((resolve, reject) => {
        const stream = client.StreamAccessLogs((error) => (error ? reject(error) : resolve()));
        write(stream, entries);
        stream.end();
      }),
    keepOpen: (entries) =>
      new Promise((resolve) => {
        const stream = client.StreamAccessLogs((error) => resolve(error ? error.code : grpc.status.OK));
        write(stream, entries);
      }),
    close: () => client.close(),
  };
}

function accessLogEntry(entry: LoggedRequest): object {
  const timeMs = entry.timeMs ?? Date.now();
  return {
    common_properties: {
      downstream_remote_address: { socket_address: { address: entry.ip, port_value: 50000 } },
      start_time: { seconds: Math.floor(timeMs / 1000), nanos: (timeMs % 1000) * 1e6 },
      response_flags: entry.deniedByAuthz ? { unauthorized_details: { reason: "EXTERNAL_SERVICE" } } : {},
      metadata: entry.authzMetadata ? { filter_metadata: { "envoy.filters.http.ext_authz": entry.authzMetadata } } : undefined,
    },
    protocol_version: "HTTP11",
    request: { request_method: entry.method, path: entry.path, request_id: entry.requestId },
    response: { response_code: { value: entry.status }, response_headers: entry.responseHeaders ?? {} },
  };
}
