import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { levelFor, compileChallenge, challengeSpec, DEFAULT_CHALLENGE_TEXT } from "../policy/challenge-schema.js";
import { z } from "zod";
import { deriveChallengeKeys } from "./keys.js";
import { acceptsHtml, chooseLanguage, renderChallengePage } from "./page.js";
import { classCovers, clientBinding, readPass, signPass, type PassClaims } from "./pass-token.js";
import { PassChecker } from "./passes.js";

const keys = deriveChallengeKeys(Buffer.alloc(32, 1));
const other = deriveChallengeKeys(Buffer.alloc(32, 2));
const headers = new Map([["user-agent", "Firefox"], ["accept-language", "de"]]);
const claims: PassClaims = { id: "p1", issuedMs: 1000, expiresMs: 5000, network: "203.0.113.0/24", client: clientBinding(headers, ["user-agent", "accept-language"], keys.pass), endpointClass: "medium", level: 2 };
const pow = compileChallenge(challengeSpec(z.string()).parse({ proofOfWork: {} })).proofOfWork!;

describe("pass tokens", () => {
  it("read back what was signed, until they expire, and only under the key that signed them", () => {
    const token = signPass(claims, keys.pass);
    expect(readPass(token, keys.pass, 4999)).toEqual({ status: "valid", claims });
    expect(readPass(token, keys.pass, 5000)).toEqual({ status: "expired", claims });
    expect(readPass(token, other.pass, 1000)).toEqual({ status: "forged" });
    for (const bad of ["", ".", "a.b", `${token}.x`, token.replace(/.$/, "_"), "\u0000".repeat(2000)]) expect(readPass(bad, keys.pass, 1000).status).toBe("forged");
  });

  it("cover their own endpoint class and lighter ones", () => {
    expect(classCovers("medium", "low")).toBe(true);
    expect(classCovers("medium", "none")).toBe(true);
    expect(classCovers("medium", "critical")).toBe(false);
  });

  it("count the networks a travelling token comes from", () => {
    const checker = new PassChecker(() => keys.pass);
    const token = signPass({ ...claims, expiresMs: Number.MAX_SAFE_INTEGER }, keys.pass);
    const at = (network: string) => checker.signals(token, { headers, network, endpointClass: "low", nowMs: 2000 }, pow)[0]!;
    expect(at("203.0.113.0/24")).toMatchObject({ code: "challenge.passed", value: 2, weight: 0 });
    expect(at("198.51.100.0/24")).toMatchObject({ code: "challenge.pass_replayed", value: 2, weight: 30 });
    expect(at("192.0.2.0/24")).toMatchObject({ code: "challenge.pass_replayed", value: 3 });
    expect(at("192.0.2.0/24")).toMatchObject({ code: "challenge.pass_replayed", value: 3 });
  });
});

describe("levels and the page", () => {
  it("pick the level by risk", () => {
    expect(pow.levels.map((l) => levelFor(pow.levels, l.risk).level)).toEqual([1, 2, 3]);
    expect(levelFor(pow.levels, 49).level).toBe(1);
    expect(levelFor(pow.levels, 100).level).toBe(3);
  });

  it("choose the client's language by preference, else English", () => {
    const available = new Map([["en", 1], ["de", 1], ["pt-br", 1]]);
    expect(chooseLanguage("fr;q=0.9, de-AT;q=0.8", available)).toBe("de");
    expect(chooseLanguage("pt-BR, en;q=0.1", available)).toBe("pt-br");
    expect(chooseLanguage("de;q=0, fr", available)).toBe("en");
    expect(chooseLanguage(undefined, available)).toBe("en");
  });

  it("serves HTML only to clients that ask for it", () => {
    expect(acceptsHtml("text/html,application/xhtml+xml,*/*;q=0.8")).toBe(true);
    expect(acceptsHtml("application/json")).toBe(false);
    expect(acceptsHtml("*/*")).toBe(false);
    expect(acceptsHtml(undefined)).toBe(false);
  });

  it("names the page's own inline script in its security policy, for each language, verify path and text", () => {
    const challenge = { parameters: { algorithm: "SHA-256", nonce: "00", salt: "00", cost: 1, keyLength: 32, keyPrefix: "00" }, signature: "x" };
    const page = { challenge, language: "en", text: DEFAULT_CHALLENGE_TEXT, scriptUrl: "/c/altcha.js", verifyUrl: "/c/verify", decisionId: "d1" };
    const variants = [page, { ...page, decisionId: "d2" }, { ...page, language: "de" }, { ...page, verifyUrl: "/other/verify" }, { ...page, text: { ...DEFAULT_CHALLENGE_TEXT, label: "Prove it" } }, page];
    const policies = variants.map((variant) => {
      const { html, securityPolicy } = renderChallengePage(variant);
      const inline = /<script type="module">([\s\S]*)<\/script>/.exec(html)![1]!;
      expect(inline).toContain(JSON.stringify(variant.verifyUrl));
      expect(inline).toContain(`i18n.set(${JSON.stringify(variant.language)}`);
      expect(inline).toContain(JSON.stringify(variant.text.label));
      expect(securityPolicy).toContain(`'sha256-${createHash("sha256").update(inline).digest("base64")}'`);
      return securityPolicy;
    });
    expect(new Set(policies).size).toBe(4);
  });

  it("keeps policy text and challenge data from breaking out of the markup", () => {
    const hostile = "</script><script>alert(1)</script>";
    const { html } = renderChallengePage({
      challenge: { parameters: { algorithm: "SHA-256", nonce: "00", salt: "00", cost: 1, keyLength: 32, keyPrefix: "00", data: { did: hostile } }, signature: "x" },
      language: "en",
      text: { ...DEFAULT_CHALLENGE_TEXT, heading: hostile, failed: hostile },
      scriptUrl: "/c/altcha.js",
      verifyUrl: "/c/verify",
      decisionId: "d1",
    });
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html).toContain("<h1>&#60;/script&#62;&#60;script&#62;alert(1)&#60;/script&#62;</h1>");
  });
});
