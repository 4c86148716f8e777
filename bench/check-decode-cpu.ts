/**
 * CPU per CheckRequest decode, in process: protobufjs' deserializer (proto-loader's
 * `toObject(decode(bytes))`, what grpc-js called before) against the hand-written decoder
 * (src/transport/grpc/authz/check-request-decoder.ts), each alone and followed by
 * `toHttpAttributes`, on the bench's storefront requests as Envoy's protos encode them: as the
 * Check bench sends them ("bench"), and with what an Envoy behind TLS adds that Palisade does not
 * read (the destination peer, TLS session, query, size, a JWT filter's metadata) and a route's
 * metadata ("envoy").
 *
 *   npx tsx bench/check-decode-cpu.ts
 *
 * The four variants alternate for BENCH_ROUNDS rounds (default 5) of BENCH_CALLS decodes
 * (default 100,000) after a warm-up of the same size; prints one JSON line per request set and
 * round with CPU µs per decode (user + system time of the process, process.cpuUsage), then one
 * per request set with the bytes each decoder allocates per decode (V8's sampling heap
 * profiler, freed objects included, as bench/check-allocations.ts counts them).
 */
import { decodeCheckRequest } from "../src/transport/grpc/authz/check-request-decoder.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { loadPackageDefinition, type CheckRequest } from "../src/transport/grpc/protos.js";
import { codecs } from "../test/contract/upstream.js";
import { allocatedDuring } from "./heap-sampling.js";
import { storefrontRequest } from "./traffic.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const encode = codecs("envoy.service.auth.v3.Authorization", "Check").upstream.request.encode;
const struct = (fields: Record<string, string>) => ({ fields: Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, { stringValue: value }])) });
function behindEnvoy(request: { attributes: { request: { http: object } } }, i: number): object {
  const { attributes } = request;
  return {
    attributes: {
      ...attributes,
      destination: { address: { socket_address: { address: "10.0.0.5", port_value: 8443 } }, principal: "spiffe://cluster.local/ns/shop/sa/web" },
      request: { ...attributes.request, http: { ...attributes.request.http, query: `page=${i % 9}`, size: 512, scheme: "https", protocol: "HTTP/2" } },
      metadata_context: { filter_metadata: { "envoy.filters.http.jwt_authn": struct({ sub: `user-${i % 5000}`, iss: "https://id.example" }) } },
      route_metadata_context: { filter_metadata: { palisade: struct({ tier: "storefront" }) } },
      tls_session: { sni: "shop.example" },
    },
  };
}
const sets = {
  bench: Array.from({ length: 2_000 }, (_, i) => encode(storefrontRequest(i, Date.now()))),
  envoy: Array.from({ length: 2_000 }, (_, i) => encode(behindEnvoy(storefrontRequest(i, Date.now()) as never, i))),
};
const protobufjs = (loadPackageDefinition()["envoy.service.auth.v3.Authorization"] as Record<string, { requestDeserialize: (bytes: Buffer) => CheckRequest }>).Check!
  .requestDeserialize;

const variants: Record<string, (bytes: Buffer) => unknown> = {
  protobufjs,
  hand: decodeCheckRequest,
  "protobufjs+toHttpAttributes": (bytes) => toHttpAttributes(protobufjs(bytes)),
  "hand+toHttpAttributes": (bytes) => toHttpAttributes(decodeCheckRequest(bytes)),
};

let sink = 0;
function cpuMicrosPerCall(requests: Buffer[], decode: (bytes: Buffer) => unknown): number {
  const before = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) if (decode(requests[i % requests.length]!)) sink++;
  const used = process.cpuUsage(before);
  return Math.round(((used.user + used.system) / CALLS) * 100) / 100;
}

for (const requests of Object.values(sets)) for (const decode of Object.values(variants)) cpuMicrosPerCall(requests, decode);
for (let round = 1; round <= ROUNDS; round++) {
  for (const [set, requests] of Object.entries(sets)) {
    const bytes = Math.round(requests.reduce((sum, request) => sum + request.length, 0) / requests.length);
    const perCall = Object.fromEntries(Object.entries(variants).map(([name, decode]) => [name, cpuMicrosPerCall(requests, decode)]));
    process.stdout.write(`${JSON.stringify({ round, set, requestBytes: bytes, cpuMicrosPerDecode: perCall })}\n`);
  }
}

async function bytesPerCall(requests: Buffer[], decode: (bytes: Buffer) => unknown): Promise<number> {
  const { total } = await allocatedDuring(() => {
    for (let i = 0; i < CALLS; i++) if (decode(requests[i % requests.length]!)) sink++;
  }, 1_024);
  return Math.round(total / CALLS);
}
for (const [set, requests] of Object.entries(sets)) {
  const perCall: Record<string, number> = {};
  for (const name of ["protobufjs", "hand"]) perCall[name] = await bytesPerCall(requests, variants[name]!);
  process.stdout.write(`${JSON.stringify({ set, bytesAllocatedPerDecode: perCall })}\n`);
}
if (sink === 0) throw new Error("nothing decoded");
