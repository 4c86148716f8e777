/**
 * Bytes allocated per replayed event by the replay loop of bench/replay-speed.ts (garbage
 * included), and the functions that allocate them: garbage collection is a tenth of the loop's
 * CPU or more, and this says where the garbage comes from.
 *
 *   npx tsx bench/replay-allocations.ts [events=20000] [top=25]
 */
import { type Allocations, startAllocationSampling } from "./heap-sampling.js";
import { measureReplaySpeed } from "./replay-speed.js";

const events = Number(process.argv[2] ?? 20_000);
const top = Number(process.argv[3] ?? 25);
let stop: (() => Promise<Allocations>) | undefined;
let allocations: Allocations | undefined;
await measureReplaySpeed(events, {
  async beforeLoop() {
    stop = await startAllocationSampling();
  },
  async afterLoop() {
    allocations = await stop!();
  },
});
const { total, bySite } = allocations!;
process.stdout.write(`${Math.round(total / events)} bytes allocated per event (${events} storefront events)\n`);
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${String(Math.round(bytes / events)).padStart(7)} B  ${site}\n`);
