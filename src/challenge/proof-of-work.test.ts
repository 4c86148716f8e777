import { createChallenge, solveChallenge, verifySolution } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { describe, expect, it } from "vitest";
import type { ChallengeLevel } from "../policy/challenge-schema.js";
import { deriveChallengeKeys } from "./keys.js";
import { issueChallenge, type ChallengeSubject } from "./proof-of-work.js";

const keys = deriveChallengeKeys(Buffer.alloc(32, 7));
const level: ChallengeLevel = { level: 2, risk: 50, attempts: 400, rounds: 3 };
const subject: ChallengeSubject = { network: "203.0.113.0/24", client: "c1", endpointClass: "high", level, decisionId: "d-1" };

describe("a challenge issued with node:crypto", () => {
  it("is solved by altcha-lib's solver at a counter within the level's attempts, and altcha-lib verifies the answer under Palisade's secrets", async () => {
    for (let i = 0; i < 5; i++) {
      const { challenge, expiresMs } = issueChallenge(subject, keys, Date.now(), 60_000);
      expect(challenge.parameters.expiresAt).toBe(Math.ceil(expiresMs / 1000));
      const solution = (await solveChallenge({ challenge, deriveKey, timeout: 10_000 }))!;
      expect(solution).not.toBeNull();
      expect(solution.counter).toBeGreaterThanOrEqual(level.attempts / 2);
      expect(solution.counter).toBeLessThanOrEqual(level.attempts);
      const verified = await verifySolution({ challenge, solution, deriveKey, hmacSignatureSecret: keys.challengeSecret, hmacKeySignatureSecret: keys.answerSecret });
      expect(verified).toMatchObject({ verified: true, invalidSignature: false, invalidSolution: false });
    }
  });

  it("is refused by altcha-lib when a parameter is changed or the secrets are another key's", async () => {
    const { challenge } = issueChallenge(subject, keys, Date.now(), 60_000);
    const solution = (await solveChallenge({ challenge, deriveKey, timeout: 10_000 }))!;
    const other = deriveChallengeKeys(Buffer.alloc(32, 8));
    const forged = { ...challenge, parameters: { ...challenge.parameters, data: { ...challenge.parameters.data, net: "198.51.100.0/24" } } };
    expect(await verifySolution({ challenge: forged, solution, deriveKey, hmacSignatureSecret: keys.challengeSecret, hmacKeySignatureSecret: keys.answerSecret })).toMatchObject({ verified: false, invalidSignature: true });
    expect(await verifySolution({ challenge, solution, deriveKey, hmacSignatureSecret: other.challengeSecret, hmacKeySignatureSecret: other.answerSecret })).toMatchObject({ verified: false, invalidSignature: true });
    const wrong = { ...solution, derivedKey: solution.derivedKey.replace(/^./, (c) => (c === "0" ? "1" : "0")) };
    expect(await verifySolution({ challenge, solution: wrong, deriveKey, hmacSignatureSecret: keys.challengeSecret, hmacKeySignatureSecret: keys.answerSecret })).toMatchObject({ verified: false, invalidSolution: true });
  });

  it("has the parameters altcha-lib's createChallenge gives, in the same order", async () => {
    const nowMs = Date.now();
    const { challenge } = issueChallenge(subject, keys, nowMs, 60_000);
    const theirs = await createChallenge({
      algorithm: "SHA-256",
      cost: level.rounds,
      counter: 300,
      deriveKey,
      expiresAt: Math.ceil((nowMs + 60_000) / 1000),
      data: { net: subject.network, cli: subject.client, cls: subject.endpointClass, lvl: level.level, iat: nowMs, did: subject.decisionId },
      hmacSignatureSecret: keys.challengeSecret,
      hmacKeySignatureSecret: keys.answerSecret,
    });
    const shape = (value: unknown): unknown => (typeof value === "object" && value !== null ? Object.entries(value).map(([key, inner]) => [key, shape(inner)]) : typeof value);
    expect(shape(challenge)).toEqual(shape(theirs));
    const { nonce, salt, keyPrefix, keySignature, ...fixed } = challenge.parameters;
    const { nonce: _n, salt: _s, keyPrefix: _p, keySignature: _k, ...theirFixed } = theirs.parameters;
    expect(fixed).toEqual(theirFixed);
    for (const text of [nonce, salt, keyPrefix, keySignature]) expect(text).toMatch(/^[0-9a-f]+$/);
    expect([nonce.length, salt.length, keyPrefix.length, keySignature!.length]).toEqual([theirs.parameters.nonce.length, theirs.parameters.salt.length, theirs.parameters.keyPrefix.length, theirs.parameters.keySignature!.length]);
  });
});
