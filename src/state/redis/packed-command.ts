import { Command } from "ioredis";

/**
 * A script call (EVALSHA or EVAL) whose RESP bytes are written here, once, into one buffer,
 * rather than by ioredis' Command: that flattens the arguments into a new array, turns every
 * number into a string, then builds the request as one string by concatenation with a native
 * Buffer.byteLength call per argument, and the socket converts the whole string to UTF-8 again
 * when writing it. For the coalesced entity script of a turn (hundreds of keys and arguments,
 * about 1.7 KB per Check) that string was the largest single source of a Check's garbage
 * (`toWritable`, 9.5 KB per Check of 65 KB: `npx tsx bench/check-allocations.ts`).
 *
 * Written by hand because ioredis has no way to send pre-encoded bytes but its Command's own
 * `toWritable(socket)`, which it calls to get what to write (a string or a Buffer); this class
 * overrides just that. The bytes are exactly the RESP array ioredis would have written (a bulk
 * string per argument, numbers as `String(n)`, text as UTF-8): packed-command.test.ts compares
 * them with ioredis' own.
 *
 * The Command itself carries no arguments (ioredis reads them only for key prefixes, Cluster
 * slots and debug output, none of which the coalesced store call uses): a failed call's error
 * names the command, not its keys.
 */
export class PackedCommand extends Command {
  readonly #bytes: Buffer;

  /** `replyEncoding`: how bulk strings of the reply are decoded (ioredis' own commands say utf8); Buffers when absent. */
  constructor(name: string, head: readonly (string | number)[], keys: readonly string[], args: readonly (string | number)[], replyEncoding?: BufferEncoding) {
    super(name, [], replyEncoding === undefined ? {} : { replyEncoding });
    this.#bytes = encodeCommand(name, head, keys, args);
  }

  override toWritable(): Buffer {
    return this.#bytes;
  }
}

/** A scratch buffer reused by every encode (one at a time on the event loop), copied out at the end. */
let scratch = Buffer.allocUnsafe(64 * 1024);
let position = 0;

/** The RESP array `name, ...head, ...keys, ...args` as bulk strings. */
export function encodeCommand(name: string, head: readonly (string | number)[], keys: readonly string[], args: readonly (string | number)[]): Buffer {
  // Room for the worst case: 3 UTF-8 bytes per UTF-16 unit, and 16 bytes of framing per item.
  let room = 16 + 3 * name.length;
  for (const item of head) room += 16 + 3 * textLength(item);
  for (const item of keys) room += 16 + 3 * item.length;
  for (const item of args) room += 16 + 3 * textLength(item);
  if (room > scratch.length) scratch = Buffer.allocUnsafe(Math.max(room, 2 * scratch.length));
  position = 0;
  scratch[position++] = 0x2a; // "*"
  decimal(1 + head.length + keys.length + args.length);
  crlf();
  bulk(name);
  for (const item of head) bulk(typeof item === "string" ? item : String(item));
  for (const item of keys) bulk(item);
  for (const item of args) bulk(typeof item === "string" ? item : String(item));
  const bytes = Buffer.allocUnsafe(position);
  scratch.copy(bytes, 0, 0, position);
  return bytes;
}

function textLength(item: string | number): number {
  return typeof item === "string" ? item.length : 24; // a double's text is at most 24 characters
}

function crlf(): void {
  scratch[position++] = 0x0d;
  scratch[position++] = 0x0a;
}

/** A non-negative integer in decimal, without a string. */
function decimal(value: number): void {
  if (value < 10) {
    scratch[position++] = 0x30 + value;
    return;
  }
  let digits = 0;
  for (let rest = value; rest > 0; rest = Math.floor(rest / 10)) digits++;
  for (let i = digits - 1, rest = value; i >= 0; i--, rest = Math.floor(rest / 10)) scratch[position + i] = 0x30 + (rest % 10);
  position += digits;
}

/**
 * Node's own `utf8Write` where it has it (what `write` calls after checking its arguments, as
 * protobuf-reader.ts does for `utf8Slice`), else `write`: bytes written at `offset`.
 */
const nativeWrite = (Buffer.prototype as { utf8Write?: (text: string, offset: number) => number }).utf8Write;
const utf8Write: (buffer: Buffer, text: string, offset: number) => number = nativeWrite
  ? (buffer, text, offset) => nativeWrite.call(buffer, text, offset)
  : (buffer, text, offset) => buffer.write(text, offset, "utf8");

/** Texts this short are copied unit by unit: a native call costs more than their loop. */
const SHORT_TEXT = 16;

/**
 * `$<bytes>\r\n<text>\r\n`. The header first assumes one byte per UTF-16 unit, true of the ASCII
 * keys and arguments of every call (and only of ASCII: any other unit takes two bytes or more); a
 * text that is not ASCII is written again after its header.
 */
function bulk(text: string): void {
  const start = position;
  const length = text.length;
  scratch[position++] = 0x24; // "$"
  decimal(length);
  crlf();
  if (length <= SHORT_TEXT) {
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code > 127) return bulkUtf8(text, start);
      scratch[position++] = code;
    }
  } else {
    const bytes = utf8Write(scratch, text, position);
    if (bytes !== length) return bulkUtf8(text, start);
    position += bytes;
  }
  crlf();
}

function bulkUtf8(text: string, start: number): void {
  position = start;
  const bytes = Buffer.byteLength(text, "utf8");
  scratch[position++] = 0x24;
  decimal(bytes);
  crlf();
  position += utf8Write(scratch, text, position);
  crlf();
}
