import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Action, Decision } from "../../../domain/decision.js";
import { ACTIONS } from "../../../domain/decision.js";
import { loadPackageDefinition, palisadeServices, toStruct, type CheckResponse, type HeaderValueOption } from "../protos.js";
import { encodeCheckResponse } from "./check-response-encoder.js";

type HeaderAppendAction = NonNullable<HeaderValueOption["append_action"]>;
import { toCheckResponse, type CheckResponseOptions } from "./converter.js";

/** protobufjs' serializer, as proto-loader builds it: what the hand-written encoder must equal. */
const definition = loadPackageDefinition();
const check = (definition["envoy.service.auth.v3.Authorization"] as Record<string, { responseSerialize: (message: object) => Buffer; responseDeserialize: (bytes: Buffer) => unknown }>).Check!;
const protobufjs = (message: object): Buffer => check.responseSerialize(message);

function encode(message: object): Buffer {
  let fellBack = false;
  const bytes = encodeCheckResponse(message, (fallbackMessage) => {
    fellBack = true;
    return protobufjs(fallbackMessage);
  });
  if (fellBack) throw new Error("fell back to protobufjs");
  return bytes;
}

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

describe("encodeCheckResponse", () => {
  it("writes the bytes protobufjs writes for every action the converter answers with", () => {
    for (const action of ACTIONS as readonly Action[]) {
      for (const overrides of [{}, { retryAfterSeconds: 30, rateLimit: { limit: 10, remaining: 0, windowSeconds: 60, resetSeconds: 12.5 } }, { reasons: [], rule: undefined, subject: undefined, attribution: undefined }]) {
        const response = toCheckResponse(decision({ action, ...overrides }), options);
        expect(encode(response)).toEqual(protobufjs(response));
      }
    }
  });

  it("is what the served Check definition uses, and decodes to what was sent", () => {
    const response = toCheckResponse(decision({ action: "throttle", retryAfterSeconds: 3 }), options);
    const served = palisadeServices().authorization.definition.Check;
    const bytes = served.responseSerialize(response);
    expect(bytes).toEqual(protobufjs(response));
    expect(check.responseDeserialize(bytes)).toEqual(check.responseDeserialize(protobufjs(response)));
  });

  it("writes lengths of 128 bytes and more, nested, and text that is not ASCII", () => {
    const long = "é".repeat(70) + "x".repeat(20_000);
    const response: CheckResponse = {
      status: { code: 7, message: "ünïcode ✓ 😀" },
      denied_response: {
        status: { code: 403 as never },
        headers: [{ header: { key: "x-long", value: "v".repeat(300) }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD", keep_empty_value: true }],
        body: long,
      },
      dynamic_metadata: toStruct({ nested: { deeper: { list: [1, "two", null, true, { three: 3 }], text: long.slice(0, 200) } }, nan: Number.NaN, empty: "", zero: 0, negative: -1.5 }),
    };
    expect(encode(response)).toEqual(protobufjs(response));
  });

  it("writes zeros and empty values that are set, as protobufjs does", () => {
    const response: CheckResponse = {
      status: { code: 0, message: "" },
      ok_response: { headers: [{ header: { key: "", value: "" }, append_action: 0 }], headers_to_remove: [""], response_headers_to_add: [], query_parameters_to_remove: ["q"] },
      dynamic_metadata: { fields: {} },
    };
    expect(encode(response)).toEqual(protobufjs(response));
    expect(encode({})).toEqual(protobufjs({}));
    expect(encode({ status: { code: -1 } })).toEqual(protobufjs({ status: { code: -1 } }));
  });

  it("leaves shapes it does not know to protobufjs", () => {
    let calls = 0;
    const fallback = (message: object) => {
      calls++;
      return protobufjs(message);
    };
    const unknown: object[] = [
      { status: { code: 0, details: [] } },
      { ok_response: { query_parameters_to_set: [{ key: "a", value: "b" }] } },
      { ok_response: { headers: [{ header: { key: "a", value: "b" }, append_action: "SOMETHING_NEW" }] } },
      { status: { code: "7" } },
    ];
    for (const message of unknown) expect(encodeCheckResponse(message, fallback)).toEqual(protobufjs(message));
    expect(calls).toBe(unknown.length);
  });

  it("agrees with protobufjs on arbitrary metadata and headers", () => {
    const scalar = fc.oneof(fc.string(), fc.string({ unit: "grapheme", maxLength: 200 }), fc.double(), fc.boolean(), fc.constant(null), fc.integer());
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: "small" }, scalar, fc.array(tie("value"), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 12 }), tie("value"), { maxKeys: 4 })),
    })).value;
    const header = fc.record({ header: fc.record({ key: fc.string({ maxLength: 40 }), value: fc.string({ unit: "grapheme", maxLength: 300 }) }), append_action: fc.constantFrom<HeaderAppendAction>("APPEND_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS_OR_ADD", 1, 3) });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 20 }), json, { maxKeys: 8 }), fc.array(header, { maxLength: 6 }), fc.integer({ min: -5, max: 20 }), fc.boolean(), (metadata, headers, code, denied) => {
        const response: CheckResponse = denied
          ? { status: { code }, denied_response: { status: { code: 429 as never }, headers, body: JSON.stringify(metadata) }, dynamic_metadata: toStruct(metadata) }
          : { status: { code }, ok_response: { headers, headers_to_remove: headers.map((option) => option.header!.key!) }, dynamic_metadata: toStruct(metadata) };
        expect(encode(response)).toEqual(protobufjs(response));
      }),
      { numRuns: 300 },
    );
  });
});
