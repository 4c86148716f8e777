import { readFile } from "node:fs/promises";

/**
 * Reads key material from a file as bytes. A file holding printable text (a base64 key written
 * with `echo`) has surrounding whitespace trimmed, as editors and `echo` add a newline; anything
 * else (random bytes from `openssl rand 48`) is used exactly as stored — decoding it as UTF-8 would
 * replace invalid sequences and change both the key and its length.
 */
export async function readSecretFile(path: string): Promise<Buffer> {
  return secretBytes(await readFile(path));
}

export function secretBytes(raw: Buffer): Buffer {
  return isPrintableText(raw) ? Buffer.from(raw.toString("utf8").trim(), "utf8") : raw;
}

const WHITESPACE_CONTROLS = new Set([0x09, 0x0a, 0x0d]);

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function isPrintableText(raw: Buffer): boolean {
  let text: string;
  try {
    text = utf8Strict.decode(raw);
  } catch {
    return false;
  }
  // Control characters other than whitespace mean binary data that happens to be valid UTF-8.
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if ((code < 0x20 && !WHITESPACE_CONTROLS.has(code)) || code === 0x7f) return false;
  }
  return true;
}
