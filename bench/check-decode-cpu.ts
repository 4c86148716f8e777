/**
 * CPU per CheckRequest decode, in process: protobufjs' deserializer (proto-loader's
 * `toObject(decode(bytes))`, what grpc-js called before) against the hand-written decoder
 * (src/transport/grpc/authz/check-request-decoder.ts), each alone and followed by
 * `toHttpAttributes`, on the bench's storefront requests as Envoy's protos encode them.
 *
 *   npx tsx bench/check-decode-cpu.ts
 *
 * The four variants alternate for BENCH_ROUNDS rounds (default 5) of BENCH_CALLS decodes
 * (default 100,000) after a warm-up of the same size; prints one JSON line per round with CPU
 * µs per decode (user + system time of the process, process.cpuUsage).
 */
import { decodeCheckRequest } from "../src/transport/grpc/authz/check-request-decoder.js";
import { toHttpAttributes } from "../src/transport/grpc/authz/converter.js";
import { loadPackageDefinition, type CheckRequest } from "../src/transport/grpc/protos.js";
import { codecs } from "../test/contract/upstream.js";
import { storefrontRequest } from "./traffic.js";

const CALLS = Number(process.env.BENCH_CALLS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const encode = codecs("envoy.service.auth.v3.Authorization", "Check").upstream.request.encode;
const requests = Array.from({ length: 2_000 }, (_, i) => encode(storefrontRequest(i, Date.now())));
const protobufjs = (loadPackageDefinition()["envoy.service.auth.v3.Authorization"] as Record<string, { requestDeserialize: (bytes: Buffer) => CheckRequest }>).Check!
  .requestDeserialize;

const variants: Record<string, (bytes: Buffer) => unknown> = {
  protobufjs,
  hand: decodeCheckRequest,
  "protobufjs+toHttpAttributes": (bytes) => toHttpAttributes(protobufjs(bytes)),
  "hand+toHttpAttributes": (bytes) => toHttpAttributes(decodeCheckRequest(bytes)),
};

let sink = 0;
function cpuMicrosPerCall(decode: (bytes: Buffer) => unknown): number {
  const before = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) if (decode(requests[i % requests.length]!)) sink++;
  const used = process.cpuUsage(before);
  return Math.round(((used.user + used.system) / CALLS) * 100) / 100;
}

for (const decode of Object.values(variants)) cpuMicrosPerCall(decode);
const bytes = requests.reduce((sum, request) => sum + request.length, 0) / requests.length;
for (let round = 1; round <= ROUNDS; round++) {
  const perCall = Object.fromEntries(Object.entries(variants).map(([name, decode]) => [name, cpuMicrosPerCall(decode)]));
  process.stdout.write(`${JSON.stringify({ round, requestBytes: Math.round(bytes), cpuMicrosPerDecode: perCall })}\n`);
}
if (sink === 0) throw new Error("nothing decoded");
