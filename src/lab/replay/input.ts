import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";

/** One line of input, numbered from 1, and whether a newline ended it. */
export interface InputLine {
  number: number;
  text: string;
  terminated: boolean;
}

export interface Input {
  lines: AsyncIterable<InputLine>;
  /** Bytes of the file read so far (compressed bytes for .gz), for the progress bar. */
  bytesRead(): number;
  /** The file's size when known (not for standard input). */
  size?: number;
  /** Set when the input ended in a broken gzip stream: the lines before it were read. */
  error(): string | undefined;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** Opens a file or `-` (standard input); gzip is recognised by its magic bytes, not its name. */
export async function openInput(path: string): Promise<Input> {
  const raw: Readable = path === "-" ? process.stdin : createReadStream(path, { highWaterMark: 1024 * 1024 });
  const size = path === "-" ? undefined : (await stat(path)).size;
  let bytes = 0;
  // Counted as the lines are read, not by a "data" listener: that would start the stream
  // flowing at once, and what it read before the caller began iterating would be lost.
  const counted = countBytes(raw, (length) => (bytes += length));
  let failure: string | undefined;
  return {
    lines: splitLines(decompressIfGzip(counted), (message) => (failure = message)),
    bytesRead: () => bytes,
    size,
    error: () => failure,
  };
}

async function* countBytes(raw: Readable, count: (length: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of raw as AsyncIterable<Buffer>) {
    count(chunk.length);
    yield chunk;
  }
}

async function* decompressIfGzip(raw: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = raw[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const rest = async function* () {
    yield first.value;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  };
  if (first.value[0] !== GZIP_MAGIC[0] || first.value[1] !== GZIP_MAGIC[1]) {
    yield* rest();
    return;
  }
  const gunzip = createGunzip();
  const feed = (async () => {
    for await (const chunk of rest()) if (!gunzip.write(chunk)) await new Promise((resolve) => gunzip.once("drain", resolve));
    gunzip.end();
  })();
  feed.catch((error: unknown) => gunzip.destroy(error instanceof Error ? error : new Error(String(error))));
  yield* gunzip as AsyncIterable<Buffer>;
}

/** Splits a byte stream into UTF-8 lines; a broken stream ends the lines and is reported. */
async function* splitLines(chunks: AsyncIterable<Buffer>, onError: (message: string) => void): AsyncGenerator<InputLine> {
  const decoder = new TextDecoder("utf-8");
  let pending = "";
  let number = 0;
  try {
    for await (const chunk of chunks) {
      pending += decoder.decode(chunk, { stream: true });
      let start = 0;
      for (let at = pending.indexOf("\n"); at >= 0; at = pending.indexOf("\n", start)) {
        yield { number: ++number, text: pending.slice(start, at).replace(/\r$/, ""), terminated: true };
        start = at + 1;
      }
      pending = pending.slice(start);
    }
  } catch (error) {
    onError(`input ends abruptly after line ${number}: ${error instanceof Error ? error.message : String(error)}`);
  }
  pending += decoder.decode();
  if (pending !== "") yield { number: ++number, text: pending, terminated: false };
}
