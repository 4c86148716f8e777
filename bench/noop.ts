import * as grpc from "@grpc/grpc-js";
import { upstreamGrpc } from "../test/contract/upstream.js";
import { startServer, type RunningServer } from "../test/contract/upstream.js";
import { palisadeServices, type AuthorizationImplementation, type RateLimitImplementation } from "../src/transport/grpc/protos.js";

/**
 * The baseline: grpc-js Authorization and RateLimitService servers on the same protos that
 * allow everything at once, one OK status per descriptor as the protocol requires.
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
  });
}

type CheckClient = grpc.Client & { Check(request: object, callback: (error: grpc.ServiceError | null) => void): void };

/** A client built from Envoy's own protos, as Envoy would call. */
export function upstreamAuthzClient(address: string) {
  const Authorization = (upstreamGrpc() as any).envoy.service.auth.v3.Authorization as grpc.ServiceClientConstructor;
  const client = new Authorization(address, grpc.credentials.createInsecure()) as unknown as CheckClient;
  return {
    check: (request: object) => new Promise<void>((resolve, reject) => client.Check(request, (error) => (error ? reject(error) : resolve()))),
    /** Connects the channel without a call, so a first Check's latency is not the TCP and HTTP/2 set-up. */
    connect: () => new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve()))),
    close: () => client.close(),
  };
}
