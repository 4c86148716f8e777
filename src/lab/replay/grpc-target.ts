import * as grpc from "@grpc/grpc-js";
import { palisadeServices, type CheckRequest, type CheckResponse, type HTTPAccessLogEntry, type StreamAccessLogsMessage } from "../../transport/grpc/protos.js";
import { verdictOf, type ReplayTarget } from "./target.js";

type CheckClient = grpc.Client & {
  Check(request: CheckRequest, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: CheckResponse) => void): void;
};
type AccessLogClient = grpc.Client & {
  StreamAccessLogs(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<StreamAccessLogsMessage>;
};

const CHECK_DEADLINE_MS = 5_000;

/**
 * Replays against a running Palisade as Envoy would talk to it: unary Check calls, and the
 * access-log entries on one StreamAccessLogs stream. Checks go one at a time, so counters see
 * the traffic in its order. Start the server with --trust-event-time, or it replaces the
 * events' old timestamps by its own clock.
 */
export interface GrpcTargetOptions {
  /**
   * Send each access-log entry on a stream of its own and wait until the server has recorded
   * it. Envoy streams entries without waiting, so a Check may overtake the outcome before it;
   * settled, the server sees events in the order offline replay does (for comparing the two).
   */
  settleOutcomes?: boolean;
}

export function grpcTarget(address: string, options: GrpcTargetOptions = {}): ReplayTarget {
  const services = palisadeServices();
  const credentials = grpc.credentials.createInsecure();
  const authz = new services.authorization.Client(address, credentials) as unknown as CheckClient;
  const logClient = new services.accessLog.Client(address, credentials) as unknown as AccessLogClient;
  const logs = options.settleOutcomes ? settledLogs(logClient) : accessLogStream(logClient);
  return {
    name: `gRPC ${address}`,
    check: (request) =>
      new Promise((resolve, reject) =>
        authz.Check(request, { deadline: Date.now() + CHECK_DEADLINE_MS }, (error, response) =>
          error ? reject(new Error(`Check to ${address} failed: ${error.message}`)) : resolve(verdictOf(response)),
        ),
      ),
    log: (entry) => logs.send(entry),
    async close() {
      const notes = await logs.finish();
      authz.close();
      return notes;
    },
  };
}

/**
 * One client stream for the whole run; the node identifier goes in the first message only, as
 * Envoy does. A server without the access-log service answers UNIMPLEMENTED: entries are then
 * counted, not sent, and the run goes on.
 */
function accessLogStream(client: AccessLogClient) {
  let failure: grpc.ServiceError | undefined;
  let sent = 0;
  let unsent = 0;
  let stream!: grpc.ClientWritableStream<StreamAccessLogsMessage>;
  const done = new Promise<void>((resolve) => {
    stream = client.StreamAccessLogs((error) => {
      failure = error ?? undefined;
      resolve();
    });
  });
  stream.on("error", () => undefined); // reported through the callback
  return {
    async send(entry: HTTPAccessLogEntry): Promise<void> {
      if (failure) {
        unsent++;
        return;
      }
      const message: StreamAccessLogsMessage = { http_logs: { log_entry: [entry] } };
      if (sent === 0) message.identifier = { node: { id: "palisade-replay", cluster: "palisade-lab" }, log_name: "replay" };
      stream.write(message);
      sent++;
    },
    async finish(): Promise<string[]> {
      stream.end();
      await done;
      client.close();
      if (!failure) return [];
      const what = failure.code === grpc.status.UNIMPLEMENTED ? "the server does not implement StreamAccessLogs" : `StreamAccessLogs failed: ${failure.message}`;
      return [`${what}; ${sent + unsent} access-log entries were not recorded by the server (its outcome signals saw none)`];
    },
  };
}

/** One stream per entry, awaited: the server answers a stream once it has recorded what came on it. */
function settledLogs(client: AccessLogClient) {
  return {
    send: (entry: HTTPAccessLogEntry) =>
      new Promise<void>((resolve, reject) => {
        const stream = client.StreamAccessLogs((error) => (error ? reject(new Error(`StreamAccessLogs failed: ${error.message}`)) : resolve()));
        stream.on("error", () => undefined); // reported through the callback
        stream.write({ identifier: { node: { id: "palisade-replay", cluster: "palisade-lab" }, log_name: "replay" }, http_logs: { log_entry: [entry] } });
        stream.end();
      }),
    async finish(): Promise<string[]> {
      client.close();
      return [];
    },
  };
}
