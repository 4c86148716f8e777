import * as grpc from "@grpc/grpc-js";
import { upstreamGrpc } from "../test/contract/upstream.js";
import type { EnvoyCheckResponse } from "../test/support/envoy-client.js";
import { startServer, type RunningServer } from "../test/contract/upstream.js";
import { createHealthService } from "../src/transport/grpc/health.js";
import { palisadeServices, type AuthorizationImplementation, type RateLimitImplementation } from "../src/transport/grpc/protos.js";

/**
 * The baseline: grpc-js Authorization and RateLimitService servers on the same protos that
 * allow everything at once, one OK status per descriptor as the protocol requires; gRPC health
 * too, which the bench calls before a first timed call as it does on Palisade.
 */
export function startNoopServices(): Promise<RunningServer> {
  const authorization: AuthorizationImplementation = {
    Check: (_call, callback) => callback(null, { status: { code: 0 }, ok_response: {} }),
  };
  const rateLimit: RateLimitImplementation = {
    ShouldRateLimit: (call, callback) =>
      callback(null, { overall_code: "OK", statuses: (call.request.descriptors ?? []).map(() => ({ code: "OK" })) }),
  };
  return startServer((server) => {
    server.addService(palisadeServices().authorization.definition, authorization);
    server.addService(palisadeServices().rateLimit.definition, rateLimit);
    server.addService(palisadeServices().health.definition, createHealthService(() => "SERVING").implementation);
  });
}

type CheckClient = grpc.Client & { Check(request: object, callback: (error: grpc.ServiceError | null, response: EnvoyCheckResponse) => void): void };

/**
 * One gRPC health call on `client`'s own channel. A first call on a fresh grpc-js channel costs
 * the load generator about 1 ms more CPU than later ones (bench/first-check-split.ts); Envoy has
 * no such cost, so a first call timed as Envoy's would be goes on a channel that carried this.
 */
export function healthCall(client: grpc.Client): Promise<void> {
  const { Check } = palisadeServices().health.definition;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(Check.path, Check.requestSerialize, Check.responseDeserialize, { service: "" }, (error) => (error ? reject(error) : resolve())),
  );
}

/** A client built from Envoy's own protos, as Envoy would call. */
export function upstreamAuthzClient(address: string) {
  const Authorization = (upstreamGrpc() as any).envoy.service.auth.v3.Authorization as grpc.ServiceClientConstructor;
  const client = new Authorization(address, grpc.credentials.createInsecure()) as unknown as CheckClient;
  return {
    check: (request: object) => new Promise<EnvoyCheckResponse>((resolve, reject) => client.Check(request, (error, response) => (error ? reject(error) : resolve(response)))),
    /** Connects the channel without a call, so a first Check's latency is not the TCP and HTTP/2 set-up. */
    connect: () => new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve()))),
    /** A gRPC health call on this client's channel (see healthCall). */
    health: () => healthCall(client),
    close: () => client.close(),
  };
}
