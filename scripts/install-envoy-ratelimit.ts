/**
 * Installs envoyproxy/ratelimit (the pinned version) from the Go module proxy into its cache
 * directory, for the side-by-side tests and the bench; does nothing when it is there.
 */
import { installReference, referenceDir, referenceMissing } from "../test/support/envoy-ratelimit-reference.js";

await installReference((line) => process.stdout.write(`${line}\n`));
const missing = referenceMissing();
if (missing) throw new Error(missing);
process.stdout.write(`envoyproxy/ratelimit ready in ${referenceDir()}\n`);
