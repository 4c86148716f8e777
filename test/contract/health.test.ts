/**
 * grpc.health.v1 contract. node_modules has no upstream health.proto, so the wire form is
 * checked against the protocol's fixed encoding, and the behaviour over a real connection.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHealthService, type HealthStatus } from "../../src/transport/grpc/health.js";
import { palisadeServices, type HealthCheckResponse } from "../../src/transport/grpc/protos.js";
import { startServer, type RunningServer } from "./upstream.js";

describe("health wire form", () => {
  const { definition } = palisadeServices().health;

  it("encodes HealthCheckRequest.service as field 1 and ServingStatus values as upstream", () => {
    expect(definition.Check.requestSerialize({ service: "x" }).toString("hex")).toBe("0a0178");
    for (const [status, number] of [["SERVING", 1], ["NOT_SERVING", 2], ["SERVICE_UNKNOWN", 3]] as const) {
      const bytes = definition.Check.responseSerialize({ status });
      expect(bytes.toString("hex")).toBe(`08${number.toString(16).padStart(2, "0")}`);
      expect(definition.Watch.responseDeserialize(bytes)).toEqual({ status });
    }
    expect(definition.Check.responseDeserialize(Buffer.alloc(0))).toEqual({ status: "UNKNOWN" });
  });
});

describe("Health over gRPC", () => {
  const statuses = new Map<string, HealthStatus>([
    ["", "SERVING"],
    ["envoy.service.auth.v3.Authorization", "SERVING"],
  ]);
  const health = createHealthService((service) => statuses.get(service) ?? "SERVICE_UNKNOWN");
  let server: RunningServer;
  let client: grpc.Client & Record<string, (...args: never[]) => unknown>;

  beforeAll(async () => {
    server = await startServer((s) => s.addService(palisadeServices().health.definition, health.implementation));
    const Client = palisadeServices().health.Client;
    client = new Client(server.address, grpc.credentials.createInsecure()) as typeof client;
  });

  afterAll(async () => {
    health.close();
    client?.close();
    await server?.stop();
  });

  const check = (service: string) =>
    new Promise<HealthCheckResponse>((resolve, reject) => {
      const unary = client.Check as unknown as (r: object, cb: (e: grpc.ServiceError | null, v?: HealthCheckResponse) => void) => void;
      unary.call(client, { service }, (error, value) => (error ? reject(error) : resolve(value ?? {})));
    });

  it("Check answers the current status", async () => {
    await expect(check("")).resolves.toEqual({ status: "SERVING" });
    statuses.set("", "NOT_SERVING");
    await expect(check("")).resolves.toEqual({ status: "NOT_SERVING" });
    statuses.set("", "SERVING");
  });

  it("Check answers NOT_FOUND for an unknown service", async () => {
    await expect(check("no.such.Service")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("Watch streams the current status, then each change on notify(), until close()", async () => {
    const stream = (client.Watch as unknown as (r: object) => grpc.ClientReadableStream<HealthCheckResponse>).call(client, {
      service: "envoy.service.auth.v3.Authorization",
    });
    const unknown = (client.Watch as unknown as (r: object) => grpc.ClientReadableStream<HealthCheckResponse>).call(client, {
      service: "later.Service",
    });
    const received: string[] = [];
    const unknownReceived: string[] = [];
    stream.on("data", (message: HealthCheckResponse) => received.push(String(message.status ?? "")));
    unknown.on("data", (message: HealthCheckResponse) => unknownReceived.push(String(message.status ?? "")));
    const ended = Promise.all([new Promise((resolve) => stream.on("end", resolve)), new Promise((resolve) => unknown.on("end", resolve))]);

    await waitFor(() => received.length === 1 && unknownReceived.length === 1);
    health.notify(); // unchanged: nothing is sent
    statuses.set("envoy.service.auth.v3.Authorization", "NOT_SERVING");
    statuses.set("later.Service", "SERVING");
    health.notify();
    await waitFor(() => received.length === 2 && unknownReceived.length === 2);
    health.close();
    await ended;

    expect(received).toEqual(["SERVING", "NOT_SERVING"]);
    expect(unknownReceived).toEqual(["SERVICE_UNKNOWN", "SERVING"]);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for condition");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
