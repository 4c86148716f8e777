import * as grpc from "@grpc/grpc-js";
import { palisadeServices, type CheckRequest, type CheckResponse } from "./protos.js";

/**
 * A client of Palisade's own Authorization service over a loopback connection: what warm-up
 * (src/app/warm-up.ts) sends its Checks through, so that grpc-js's server path, Node's HTTP/2
 * streams and the service's encoding run before the first real Check, not on it.
 */
export interface LoopbackAuthzClient {
  check(request: CheckRequest, deadlineMs: number): Promise<CheckResponse>;
  close(): void;
}

export function loopbackAuthzClient(target: string): LoopbackAuthzClient {
  const { Client } = palisadeServices().authorization;
  // A subchannel of its own: never shared with a client the process may hold elsewhere.
  const client = new Client(target, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }) as unknown as grpc.Client & {
    Check(request: CheckRequest, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: CheckResponse) => void): void;
  };
  return {
    check: (request, deadlineMs) =>
      new Promise((resolve, reject) => client.Check(request, { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve(response)))),
    close: () => client.close(),
  };
}
