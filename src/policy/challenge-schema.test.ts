import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { minimalPolicyDocument, policyIssues } from "../../test/support/policies.js";
import { challengeRoutes, compileChallenge, DEFAULT_CHALLENGE_TEXT, levelFor, type ChallengeLevel, type ChallengeSpec } from "./challenge-schema.js";
import { parsePolicyText } from "./loader.js";

/**
 * `spec.challenge` as the policy text gives it and as the challenge listener and the pipeline
 * read it: durations in milliseconds, levels numbered by rising risk, page text per language.
 */

const compiled = (challenge: Record<string, unknown> | undefined) =>
  parsePolicyText(stringify(minimalPolicyDocument(challenge === undefined ? {} : { challenge })), "p.yaml").challenge;

const issuesOf = (challenge: Record<string, unknown>) => policyIssues(() => compiled(challenge));

describe("compileChallenge", () => {
  it("without proof-of-work is a bare 401 answer with the default realm", () => {
    expect(compiled(undefined)).toEqual({ wwwAuthenticate: 'Palisade realm="api"', url: undefined });
    expect(compiled({ wwwAuthenticate: 'Bearer realm="shop"', url: "https://shop.example/verify" })).toEqual({
      wwwAuthenticate: 'Bearer realm="shop"',
      url: "https://shop.example/verify",
    });
  });

  it("fills in the documented defaults of the proof-of-work challenge", () => {
    const challenge = compiled({ proofOfWork: {} });
    expect(challenge.wwwAuthenticate).toBe('Palisade realm="api"');
    expect(challenge.proofOfWork).toEqual({
      path: "/.palisade/challenge",
      expiresMs: 5 * 60_000,
      passMs: 30 * 60_000,
      levels: [
        { level: 1, risk: 0, attempts: 5_000, rounds: 1 },
        { level: 2, risk: 50, attempts: 50_000, rounds: 1 },
        { level: 3, risk: 80, attempts: 250_000, rounds: 4 },
      ],
      bindHeaders: ["user-agent", "accept-language"],
      replayWeight: 30,
      supportUrl: undefined,
      texts: new Map([["en", DEFAULT_CHALLENGE_TEXT]]),
    });
  });

  it("takes every setting as written, durations in milliseconds and levels numbered by rising risk", () => {
    const pow = compiled({
      url: "https://shop.example/help",
      proofOfWork: {
        path: "/_check",
        expires: "2m",
        pass: "1h",
        levels: [
          { risk: 90, attempts: 900_000, rounds: 3 },
          { risk: 0, attempts: 1_000 },
          { risk: 40, attempts: 40_000, rounds: 2 },
        ],
        bindHeaders: ["User-Agent"],
        replayWeight: 45,
        supportUrl: "https://shop.example/support",
      },
    }).proofOfWork!;
    expect(pow.path).toBe("/_check");
    expect(pow.expiresMs).toBe(120_000);
    expect(pow.passMs).toBe(3_600_000);
    expect(pow.levels).toEqual([
      { level: 1, risk: 0, attempts: 1_000, rounds: 1 },
      { level: 2, risk: 40, attempts: 40_000, rounds: 2 },
      { level: 3, risk: 90, attempts: 900_000, rounds: 3 },
    ]);
    expect(pow.bindHeaders).toEqual(["user-agent"]);
    expect(pow.replayWeight).toBe(45);
    expect(pow.supportUrl).toBe("https://shop.example/support");
  });

  it("completes each language's page text with the English words it leaves out", () => {
    const { texts } = compiled({
      proofOfWork: { texts: { de: { title: "Browser wird geprüft", heading: "Einen Moment bitte" }, en: { reference: "Ref." } } },
    }).proofOfWork!;
    expect([...texts.keys()].sort()).toEqual(["de", "en"]);
    expect(texts.get("de")).toEqual({ ...DEFAULT_CHALLENGE_TEXT, title: "Browser wird geprüft", heading: "Einen Moment bitte" });
    // English itself can be reworded word by word.
    expect(texts.get("en")).toEqual({ ...DEFAULT_CHALLENGE_TEXT, reference: "Ref." });
  });

  it("keys languages in lower case, so two spellings of one tag add up", () => {
    const { texts } = compiled({ proofOfWork: { texts: { "pt-BR": { title: "Verificando" }, "pt-br": { heading: "Um momento" } } } }).proofOfWork!;
    expect([...texts.keys()].sort()).toEqual(["en", "pt-br"]);
    expect(texts.get("pt-br")).toEqual({ ...DEFAULT_CHALLENGE_TEXT, title: "Verificando", heading: "Um momento" });
  });

  it("never lets a word given as undefined blank out the English one", () => {
    const spec = {
      wwwAuthenticate: "x",
      proofOfWork: {
        path: "/c",
        expires: "1m",
        pass: "1m",
        levels: [{ risk: 0, attempts: 100, rounds: 1 }],
        bindHeaders: ["user-agent"],
        replayWeight: 0,
        texts: { fr: { title: "Vérification", heading: undefined } },
      },
    } satisfies ChallengeSpec;
    const fr = compileChallenge(spec).proofOfWork!.texts.get("fr")!;
    expect(fr.heading).toBe(DEFAULT_CHALLENGE_TEXT.heading);
    expect(fr.title).toBe("Vérification");
    expect(Object.keys(fr).sort()).toEqual(Object.keys(DEFAULT_CHALLENGE_TEXT).sort());
  });

  it("refuses levels none of which starts at risk 0", () => {
    expect(issuesOf({ proofOfWork: { levels: [{ risk: 10, attempts: 1_000 }] } })).toEqual(["spec.challenge.proofOfWork: one level must start at risk 0"]);
  });
});

describe("levelFor", () => {
  const levels: ChallengeLevel[] = [
    { level: 1, risk: 0, attempts: 1_000, rounds: 1 },
    { level: 2, risk: 50, attempts: 10_000, rounds: 1 },
    { level: 3, risk: 80, attempts: 100_000, rounds: 2 },
  ];

  it("picks the level with the highest starting risk not above the risk", () => {
    expect([0, 49, 50, 79, 80, 100].map((risk) => levelFor(levels, risk).level)).toEqual([1, 1, 2, 2, 3, 3]);
  });

  it("falls back to the first level below every start", () => {
    expect(levelFor(levels.slice(1), 10).level).toBe(2);
  });
});

describe("challengeRoutes", () => {
  it("serves the widget script and the verify endpoint under the configured path", () => {
    expect(challengeRoutes("/.palisade/challenge")).toEqual({ script: "/.palisade/challenge/altcha.js", verify: "/.palisade/challenge/verify" });
  });
});
