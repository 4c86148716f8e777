/**
 * Regenerates the TypeScript message types of Palisade's protos (`npm run protos:types`) with
 * @grpc/proto-loader's own proto-loader-gen-types, using the loader options the service loads
 * them with (src/transport/grpc/protos.ts). Writes to src/transport/grpc/generated/, or to the
 * directory given as the first argument (test/contract/generated-types.test.ts compares a fresh
 * run with the checked-in files).
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PROTO_FILES } from "../src/transport/grpc/protos.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const outDir = process.argv[2] ?? `${root}src/transport/grpc/generated`;
rmSync(outDir, { recursive: true, force: true });
execFileSync(
  `${root}node_modules/.bin/proto-loader-gen-types`,
  [
    ...PROTO_FILES,
    // The same choices as LOADER_OPTIONS: snake_case keys, 64-bit numbers as numbers, enums as names.
    "--keepCase",
    "--longs=Number",
    "--enums=String",
    "--defaults",
    "--oneofs",
    "--grpcLib=@grpc/grpc-js",
    "--importFileExtension=.js",
    `--outDir=${outDir}`,
    // Relative, so the "Original file" comments name repository paths, not this machine's.
    "--includeDirs=proto",
  ],
  { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
);
process.stdout.write(`wrote ${outDir}\n`);
