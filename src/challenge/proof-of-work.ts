import { createHash, createHmac, randomBytes, randomInt } from "node:crypto";
import { verifySolution, type Challenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { z } from "zod";
import type { ChallengeLevel } from "../policy/challenge-schema.js";
import type { ChallengeKeys } from "./keys.js";
import { ENDPOINT_CLASSES, type EndpointClass } from "./pass-token.js";
import type { SolutionClaims } from "./replay.js";

/**
 * The proof of work is ALTCHA's (altcha-lib on the server, the `altcha` widget in the browser):
 * maintained, MIT-licensed, stateless (the challenge is signed, so issuing one stores nothing)
 * and self-hosted (the widget loads nothing from third parties). Its deterministic mode picks
 * the answer's counter when issuing: the work is the counter (about 3/4 of `attempts` on
 * average, never more), not a lottery, and the answer is checked with one HMAC.
 */
export const ALGORITHM = "SHA-256";

/** What the challenge was issued for; signed into it, copied into the pass it earns. */
export interface ChallengeSubject {
  network: string;
  client: string;
  endpointClass: EndpointClass;
  level: ChallengeLevel;
  decisionId: string;
}

export interface IssuedChallenge {
  challenge: Challenge;
  level: number;
  expiresMs: number;
}

/** Bytes of the answer's derived key (altcha-lib's default `keyLength`); its first half is the prefix a solver must meet. */
const KEY_LENGTH = 32;

/**
 * A challenge in altcha-lib's deterministic form, made with node:crypto's synchronous hashes:
 * altcha-lib's `createChallenge` signs through WebCrypto, two key imports and two signatures per
 * challenge, each a job on libuv's thread pool and a promise: 110–122 µs of CPU per challenge
 * against 15–18 µs here (BENCHMARKS.md, branch checkcpu3). The parameters, the answer key and
 * both signatures are the ones altcha-lib makes (HMAC-SHA-256 in hex, the parameters signed as
 * JSON with sorted keys), so the widget solves it and `verifySolution` checks it as its own
 * (proof-of-work.test.ts holds it to both).
 */
export function issueChallenge(subject: ChallengeSubject, keys: ChallengeKeys, nowMs: number, lifetimeMs: number): IssuedChallenge {
  const { level } = subject;
  const expiresMs = nowMs + lifetimeMs;
  const nonce = randomBytes(16);
  const salt = randomBytes(16);
  // The work is the counter: from half the level's attempts to all of them.
  const answer = answerKey(salt, nonce, randomInt(Math.ceil(level.attempts / 2), level.attempts + 1), level.rounds);
  // Keys in sorted order at every depth: the signed text is this object's JSON.
  const parameters = {
    algorithm: ALGORITHM,
    cost: level.rounds,
    data: { cli: subject.client, cls: subject.endpointClass, did: subject.decisionId, iat: nowMs, lvl: level.level, net: subject.network },
    expiresAt: Math.ceil(expiresMs / 1000),
    keyLength: KEY_LENGTH,
    keyPrefix: answer.subarray(0, KEY_LENGTH / 2).toString("hex"),
    keySignature: hmacHex(keys.answerSecret, answer),
    nonce: nonce.toString("hex"),
    salt: salt.toString("hex"),
  };
  return { challenge: { parameters, signature: hmacHex(keys.challengeSecret, JSON.stringify(parameters)) }, level: level.level, expiresMs };
}

/** The key the answer derives (altcha-lib's SHA-256 `deriveKey`): SHA-256 of salt, nonce and the counter's 4 big-endian bytes, hashed again for each further round. */
function answerKey(salt: Buffer, nonce: Buffer, counter: number, rounds: number): Buffer {
  const password = Buffer.alloc(salt.length + nonce.length + 4);
  salt.copy(password, 0);
  nonce.copy(password, salt.length);
  password.writeUInt32BE(counter, salt.length + nonce.length);
  let key = createHash("sha256").update(password).digest();
  for (let round = 1; round < rounds; round++) key = createHash("sha256").update(key).digest();
  return key.subarray(0, KEY_LENGTH);
}

/** The secrets are text to altcha-lib, which signs with their UTF-8 bytes as the HMAC key; so does createHmac with a string. */
function hmacHex(secret: string, data: string | Buffer): string {
  return createHmac("sha256", secret).update(data).digest("hex");
}

const hex = z.string().regex(/^(?:[0-9a-f]{2}){1,64}$/);

/** The widget's payload: base64 of JSON `{ challenge, solution }`. */
const payloadSchema = z.object({
  challenge: z.object({
    parameters: z
      .object({
        algorithm: z.literal(ALGORITHM),
        nonce: hex,
        salt: hex,
        cost: z.number().int().min(1).max(1000),
        keyLength: z.number().int().min(1).max(64),
        keyPrefix: hex,
        keySignature: hex.optional(),
        data: z.object({
          net: z.string().max(64),
          cli: z.string().max(64),
          cls: z.enum(ENDPOINT_CLASSES),
          lvl: z.number().int().min(1),
          iat: z.number().int().nonnegative(),
          did: z.string().max(64),
        }),
        expiresAt: z.number().int().positive(),
      })
      .loose(),
    signature: z.string().max(256),
  }),
  solution: z.object({ counter: z.number(), derivedKey: z.string().max(256), time: z.number().nonnegative().optional() }),
});

/** Longest payload read: a genuine one is well under 2 kB. */
export const MAX_PAYLOAD_LENGTH = 8192;

export type Verification =
  | { ok: true; subject: Omit<ChallengeSubject, "level"> & { level: number }; solveMs?: number }
  | { ok: false; reason: FailureReason; level?: number };

export type FailureReason = "malformed" | "forged" | "expired" | "wrong_answer" | "replayed" | "foreign_network";

/**
 * Checks a solution: genuine challenge, not expired, right answer, solved from the network it
 * was issued to, and never seen before. The claim comes last, so a wrong answer burns nothing.
 */
export async function verifyPayload(
  payload: string,
  context: { keys: ChallengeKeys; claims: SolutionClaims; network: string | undefined; nowMs: number },
): Promise<Verification> {
  const decoded = decodePayload(payload);
  if (!decoded) return { ok: false, reason: "malformed" };
  const { challenge, solution } = decoded;
  const data = challenge.parameters.data;
  const result = await verifySolution({
    challenge,
    solution,
    deriveKey,
    hmacSignatureSecret: context.keys.challengeSecret,
    hmacKeySignatureSecret: context.keys.answerSecret,
  });
  if (result.invalidSignature) return { ok: false, reason: "forged" };
  // altcha-lib reads the wall clock for expiry; Palisade's clock decides too (tests move it).
  if (result.expired || challenge.parameters.expiresAt * 1000 <= context.nowMs) return { ok: false, reason: "expired", level: data.lvl };
  if (!result.verified) return { ok: false, reason: "wrong_answer", level: data.lvl };
  if (context.network !== undefined && context.network !== data.net) return { ok: false, reason: "foreign_network", level: data.lvl };
  const lifetimeMs = Math.max(1000, challenge.parameters.expiresAt * 1000 - data.iat);
  if (!(await context.claims.claim(challenge.parameters.nonce, lifetimeMs, context.nowMs))) return { ok: false, reason: "replayed", level: data.lvl };
  return {
    ok: true,
    subject: { network: data.net, client: data.cli, endpointClass: data.cls, level: data.lvl, decisionId: data.did },
    solveMs: solution.time,
  };
}

function decodePayload(payload: string): z.infer<typeof payloadSchema> | undefined {
  if (payload.length > MAX_PAYLOAD_LENGTH) return undefined;
  try {
    const parsed = payloadSchema.safeParse(JSON.parse(Buffer.from(payload, "base64").toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
