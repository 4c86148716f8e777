/**
 * Worker-thread side of the reputation feed loader (reputation-feeds.ts): parses one feed's text
 * and posts back the range set's typed arrays, transferred rather than copied. Parsing a
 * million-line feed takes a second or more of CPU, which would otherwise stall every Check.
 */
import { parentPort, workerData } from "node:worker_threads";
import { parseFeed, type FeedParseOptions } from "../policy/feed-formats.js";

const { text, options } = workerData as { text: string; options: FeedParseOptions };
try {
  const parsed = parseFeed(text, options);
  const arrays = parsed.set.toArrays();
  parentPort!.postMessage(
    { ok: true, arrays, entries: parsed.entries, invalid: parsed.invalid, invalidLines: parsed.invalidLines },
    arrays.map((array) => array.buffer as ArrayBuffer),
  );
} catch (error) {
  parentPort!.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
}
