/**
 * A route's answer as bytes and a content type: strings as text, Buffers as they are, anything
 * else as JSON. Serialising here, not in fastify, keeps a handler's own content type and makes
 * an unserialisable body (a cycle, a BigInt) throw inside the handler, which answers 500.
 */
export function encodeBody(body: unknown): { payload: Buffer; contentType?: string } {
  if (body === undefined) return { payload: Buffer.alloc(0) };
  if (Buffer.isBuffer(body)) return { payload: body, contentType: "application/octet-stream" };
  if (typeof body === "string") return { payload: Buffer.from(body), contentType: "text/plain; charset=utf-8" };
  return { payload: Buffer.from(JSON.stringify(body)), contentType: "application/json" };
}
