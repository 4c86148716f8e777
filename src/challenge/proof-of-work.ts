import { createChallenge, randomInt, verifySolution, type Challenge } from "altcha-lib";
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

export async function issueChallenge(subject: ChallengeSubject, keys: ChallengeKeys, nowMs: number, lifetimeMs: number): Promise<IssuedChallenge> {
  const { level } = subject;
  const expiresMs = nowMs + lifetimeMs;
  const challenge = await createChallenge({
    algorithm: ALGORITHM,
    cost: level.rounds,
    counter: randomInt(Math.ceil(level.attempts / 2), level.attempts),
    deriveKey,
    expiresAt: Math.ceil(expiresMs / 1000),
    data: { net: subject.network, cli: subject.client, cls: subject.endpointClass, lvl: level.level, iat: nowMs, did: subject.decisionId },
    hmacSignatureSecret: keys.challengeSecret,
    hmacKeySignatureSecret: keys.answerSecret,
  });
  return { challenge, level: level.level, expiresMs };
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
