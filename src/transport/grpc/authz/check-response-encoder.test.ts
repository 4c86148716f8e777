import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { z } from "zod";
import { deriveChallengeKeys } from "../../../challenge/keys.js";
import { issueChallenge } from "../../../challenge/proof-of-work.js";
import type { Decision } from "../../../domain/decision.js";
import { ACTIONS } from "../../../domain/decision.js";
import { challengeSpec, compileChallenge, levelFor } from "../../../policy/challenge-schema.js";
import { loadPackageDefinition, palisadeServices } from "../protos.js";
import { encodeCheckResponse } from "./check-response-encoder.js";
import { toCheckResponse, type CheckResponseOptions } from "./converter.js";

/** protobufjs' serializer, as proto-loader builds it: what the bytes must equal for the converter's message. */
const definition = loadPackageDefinition();
const check = (definition["envoy.service.auth.v3.Authorization"] as Record<string, { responseSerialize: (message: object) => Buffer; responseDeserialize: (bytes: Buffer) => unknown }>).Check!;
const protobufjs = (message: object): Buffer => check.responseSerialize(message);

function decision(overrides: Partial<Decision> = {}): Decision {
  return {
    decisionId: "3f1c9a52-4a57-4a4e-9d0e-6bb0c1d1a001",
    action: "allow",
    risk: 42,
    reasons: [
      { code: "ip.distinct_usernames", value: 12, threshold: 10, weight: 30 },
      { code: "velocity.ip", value: 80, threshold: 60, weight: 12 },
    ],
    rule: "stuffing-ip",
    policyVersion: "v7",
    subject: "sub-abc",
    degraded: false,
    shadowed: [],
    eventTimeMs: 1_700_000_000_000,
    endpoint: "login",
    attribution: { ipId: "ip-pseudonym", subnet: "subnet-pseudonym", usernameId: "user-pseudonym", country: "FR" },
    ...overrides,
  };
}

const options: CheckResponseOptions = {
  challenge: { wwwAuthenticate: 'Palisade realm="login"', url: "https://challenge.example/verify" },
  incomingHeaderNames: ["user-agent", "X-Palisade-Action", "x-palisade-forged"],
};

/** The bytes written straight from the decision, and protobufjs' of the converter's message for it. */
function both(answered: Decision, with_: CheckResponseOptions = options): [Buffer, Buffer] {
  return [encodeCheckResponse(answered, with_), protobufjs(toCheckResponse(answered, with_))];
}

describe("encodeCheckResponse", () => {
  it("writes the bytes protobufjs writes for the converter's message, for every action and for risks that are not finite", () => {
    for (const action of ACTIONS) {
      for (const overrides of [{}, { retryAfterSeconds: 30, rateLimit: { limit: 10, remaining: 0, windowSeconds: 60, resetSeconds: 12.5 } }, { reasons: [], rule: undefined, subject: undefined, attribution: undefined }, { risk: Number.NaN }, { risk: Number.POSITIVE_INFINITY }, { risk: -0 }]) {
        const [bytes, expected] = both(decision({ action, ...overrides }));
        expect(bytes).toEqual(expected);
      }
    }
  });

  it("writes a challenge page of several kilobytes, its lengths of two bytes and more, as protobufjs does", () => {
    const keys = deriveChallengeKeys(Buffer.alloc(32, 1));
    const settings = compileChallenge(challengeSpec(z.string()).parse({ proofOfWork: {} })).proofOfWork!;
    const issued = issueChallenge({ network: "203.0.113.0/24", client: "c", endpointClass: "medium", level: levelFor(settings.levels, 80), decisionId: "d-1" }, keys, 1_000, 60_000);
    const challenged = decision({ action: "challenge" });
    for (const accept of ["text/html", "application/json"]) {
      const [bytes, expected] = both(challenged, { ...options, proofOfWork: { issued, settings, decisionId: challenged.decisionId, accept, acceptLanguage: "de" } });
      expect(bytes).toEqual(expected);
      if (accept === "text/html") expect(bytes.length).toBeGreaterThan(2_000);
    }
  });

  it("is what the served Check definition sends as it is, and decodes to the converter's message", () => {
    const answered = decision({ action: "throttle", retryAfterSeconds: 3 });
    const bytes = encodeCheckResponse(answered, options);
    const served = palisadeServices().authorization.definition.Check;
    expect(served.responseSerialize(bytes)).toBe(bytes);
    expect(check.responseDeserialize(bytes)).toEqual(check.responseDeserialize(protobufjs(toCheckResponse(answered, options))));
  });

  it("agrees with protobufjs on arbitrary decisions: text that is not ASCII, risks that are not finite, long values", () => {
    const text = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: "grapheme", maxLength: 300 }));
    const optional = fc.option(text, { nil: undefined });
    const arbitraryDecision = fc.record({
      action: fc.constantFrom(...ACTIONS),
      risk: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.double()),
      reasons: fc.array(fc.record({ code: text, value: fc.double(), threshold: fc.double(), weight: fc.double() }), { maxLength: 5 }),
      rule: optional,
      subject: optional,
      endpoint: optional,
      decisionId: text,
      policyVersion: text,
      degraded: fc.boolean(),
      attribution: fc.option(fc.record({ ipId: optional, subnet: optional, usernameId: optional, fingerprintId: optional, deviceId: optional, headerShape: optional, country: optional, place: optional }), { nil: undefined }),
      retryAfterSeconds: fc.option(fc.double(), { nil: undefined }),
      rateLimit: fc.option(fc.record({ limit: fc.double(), remaining: fc.double(), resetSeconds: fc.double(), windowSeconds: fc.double() }), { nil: undefined }),
    });
    fc.assert(
      fc.property(arbitraryDecision, fc.array(text, { maxLength: 6 }), (drawn, incoming) => {
        const [bytes, expected] = both(decision(drawn), { ...options, incomingHeaderNames: incoming.map((name) => `x-palisade-${name}`) });
        expect(bytes).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
