import type { LabLine } from "../lines.js";

/** Bytes gathered before one write: fewer, larger writes keep generation fast. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Writes lines as JSON lines, waiting when the reader is slower (a pipe into `replay -`). A
 * reader that goes away (`| head`) ends the writing quietly instead of crashing.
 */
export async function writeLines(lines: Iterable<LabLine>, out: NodeJS.WritableStream): Promise<number> {
  let closed = false;
  out.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") closed = true;
    else throw error;
  });
  let buffer = "";
  let count = 0;
  for (const line of lines) {
    buffer += `${JSON.stringify(line)}\n`;
    count++;
    if (buffer.length < CHUNK_BYTES) continue;
    if (closed) return count;
    if (!out.write(buffer)) await drained(out);
    buffer = "";
  }
  if (!closed && buffer !== "") out.write(buffer);
  return count;
}

/** Resolves when the reader caught up or went away, leaving no listener behind. */
function drained(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
  });
}
