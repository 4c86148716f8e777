/** gRPC access-log service (ALS) wire contract against Envoy's protos. */
import { describe, expect, it } from "vitest";
import { durationToMs, fromStruct, timestampToMs, type StreamAccessLogsMessage } from "../../src/transport/grpc/protos.js";
import { codecs } from "./upstream.js";

const als = codecs("envoy.service.accesslog.v3.AccessLogService", "StreamAccessLogs");

const address = (ip: string, port: number) => ({ socket_address: { protocol: "TCP", address: ip, port_value: port } });

/** The first message of a stream, as Envoy's HTTP gRPC access logger sends it. */
const envoyHttpLogs = {
  identifier: { node: { id: "envoy-7f9", cluster: "edge", locality: { region: "eu-west-1", zone: "a", sub_zone: "" } }, log_name: "palisade" },
  http_logs: {
    log_entry: [
      {
        common_properties: {
          sample_rate: 1,
          downstream_remote_address: address("203.0.113.7", 51234),
          downstream_local_address: address("10.0.0.2", 443),
          downstream_direct_remote_address: address("10.1.0.9", 40000),
          start_time: { seconds: 1_700_000_123, nanos: 456_000_000 },
          time_to_last_rx_byte: { seconds: 0, nanos: 1_000_000 },
          time_to_first_upstream_tx_byte: { seconds: 0, nanos: 2_000_000 },
          time_to_last_upstream_tx_byte: { seconds: 0, nanos: 3_000_000 },
          time_to_first_upstream_rx_byte: { seconds: 0, nanos: 40_000_000 },
          time_to_last_upstream_rx_byte: { seconds: 0, nanos: 41_000_000 },
          time_to_first_downstream_tx_byte: { seconds: 0, nanos: 42_000_000 },
          time_to_last_downstream_tx_byte: { seconds: 0, nanos: 43_000_000 },
          upstream_remote_address: address("10.2.0.3", 8080),
          upstream_local_address: address("10.0.0.2", 50000),
          upstream_cluster: "accounts",
          response_flags: { rate_limited: false, unauthorized_details: { reason: "EXTERNAL_SERVICE" }, upstream_request_timeout: true },
          metadata: {
            filter_metadata: {
              "envoy.filters.http.ext_authz": {
                fields: {
                  action: { stringValue: "allow", kind: "stringValue" },
                  risk: { numberValue: 12, kind: "numberValue" },
                },
              },
            },
          },
          upstream_transport_failure_reason: "",
          route_name: "login",
          duration: { seconds: 0, nanos: 43_500_000 },
          upstream_request_attempt_count: 1,
          connection_termination_details: "",
          stream_id: "s-1",
          downstream_transport_failure_reason: "",
          access_log_type: "DownstreamEnd",
        },
        protocol_version: "HTTP2",
        request: {
          request_method: "POST",
          scheme: "https",
          authority: "api.example",
          port: { value: 443 },
          path: "/login?next=%2F",
          user_agent: "curl/8.5",
          referer: "https://app.example/",
          forwarded_for: "203.0.113.7",
          request_id: "8f3c-req",
          original_path: "/v1/login",
          request_headers_bytes: 512,
          request_body_bytes: 41,
          request_headers: { "x-palisade-decision-id": "01J-decision" },
        },
        response: {
          response_code: { value: 401 },
          response_headers_bytes: 128,
          response_body_bytes: 64,
          response_headers: { "content-type": "application/json" },
          response_trailers: { "grpc-status": "0" },
          response_code_details: "via_upstream",
        },
      },
    ],
  },
};

describe("StreamAccessLogsMessage", () => {
  it("decodes HTTP log entries Envoy sends", () => {
    const decoded = als.ours.request.decode(als.upstream.request.encode(envoyHttpLogs)) as StreamAccessLogsMessage;
    expect(decoded).toMatchObject(envoyHttpLogs);
    expect(decoded.log_entries).toBe("http_logs");
    const entry = decoded.http_logs?.log_entry?.[0];
    expect(timestampToMs(entry?.common_properties?.start_time)).toBe(1_700_000_123_456);
    expect(durationToMs(entry?.common_properties?.time_to_last_downstream_tx_byte)).toBe(43);
    expect(fromStruct(entry?.common_properties?.metadata?.filter_metadata?.["envoy.filters.http.ext_authz"])).toEqual({
      action: "allow",
      risk: 12,
    });
  });

  it("encodes what Envoy's protos decode (replay and test clients)", () => {
    expect(als.upstream.request.decode(als.ours.request.encode(envoyHttpLogs))).toMatchObject(envoyHttpLogs);
  });

  it("decodes TCP log entries and later messages without an identifier", () => {
    const tcp = {
      tcp_logs: {
        log_entry: [
          {
            common_properties: { start_time: { seconds: 1_700_000_000, nanos: 0 }, downstream_remote_address: address("198.51.100.4", 1234) },
            connection_properties: { received_bytes: 1024, sent_bytes: 2048 },
          },
        ],
      },
    };
    const decoded = als.ours.request.decode(als.upstream.request.encode(tcp)) as StreamAccessLogsMessage;
    expect(decoded).toMatchObject(tcp);
    expect(decoded.identifier).toBeNull();
    expect(decoded.log_entries).toBe("tcp_logs");
  });

  it("answers with an empty StreamAccessLogsResponse", () => {
    expect(als.ours.response.encode({}).length).toBe(0);
    expect(als.upstream.response.decode(als.ours.response.encode({}))).toEqual({});
  });
});
