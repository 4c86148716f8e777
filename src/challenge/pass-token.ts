import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Pass tokens: what a solved challenge earns. A token is `<claims>.<signature>`, both
 * base64url; the signature is HMAC-SHA-256 over the encoded claims with the pass key. It is
 * checked at Check time with one HMAC and no store round trip. Written by hand: a JWT library
 * would bring algorithm negotiation and key formats this one fixed MAC does not need.
 */
export interface PassClaims {
  /** Random id: names the token in replay accounting, never a person. */
  id: string;
  issuedMs: number;
  expiresMs: number;
  /** The network (a /24 or /48 by default) the challenge was issued to. */
  network: string;
  /** Keyed hash of the client's bound headers (see clientBinding). */
  client: string;
  /** The endpoint class the challenge was issued for: it covers that class and lighter ones. */
  endpointClass: EndpointClass;
  /** Difficulty level solved: covers challenges up to this level. */
  level: number;
}

/** Endpoint classes by weight: a pass earned on a login page covers browsing, not the reverse. */
export const ENDPOINT_CLASSES = ["none", "low", "medium", "high", "critical"] as const;
export type EndpointClass = (typeof ENDPOINT_CLASSES)[number];

export function classCovers(passClass: EndpointClass, requestClass: EndpointClass): boolean {
  return ENDPOINT_CLASSES.indexOf(passClass) >= ENDPOINT_CLASSES.indexOf(requestClass);
}

/** Longer than any token this module writes: longer input is refused before any work. */
const MAX_TOKEN_LENGTH = 1024;

export function newPassId(): string {
  return randomBytes(12).toString("base64url");
}

export function signPass(claims: PassClaims, key: Buffer): string {
  const body = Buffer.from(
    JSON.stringify({ v: 1, id: claims.id, iat: claims.issuedMs, exp: claims.expiresMs, net: claims.network, cli: claims.client, cls: claims.endpointClass, lvl: claims.level }),
  ).toString("base64url");
  return `${body}.${mac(key, body).toString("base64url")}`;
}

export type PassReading =
  | { status: "valid"; claims: PassClaims }
  | { status: "expired"; claims: PassClaims }
  /** Bad signature or unreadable: not made by this key. */
  | { status: "forged" };

/** Verifies the signature first; only a genuine token's claims are read. */
export function readPass(token: string, key: Buffer, nowMs: number): PassReading {
  if (token.length > MAX_TOKEN_LENGTH) return { status: "forged" };
  const [body, signature, extra] = token.split(".");
  if (!body || !signature || extra !== undefined) return { status: "forged" };
  const expected = mac(key, body);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { status: "forged" };
  const claims = decodeClaims(body);
  if (!claims) return { status: "forged" };
  return claims.expiresMs > nowMs ? { status: "valid", claims } : { status: "expired", claims };
}

/**
 * What a pass is bound to besides the network: a keyed hash of headers a browser repeats on
 * every request. Keyed, so the token reveals nothing about them.
 */
export function clientBinding(headers: ReadonlyMap<string, string>, names: readonly string[], key: Buffer): string {
  const hmac = createHmac("sha256", key).update("client\u0000");
  for (const name of names) hmac.update(`${name}\u0000${headers.get(name) ?? ""}\u0000`);
  return hmac.digest().subarray(0, 16).toString("base64url");
}

function mac(key: Buffer, body: string): Buffer {
  return createHmac("sha256", key).update("pass\u0000").update(body).digest();
}

function decodeClaims(body: string): PassClaims | undefined {
  try {
    const raw = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Record<string, unknown>;
    const { v, id, iat, exp, net, cli, cls, lvl } = raw;
    if (v !== 1 || typeof id !== "string" || typeof net !== "string" || typeof cli !== "string") return undefined;
    if (typeof iat !== "number" || typeof exp !== "number" || typeof lvl !== "number") return undefined;
    if (!ENDPOINT_CLASSES.includes(cls as EndpointClass)) return undefined;
    return { id, issuedMs: iat, expiresMs: exp, network: net, client: cli, endpointClass: cls as EndpointClass, level: lvl };
  } catch {
    return undefined;
  }
}
