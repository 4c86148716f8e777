import * as grpc from "@grpc/grpc-js";
import type { HealthService } from "./health.js";
import type { AccessLogService } from "./accesslog/service.js";
import { withHandEncodedResponses } from "./ratelimit/response-encoder.js";
import { palisadeServices, type AuthorizationImplementation, type RateLimitImplementation } from "./protos.js";

export interface GrpcServerOptions {
  host: string;
  port: number;
  authorization: AuthorizationImplementation;
  accessLog: AccessLogService;
  /** envoy.service.ratelimit.v3 on the same port; not served when absent (no rate-limit configuration). */
  rateLimit?: RateLimitImplementation;
  health: HealthService;
}

export interface GrpcServer {
  /** Binds and starts; resolves to the bound port (useful with port 0). */
  listen(): Promise<number>;
  /** Stops accepting, lets in-flight calls finish for up to `graceMs`, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
}

/** Envoy keeps long-lived HTTP/2 connections; keepalive settings let it notice dead peers. */
const SERVER_OPTIONS: grpc.ServerOptions = {
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 20_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": 8 * 1024 * 1024,
  // Channelz (grpc-js' per-call bookkeeping for a channelz admin service, which Palisade does not
  // serve): on by default, it adds a tracker object, closures and Date.now() calls to every call.
  "grpc.enable_channelz": 0,
};

export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const server = new grpc.Server(SERVER_OPTIONS);
  const services = palisadeServices();
  server.addService(services.authorization.definition, options.authorization);
  server.addService(services.accessLog.definition, options.accessLog);
  if (options.rateLimit) server.addService(withHandEncodedResponses(services.rateLimit.definition), options.rateLimit);
  server.addService(services.health.definition, options.health.implementation);
  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.bindAsync(`${options.host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
          error ? reject(error) : resolve(port),
        );
      }),
    shutdown: (graceMs) =>
      new Promise((resolve) => {
        options.health.close();
        options.accessLog.endStreams();
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
