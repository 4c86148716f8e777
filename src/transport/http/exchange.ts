import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { AdminResponse } from "./router.js";

/** The request body went past the server's limit; answered with 413. */
export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  readonly code = "http.body_too_large";
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
  }
}

/** Splits a request target into path and query; no URL parsing, so odd targets cannot throw. */
export function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const mark = target.indexOf("?");
  if (mark === -1) return { path: target, query: new URLSearchParams() };
  return { path: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

/**
 * The whole body, refused as soon as it passes `limitBytes`: up front when Content-Length says
 * so, otherwise while streaming (chunked bodies), so an oversized body is never held in memory.
 */
export function readBody(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  if (Number(request.headers["content-length"] ?? 0) > limitBytes) {
    return Promise.reject(new BodyTooLargeError(limitBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        // Stop buffering; the 413 answer closes the connection, so the rest is never read.
        request.off("data", onData);
        reject(new BodyTooLargeError(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    request.on("data", onData);
    request.once("end", () => resolve(Buffer.concat(chunks)));
    request.once("error", reject);
  });
}

function encodeBody(body: unknown): { payload: Buffer; contentType?: string } {
  if (body === undefined) return { payload: Buffer.alloc(0) };
  if (Buffer.isBuffer(body)) return { payload: body, contentType: "application/octet-stream" };
  if (typeof body === "string") return { payload: Buffer.from(body), contentType: "text/plain; charset=utf-8" };
  return { payload: Buffer.from(JSON.stringify(body)), contentType: "application/json" };
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/**
 * Serialises and sends `response`. Throws before anything is written when the body cannot be
 * serialised (a cycle, a BigInt), so the caller can still answer 500.
 */
export function sendResponse(res: ServerResponse, response: AdminResponse, extraHeaders: OutgoingHttpHeaders = {}): void {
  const { payload, contentType } = encodeBody(response.body);
  const headers: OutgoingHttpHeaders = {
    // Probe and metrics answers are live state; no cache should keep them.
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...(contentType ? { "content-type": contentType } : {}),
    ...lowerCaseKeys(response.headers ?? {}),
    ...extraHeaders,
    "content-length": payload.length,
  };
  res.writeHead(response.status, headers);
  res.end(payload);
}
