import * as grpc from "@grpc/grpc-js";
import { palisadeServices, type CheckRequest, type CheckResponse, type RateLimitRequest, type RateLimitResponse } from "./protos.js";

/**
 * A client of Palisade's own Authorization and RateLimitService over a loopback connection: what
 * warm-up (src/app/warm-up.ts) sends its calls through, so that grpc-js's server path, Node's
 * HTTP/2 streams and the services' encoding run before the first real call, not on it.
 */
export interface LoopbackClient {
  check(request: CheckRequest, deadlineMs: number): Promise<CheckResponse>;
  shouldRateLimit(request: RateLimitRequest, deadlineMs: number): Promise<RateLimitResponse>;
  close(): void;
}

export function loopbackClient(target: string): LoopbackClient {
  const { authorization, rateLimit } = palisadeServices();
  // A subchannel of its own: never shared with a client the process may hold elsewhere.
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const unary =
    <Request, Response>(method: grpc.MethodDefinition<Request, Response>) =>
    (request: Request, deadlineMs: number) =>
      new Promise<Response>((resolve, reject) =>
        client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, { deadline: Date.now() + deadlineMs }, (error, response) =>
          error || response === undefined ? reject(error ?? new Error(`${method.path}: no response`)) : resolve(response),
        ),
      );
  return {
    check: unary(authorization.definition.Check as grpc.MethodDefinition<CheckRequest, CheckResponse>),
    shouldRateLimit: unary(rateLimit.definition.ShouldRateLimit as grpc.MethodDefinition<RateLimitRequest, RateLimitResponse>),
    close: () => client.close(),
  };
}
