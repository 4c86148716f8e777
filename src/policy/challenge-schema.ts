import { z } from "zod";
import { durationMs } from "../config/duration.js";

/**
 * The policy's `spec.challenge` block: how a `challenge` answer reads, and the built-in
 * proof-of-work challenge (docs/challenge.md). Kept apart from schema.ts, which passes in its
 * duration type (as response-schema.ts does, to avoid an import cycle).
 */
type Duration = z.ZodType<string>;

/** Where a client presents its pass: a cookie for browsers, a header for apps. */
export const PASS_COOKIE = "palisade_pass";
export const PASS_HEADER = "x-palisade-pass";

/** What the challenge listener serves under `proofOfWork.path`. */
export function challengeRoutes(path: string): { script: string; verify: string } {
  return { script: `${path}/altcha.js`, verify: `${path}/verify` };
}

/** The words of the challenge page; every one can be replaced, per language. */
export const CHALLENGE_TEXT_KEYS = ["title", "heading", "explanation", "label", "working", "solved", "failed", "noscript", "support", "reference"] as const;
export type ChallengeTextKey = (typeof CHALLENGE_TEXT_KEYS)[number];
export type ChallengeText = Record<ChallengeTextKey, string>;

export const DEFAULT_CHALLENGE_TEXT: ChallengeText = {
  title: "Checking your browser",
  heading: "One moment, please",
  explanation:
    "This site asks your browser to solve a small puzzle before it continues. It takes a few seconds at most and needs no input from you.",
  label: "Checking that you are a person",
  working: "Solving the puzzle…",
  solved: "Done. Taking you to the page…",
  failed: "The check did not succeed. Reload the page to try again.",
  noscript:
    "This check needs JavaScript, which is turned off in your browser. Turn it on and reload the page, or contact support if you cannot.",
  support: "Need help? Contact support",
  reference: "Reference",
};

const level = z
  .object({
    risk: z.number().int().min(0).max(100).describe("This level applies from this risk up"),
    attempts: z
      .number()
      .int()
      .min(100)
      .max(50_000_000)
      .describe("Hashes a solver tries on average is about 3/4 of this: the work grows linearly with it"),
    rounds: z.number().int().min(1).max(1000).default(1).describe("SHA-256 rounds per attempt: multiplies the work of each attempt"),
  })
  .strict();

const text = z.object(Object.fromEntries(CHALLENGE_TEXT_KEYS.map((key) => [key, z.string().min(1).max(500).optional()]))).strict();

export function challengeSpec(duration: Duration) {
  const proofOfWork = z
    .object({
      path: z
        .string()
        .regex(/^\/[A-Za-z0-9._~/-]*[^/]$/, "an absolute path without a trailing '/'")
        .default("/.palisade/challenge")
        .describe("Path prefix Envoy routes to Palisade's challenge listener (widget script and verify endpoint)"),
      expires: duration.default("5m").describe("How long an issued challenge may be solved"),
      pass: duration.default("30m").describe("How long a pass token waives challenges"),
      levels: z
        .array(level)
        .min(1)
        .max(10)
        .default([
          { risk: 0, attempts: 5_000, rounds: 1 },
          { risk: 50, attempts: 50_000, rounds: 1 },
          { risk: 80, attempts: 250_000, rounds: 4 },
        ])
        .describe("Difficulty by risk: the level with the highest risk not above the decision's risk applies"),
      bindHeaders: z
        .array(z.string().toLowerCase())
        .min(1)
        .default(["user-agent", "accept-language"])
        .describe("Headers a pass is bound to: ones a browser repeats on every request (not accept, which varies by resource)"),
      replayWeight: z
        .number()
        .int()
        .min(0)
        .max(100)
        .default(30)
        .describe("Risk points when a pass token comes from a network it was not issued to"),
      supportUrl: z.url({ protocol: /^https?$/ }).optional().describe("Where a person who cannot pass gets help, linked from the page"),
      texts: z
        .record(z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, "a language tag such as en, de or pt-BR"), text)
        .default({})
        .describe("Page text by language, chosen by Accept-Language; English is built in"),
    })
    .strict()
    .refine((spec) => spec.levels.some((l) => l.risk === 0), { message: "one level must start at risk 0" })
    .describe("The built-in proof-of-work challenge; without it a challenge is a bare 401 problem document");
  return z
    .object({
      wwwAuthenticate: z.string().default('Palisade realm="api"'),
      url: z.string().optional().describe("Where a client solves the challenge, named in the problem document"),
      proofOfWork: proofOfWork.optional(),
    })
    .strict()
    .prefault({});
}

export type ChallengeSpec = z.output<ReturnType<typeof challengeSpec>>;

export interface ChallengeLevel {
  /** 1 for the lowest level: what a pass records and what a later challenge compares with. */
  level: number;
  risk: number;
  attempts: number;
  rounds: number;
}

export interface CompiledProofOfWork {
  path: string;
  expiresMs: number;
  passMs: number;
  /** By rising risk. */
  levels: readonly ChallengeLevel[];
  bindHeaders: readonly string[];
  replayWeight: number;
  supportUrl?: string;
  /** English plus each configured language, complete (missing words fall back to English). */
  texts: ReadonlyMap<string, ChallengeText>;
}

export interface CompiledChallenge {
  wwwAuthenticate: string;
  url?: string;
  proofOfWork?: CompiledProofOfWork;
}

export function compileChallenge(spec: ChallengeSpec): CompiledChallenge {
  const pow = spec.proofOfWork;
  if (!pow) return { wwwAuthenticate: spec.wwwAuthenticate, url: spec.url };
  const texts = new Map<string, ChallengeText>([["en", DEFAULT_CHALLENGE_TEXT]]);
  for (const [language, words] of Object.entries(pow.texts)) {
    texts.set(language.toLowerCase(), { ...(texts.get(language.toLowerCase()) ?? DEFAULT_CHALLENGE_TEXT), ...definedOnly(words) });
  }
  return {
    wwwAuthenticate: spec.wwwAuthenticate,
    url: spec.url,
    proofOfWork: {
      path: pow.path,
      expiresMs: durationMs(pow.expires),
      passMs: durationMs(pow.pass),
      levels: [...pow.levels].sort((a, b) => a.risk - b.risk).map((l, i) => ({ ...l, level: i + 1 })),
      bindHeaders: pow.bindHeaders,
      replayWeight: pow.replayWeight,
      supportUrl: pow.supportUrl,
      texts,
    },
  };
}

/** The level that applies at `risk`: the one with the highest starting risk not above it. */
export function levelFor(levels: readonly ChallengeLevel[], risk: number): ChallengeLevel {
  let chosen = levels[0]!;
  for (const candidate of levels) if (candidate.risk <= risk) chosen = candidate;
  return chosen;
}

function definedOnly(words: Partial<Record<string, string | undefined>>): Partial<ChallengeText> {
  return Object.fromEntries(Object.entries(words).filter(([, value]) => value !== undefined)) as Partial<ChallengeText>;
}
