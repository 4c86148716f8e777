/**
 * A rate-limit client that talks to Palisade the way Envoy's rate-limit filter does: built from
 * Envoy's own protos (vendored by @grpc/grpc-js-xds), so integration tests also prove wire
 * compatibility. `ours: true` builds it from Palisade's protos instead, for the per-descriptor
 * hits_addend that the vendored API snapshot predates.
 */
import * as grpc from "@grpc/grpc-js";
import { palisadeServices } from "../../src/transport/grpc/protos.js";
import { upstreamGrpc } from "../contract/upstream.js";

export interface EnvoyDescriptor {
  entries: { key: string; value: string }[];
  limit?: { requests_per_unit: number; unit: string };
  hits_addend?: { value: number };
}

export interface EnvoyRateLimitRequest {
  domain: string;
  descriptors: EnvoyDescriptor[];
  hits_addend?: number;
}

export interface EnvoyDescriptorStatus {
  code: string;
  current_limit: { name: string; requests_per_unit: number; unit: string } | null;
  limit_remaining: number;
  duration_until_reset: { seconds: number; nanos: number } | null;
}

export interface EnvoyRateLimitResponse {
  overall_code: string;
  statuses: EnvoyDescriptorStatus[];
  response_headers_to_add: { key: string; value: string }[];
  dynamic_metadata: { fields: Record<string, { numberValue?: number; stringValue?: string; boolValue?: boolean }> } | null;
}

type RateLimitClient = grpc.Client & {
  ShouldRateLimit(request: object, callback: (error: grpc.ServiceError | null, response: EnvoyRateLimitResponse) => void): void;
};

export interface EnvoyRateLimiter {
  shouldRateLimit(request: EnvoyRateLimitRequest): Promise<EnvoyRateLimitResponse>;
  close(): void;
}

export function envoyRateLimitClient(address: string, options: { ours?: boolean } = {}): EnvoyRateLimiter {
  const Service = options.ours
    ? palisadeServices().rateLimit.Client
    : ((upstreamGrpc() as any).envoy.service.ratelimit.v3.RateLimitService as grpc.ServiceClientConstructor);
  const client = new Service(address, grpc.credentials.createInsecure()) as unknown as RateLimitClient;
  return {
    shouldRateLimit: (request) =>
      new Promise((resolve, reject) => client.ShouldRateLimit(request, (error, response) => (error ? reject(error) : resolve(response)))),
    close: () => client.close(),
  };
}

/** A descriptor from key/value pairs. */
export function descriptor(...pairs: [string, string][]): EnvoyDescriptor {
  return { entries: pairs.map(([key, value]) => ({ key, value })) };
}

/** A response header by name. */
export function responseHeader(response: EnvoyRateLimitResponse, name: string): string | undefined {
  return response.response_headers_to_add.find((header) => header.key === name)?.value;
}

/** dynamic_metadata as plain values, read through Envoy's own Struct definition. */
export function rateLimitMetadata(response: EnvoyRateLimitResponse): Record<string, unknown> {
  const fields = response.dynamic_metadata?.fields ?? {};
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, value.stringValue ?? value.numberValue ?? value.boolValue]));
}
