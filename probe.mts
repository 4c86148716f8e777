import { openInput } from "./src/lab/replay/input.js";
import { readEvents } from "./src/lab/replay/formats.js";
const t0 = performance.now(); let n = 0;
for await (const e of readEvents(await openInput("/tmp/small.jsonl"), "auto", "x")) n++;
console.log("parse", n, (performance.now()-t0).toFixed(0), "ms");
const t1 = performance.now(); let m = 0;
for await (const l of (await openInput("/tmp/small.jsonl")).lines) m++;
console.log("lines", m, (performance.now()-t1).toFixed(0), "ms");
